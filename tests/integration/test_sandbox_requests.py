"""The sandbox's opt-in request log, through the real apify-client over real HTTP."""

from __future__ import annotations

import httpx

from scrapetrack.config import Settings
from scrapetrack.providers.apify import ApifyProvider
from scrapetrack.providers.platforms import get_platform
from scrapetrack.sandbox import create_sandbox_app
from scrapetrack.serving import serve_in_thread


def test_the_request_log_keeps_each_request_only_when_asked_for() -> None:
    clock = [100.0]
    app = create_sandbox_app(clock=lambda: clock[0], start_delay_seconds=0, items_per_second=10,
                             log_requests=True)
    state = app.state.sandbox  # type: ignore[attr-defined]
    with serve_in_thread(app, lifespan=False) as url:
        provider = ApifyProvider(None, url, max_retries=0)
        run_input = get_platform("tiktok").build_keyword_input(["yoga"], 20, Settings())
        run = provider.start("apidojo~tiktok-scraper", run_input)
        clock[0] += 1
        provider.items_page(run.dataset_id, 0, 5)
        clock[0] += 1
        provider.get_run(run.run_id)
        answer = httpx.get(f"{url}/v2/_sandbox/requests", params={"offset": 1}).json()["data"]
    assert state.request_log == [
        (100.0, "POST", "/v2/actors/apidojo~tiktok-scraper/runs"),
        (101.0, "GET", f"/v2/datasets/{run.dataset_id}/items"),
        (102.0, "GET", f"/v2/actor-runs/{run.run_id}")]
    assert answer == {"total": 3, "offset": 1, "count": 2, "items": [
        {"at": 101.0, "method": "GET", "path": f"/v2/datasets/{run.dataset_id}/items"},
        {"at": 102.0, "method": "GET", "path": f"/v2/actor-runs/{run.run_id}"}]}
    plain = create_sandbox_app()
    assert plain.state.sandbox.request_log is None  # type: ignore[attr-defined]
    with serve_in_thread(plain, lifespan=False) as url:
        assert httpx.get(f"{url}/v2/_sandbox/requests").status_code == 404
