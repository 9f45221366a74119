"""Two people share a workspace, in two browsers against `scrapetrack serve`: the owner makes
it and invites a new person, who joins through the link (their account made on the way),
starts a search in the shared campaign, and the owner's open page shows it live."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page

from tests.e2e.conftest import ARTIFACTS, Served
from tests.e2e.test_first_search import sign_in_and_open_a_campaign, watch_until_done


def test_an_invited_person_joins_and_the_owner_sees_their_search_live(
        served: Served, page: Page, browser: Browser) -> None:
    sign_in_and_open_a_campaign(page, served, "Mine")  # signs the owner in
    page.goto(f"{served.url}/")
    page.fill("input[name=workspace_name]", "Acme marketing")
    page.get_by_test_id("add-workspace").click()
    workspace = re.search(r"workspace=([0-9a-f-]{36})$", page.url)
    assert workspace is not None
    page.fill("input[name=name]", "Shared launch")
    page.click("text=Create")
    assert re.search(r"/campaigns/[0-9a-f-]{36}$", page.url)
    campaign_url = page.url

    page.goto(f"{served.url}/workspaces/{workspace.group(1)}")
    page.get_by_label("Email to invite").fill("sam@example.com")
    page.get_by_label("Role to invite as").select_option("member")
    page.click("button:has-text('Invite')")
    link = page.get_by_test_id("invitation-url").input_value()
    assert re.fullmatch(rf"{re.escape(served.url)}/invitations/[\w-]{{30,}}", link)
    page.goto(campaign_url)
    page.get_by_test_id("live-mode").filter(has_text="Live").wait_for()

    other = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        sam = other.new_page()
        sam.goto(link)
        assert sam.get_by_test_id("invited-role").text_content() == "member"
        sam.get_by_test_id("accept-invitation").click()
        assert sam.url == f"{served.url}/?workspace={workspace.group(1)}"
        assert "sam@example.com" in (sam.locator("header").text_content() or "")
        sam.click("text=Shared launch")
        sam.fill("input[name=keywords]", "yoga")
        sam.fill("input[name=targetResults]", "30")
        sam.click("text=Start Search")
        sam.locator("article.job").first.wait_for()
        job_id = sam.locator("article.job").first.get_attribute("data-job-id")
        # The owner's page, open all along, gets the card and follows it to the end.
        card = f"article[data-job-id='{job_id}']"
        page.locator(card).wait_for()
        watch = watch_until_done(page, card)
        assert watch.values == sorted(watch.values)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "shared-workspace.png"), full_page=True)
        # The second link of the same invitation is spent.
        again = other.new_page()
        again.goto(link)
        assert "not valid" in (again.locator("main").text_content() or "")
    finally:
        other.close()
    page.goto(f"{served.url}/workspaces/{workspace.group(1)}")
    audit = page.get_by_test_id("audit").text_content() or ""
    for action in ("invitation.sent", "invitation.accepted", "search.started"):
        assert action in audit, audit
