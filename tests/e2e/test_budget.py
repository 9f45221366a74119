"""A monthly budget in Chromium against `scrapetrack serve`: the owner sets it on the
workspace page, a search spends it (its run stopped by Apify at the budget), the start-search
form then shows the 402's sentence, and the pages show what is spent of the budget."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Page

from scrapetrack.budget import month_of
from scrapetrack.store.models import utcnow
from tests.conftest import wait_until
from tests.e2e.conftest import ARTIFACTS, Served
from tests.e2e.test_first_search import sign_in_and_open_a_campaign


def test_a_spent_budget_refuses_the_next_search_on_the_page(served: Served,
                                                            page: Page) -> None:
    campaign_id = sign_in_and_open_a_campaign(page, served, "On a budget")
    campaign_url = page.url
    assert page.get_by_test_id("budget").count() == 0  # no budget: nothing to show

    page.goto(f"{served.url}/")
    page.get_by_test_id("workspace-settings").click()
    assert page.get_by_test_id("no-budget").is_visible()
    page.get_by_label("Monthly budget in USD").fill("0.01")
    page.get_by_test_id("set-budget").click()
    assert page.get_by_test_id("budget").text_content() == \
        "Budget: spent $0 of $0.01 this month."
    assert "budget.changed" in (page.get_by_test_id("audit").text_content() or "")

    # $0.01 buys 33 items at the sandbox's $0.0003: the run stops there, the search with it.
    page.goto(campaign_url)
    page.get_by_test_id("live-mode").filter(has_text="Live").wait_for()
    page.fill("input[name=keywords]", "yoga")
    page.fill("input[name=targetResults]", "100")
    page.click("text=Start Search")
    page.locator("article.job").first.wait_for()
    job_id = page.locator("article.job").first.get_attribute("data-job-id")

    def ended() -> dict[str, Any] | None:
        job: dict[str, Any] = page.request.get(f"{served.url}/api/jobs/{job_id}").json()
        return job if job["status"] in ("completed", "error", "timeout", "cancelled") \
            else None

    job = wait_until(ended, 90, "the search to end")
    assert (job["status"], job["budgetUsd"], job["itemsRead"]) == ("completed", 0.01, 33), job
    assert job["costUsd"] == 0.0099

    # Another search: the form says why not, with the budget, and no card appears.
    page.fill("input[name=keywords]", "pilates")
    page.click("text=Start Search")
    problem = page.locator("#form-error")
    problem.wait_for()
    assert problem.text_content() == (
        "This workspace's monthly budget of $0.01 is spent: $0.0099 committed this month "
        f"(resets on {month_of(utcnow()).end:%Y-%m-%d} UTC)")
    assert page.locator("article.job").count() == 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "budget-spent.png"), full_page=True)

    # The campaigns page and the workspace's show spent / cap.
    spent = re.compile(r"Budget: spent \$0\.0099 of \$0\.01 this month\. No new search until "
                       r"\d{4}-\d{2}-01 \(UTC\)\.")
    page.goto(f"{served.url}/")
    assert spent.fullmatch(page.get_by_test_id("budget").text_content() or "")
    page.get_by_test_id("workspace-settings").click()
    assert spent.fullmatch(page.get_by_test_id("budget").text_content() or "")
    # Removed, the budget stops refusing searches.
    page.get_by_test_id("clear-budget").click()
    assert page.get_by_test_id("no-budget").is_visible()
    page.goto(campaign_url)
    page.fill("input[name=keywords]", "pilates")
    page.fill("input[name=targetResults]", "5")  # done before the server is stopped
    page.click("text=Start Search")
    page.locator("article.job").nth(1).wait_for()
    assert page.locator("#form-error").is_hidden()
    assert campaign_url.endswith(campaign_id)
