"""The search history in Chromium: every campaign's searches on one page, filtered, each
with a page of its own."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.e2e.conftest import Served
from tests.e2e.test_campaign_list import start
from tests.e2e.test_first_search import sign_in_and_open_a_campaign

ROWS = "[data-testid=history-table] tbody tr[data-job-id]"


def test_the_searches_page_filters_and_opens_a_search(served: Served, page: Page) -> None:
    sign_in_and_open_a_campaign(page, served, "History")
    page.get_by_test_id("live-mode").filter(has_text="Live").wait_for()
    yoga = start(page, "yoga", 20)
    start(page, "marathon", 20)

    page.get_by_test_id("nav-searches").click()
    assert page.locator(ROWS).count() == 2
    assert page.locator(ROWS).first.get_attribute("data-status") == "completed"
    page.fill("input[name=q]", "YOGA")
    page.click("text=Filter")
    assert page.locator(ROWS).count() == 1
    assert page.locator(ROWS).first.get_attribute("data-job-id") == yoga
    page.select_option("select[name=kind]", "similar")
    page.click("text=Filter")
    assert page.locator(ROWS).count() == 0

    page.goto(f"{served.url}/searches?q=yoga")
    page.locator(f"{ROWS} a", has_text="yoga").click()
    assert page.url == f"{served.url}/searches/{yoga}"
    assert page.get_by_test_id("search-title").text_content() == "TikTok · yoga"
    assert page.get_by_test_id("search-status").text_content() == "completed"
    facts = page.get_by_test_id("search-facts").text_content() or ""
    assert "Apify run" in facts and "Took" in facts and "20 results" in facts
    assert page.locator("[data-testid=search-creators] tbody tr").count() > 0

    refused = page.goto(f"{served.url}/searches?createdFrom=yesterday")
    assert refused is not None and refused.status == 400
    assert "From must be a date" in (page.locator("[role=alert]").text_content() or "")
