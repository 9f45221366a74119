"""A new user's first search, as the issue's "done" says: `scrapetrack serve`, the printed
sign-in URL, a TikTok keyword search for 200 results, the bar moving to 100 %, then creators."""

from __future__ import annotations

import re
import time

from playwright.sync_api import Page

from tests.e2e.conftest import ARTIFACTS, Served


def test_a_first_search_shows_real_progress_then_the_creators(served: Served,
                                                               page: Page) -> None:
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.goto(served.sign_in_url)
    assert page.url == f"{served.url}/"
    assert page.get_by_test_id("sandbox-banner").is_visible()

    page.fill("input[name=name]", "Launch <script>alert(1)</script>")
    page.click("text=Create")
    assert re.search(r"/campaigns/[0-9a-f-]{36}$", page.url)
    assert page.get_by_test_id("campaign-name").text_content() == \
        "Launch <script>alert(1)</script>"

    page.evaluate("window.__sameDocument = true")  # gone if the page ever reloads
    page.select_option("select[name=platform]", "tiktok")
    page.fill("input[name=keywords]", "fitness coach")
    page.fill("input[name=targetResults]", "200")
    page.click("text=Start Search")

    texts: list[str] = []
    values: list[int] = []
    table = page.get_by_test_id("results-table")
    deadline = time.monotonic() + 90
    while table.count() == 0:
        assert time.monotonic() < deadline, f"no results table; saw {texts}"
        text = page.get_by_test_id("job-status").first.text_content() or ""
        value = int(page.locator(".job progress").first.get_attribute("value") or 0)
        if not texts or texts[-1] != text:
            texts.append(text)
        if not values or values[-1] != value:
            values.append(value)
        page.wait_for_timeout(100)

    assert texts[0] == "Starting search..."
    processing = [t for t in texts if t.startswith("Processing your search... (")]
    assert len(processing) >= 3, texts
    assert values == sorted(values), values
    assert len([v for v in values if 0 < v < 100]) >= 3, values
    assert page.locator(".job-percent").first.text_content() == "100% completed"
    assert page.evaluate("window.__sameDocument") is True
    rows = table.locator("tbody tr")
    assert rows.count() > 10
    assert rows.first.locator("a").get_attribute("href", timeout=5000) is not None
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "first-search.png"), full_page=True)
    assert console_errors == []
