"""Schedules in Chromium: "Save as schedule" on a search's page, then the schedules page's
pause, resume and delete buttons (plain forms with the page's CSRF token)."""

from __future__ import annotations

import re

from playwright.sync_api import Page

from tests.e2e.conftest import Served
from tests.e2e.test_campaign_list import start
from tests.e2e.test_first_search import sign_in_and_open_a_campaign

ROWS = "[data-testid=schedules-table] tbody tr[data-schedule-id]"


def test_save_a_search_as_a_schedule_then_pause_resume_and_delete_it(served: Served,
                                                                     page: Page) -> None:
    campaign_id = sign_in_and_open_a_campaign(page, served, "Weekly scouting")
    page.get_by_test_id("live-mode").filter(has_text="Live").wait_for()
    job_id = start(page, "yoga", 20)
    page.goto(f"{served.url}/searches/{job_id}")

    form = page.get_by_test_id("save-as-schedule")
    form.locator("input[name=cron]").fill("61 9 * * 1")
    form.get_by_role("button", name="Save as schedule").click()
    assert "is not a cron expression" in (page.locator("main").text_content() or "")
    page.go_back()
    form.locator("input[name=cron]").fill("30 7 * * 1-5")
    form.locator("input[name=timezone]").fill("Europe/Berlin")
    form.locator("select[name=missed]").select_option("skip")
    form.get_by_role("button", name="Save as schedule").click()

    assert re.fullmatch(rf"{served.url}/schedules\?saved=[0-9a-f-]{{36}}", page.url)
    page.get_by_test_id("schedule-saved").wait_for()
    row = page.locator(ROWS)
    assert row.count() == 1
    schedule_id = row.get_attribute("data-schedule-id")
    text = row.text_content() or ""
    for shown in ("yoga", "TikTok", "Weekly scouting", "20", "30 7 * * 1-5", "Europe/Berlin",
                  "skip"):
        assert shown in text, (shown, text)
    saved = page.request.get(f"{served.url}/api/schedules/{schedule_id}").json()
    assert (saved["campaignId"], saved["keywords"], saved["missed"], saved["paused"]) == (
        campaign_id, ["yoga"], "skip", False)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d",
                        page.get_by_test_id("schedule-next").text_content() or "")

    row.get_by_role("button", name="Pause").click()
    page.locator(f"{ROWS}[data-paused=true]").wait_for()
    assert page.get_by_test_id("schedule-next").text_content() == "paused"
    page.locator(ROWS).get_by_role("button", name="Resume").click()
    page.locator(f"{ROWS}[data-paused=false]").wait_for()
    assert page.request.get(f"{served.url}/api/schedules/{schedule_id}").json()[
        "nextFireAt"] == saved["nextFireAt"]

    page.locator(ROWS).get_by_role("button", name="Delete").click()
    page.get_by_text("No schedules yet.").wait_for()
    assert page.locator(ROWS).count() == 0
    page.get_by_test_id("nav-schedules").click()
    assert page.url == f"{served.url}/schedules"
