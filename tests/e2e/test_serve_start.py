"""`scrapetrack serve` on the embedded default, as a user first starts it: it states its
limits, answers /readyz with its version, and shows the version in a real page's footer."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Page

from scrapetrack import __version__
from tests.e2e.conftest import Served


def test_serve_states_its_limits_and_its_version(served: Served, page: Page) -> None:
    printed = " ".join("".join(served.output).split())
    assert re.search(r"Embedded default: SQLite at var/scrapetrack\.db, one process "
                     r"\(web \+ worker\), \d+ job slots \(WORKER_CONCURRENCY\)\.", printed), \
        printed
    assert "see docs/scaling.md (PostgreSQL + Redis + more processes)" in printed
    ready = httpx.get(f"{served.url}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    assert ready.json()["version"] == __version__
    page.goto(f"{served.url}/login")
    footer = page.get_by_test_id("version")
    footer.wait_for()
    assert footer.text_content() == f"scrapetrack {__version__}"
    assert footer.is_visible()
