"""SIGTERM to `scrapetrack serve`: open event streams end cleanly and the server stops within
its grace period instead of waiting for clients that will never leave."""

from __future__ import annotations

import re
import signal
import threading

import httpx

from tests.conftest import sign_in_by_link, wait_until
from tests.e2e.conftest import Served


def test_sigterm_ends_open_streams_and_stops_promptly(served: Served) -> None:
    with httpx.Client(base_url=served.url, timeout=30) as browser:
        assert sign_in_by_link(browser, served.sign_in_url).status_code == 303
        # A cookie-authenticated POST carries the page's CSRF token.
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', browser.get("/").text)
        assert csrf
        campaign = browser.post("/api/campaigns", json={"name": "c"},
                                headers={"X-CSRF-Token": csrf.group(1)}).json()
        ended: list[str] = []

        def listen() -> None:
            with browser.stream("GET", f"/api/campaigns/{campaign['id']}/events") as response:
                assert response.status_code == 200
                ended.extend(response.iter_lines())  # returns when the server ends it
            ended.append("ended")

        reader = threading.Thread(target=listen, daemon=True)
        reader.start()
        wait_until(lambda: any("retry" in line for line in ended), what="the stream to open")
        served.process.send_signal(signal.SIGTERM)
        served.process.wait(timeout=60)
        reader.join(timeout=5)
    assert not reader.is_alive()
    assert ended[-1] == "ended"
    # uvicorn re-raises the signal once it has shut down cleanly, as a supervisor expects.
    # 0: the runtime closed after uvicorn's shutdown, not cut short by the signal again.
    assert served.process.returncode == 0, "".join(served.output)
    output = "".join(served.output)
    assert "Application shutdown complete." in output
    # The stream ended with the stop: uvicorn did not wait out its grace period and cut it.
    assert "timeout graceful shutdown exceeded" not in output, output
