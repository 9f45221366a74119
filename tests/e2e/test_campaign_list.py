"""The campaign's creator list in Chromium: two overlapping searches, each creator once with
both searches in `foundBy`; shortlist two, exclude one (it leaves the searches' tables),
filter, and change several at once."""

from __future__ import annotations

import io
from typing import Any

from openpyxl import load_workbook
from playwright.sync_api import Page

from tests.e2e.conftest import ARTIFACTS, Served
from tests.e2e.test_first_search import sign_in_and_open_a_campaign, watch_until_done

ROWS = "[data-testid=creators-table] tbody tr"


def start(page: Page, keywords: str, target: int) -> str:
    page.fill("input[name=keywords]", keywords)
    page.fill("input[name=targetResults]", str(target))
    before = page.locator("article.job").count()
    page.click("text=Start Search")
    page.locator("article.job").nth(before).wait_for()
    job_id = page.locator("article.job").first.get_attribute("data-job-id")
    assert job_id
    watch_until_done(page, f"article[data-job-id='{job_id}']")
    return job_id


def creators(page: Page, served: Served, campaign_id: str, **params: Any) -> list[Any]:
    answer = page.request.get(f"{served.url}/api/campaigns/{campaign_id}/creators",
                              params={"limit": 500, **params})
    items: list[Any] = answer.json()["items"]
    return items


def test_a_campaign_works_one_list_of_creators(served: Served, page: Page) -> None:
    campaign_id = sign_in_and_open_a_campaign(page, served, "One list")
    page.get_by_test_id("live-mode").filter(has_text="Live").wait_for()
    first = start(page, "yoga", 30)
    second = start(page, "yoga", 45)

    found_by: dict[str, set[str]] = {}
    for job_id in (first, second):
        for c in page.request.get(f"{served.url}/api/jobs/{job_id}/results").json():
            found_by.setdefault(c["handle"].lower(), set()).add(job_id)
    both = {handle for handle, jobs in found_by.items() if len(jobs) == 2}
    assert both, "the two searches did not overlap"
    # Each creator once, the overlapping ones found by both searches: the list fills in
    # live as the searches save their creators.
    page.wait_for_function("([rows, n]) => document.querySelectorAll(rows).length === n",
                           arg=[ROWS, len(found_by)])
    assert page.get_by_test_id("creators-total").text_content() == f"({len(found_by)})"
    page.wait_for_function("([found, n]) => document.querySelectorAll(found).length === n",
                           arg=[f"{ROWS} [data-testid=found-by][data-count='2']", len(both)])

    listed = creators(page, served, campaign_id)
    shortlisted, excluded = listed[:2], listed[2]
    for c in shortlisted:
        page.get_by_label(f"Status of @{c['handle']}").select_option("shortlisted")
    page.get_by_label(f"Status of @{excluded['handle']}").select_option("excluded")
    page.wait_for_function(f"""() => document.querySelector(
        "{ROWS}[data-creator-id='{excluded['id']}']")?.dataset.status === "excluded" """)
    # The excluded creator leaves the searches' tables.
    for job_id in (first, second):
        table = f"article[data-job-id='{job_id}'] [data-testid=results-table]"
        page.wait_for_function(f"""() => ![...document.querySelectorAll("{table} tbody tr")]
            .some(r => r.textContent.includes("@{excluded['handle']}"))""")
        assert page.locator(f"{table} tbody tr").count() > 0

    page.get_by_test_id("filter-status").select_option("shortlisted")
    page.wait_for_function(f"() => document.querySelectorAll({ROWS!r}).length === 2")
    shown = {page.locator(ROWS).nth(i).get_attribute("data-creator-id") for i in range(2)}
    assert shown == {str(c["id"]) for c in shortlisted}
    page.screenshot(path=str(ARTIFACTS / "campaign-creators.png"), full_page=True)
    # The list as shown, as a spreadsheet.
    with page.expect_download() as download:
        page.get_by_test_id("export-xlsx").click()
    assert download.value.suggested_filename == f"campaign-{campaign_id}-creators.xlsx"
    sheet = load_workbook(io.BytesIO(download.value.path().read_bytes())).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    at = {name: i for i, name in enumerate(rows[0])}
    assert sorted(str(row[at["handle"]]) for row in rows[1:]) == sorted(
        c["handle"] for c in shortlisted)
    assert {row[at["status"]] for row in rows[1:]} == {"shortlisted"}
    assert {row[at["foundBy"]] for row in rows[1:]} <= {f"{first}; {second}", first, second}

    # Several at once: select both, mark them contacted.
    page.get_by_label("Select all shown").check()
    assert page.get_by_test_id("selected-count").text_content() == "2 selected"
    page.locator("#bulk-status").select_option("contacted")
    page.get_by_test_id("bulk-apply").click()
    page.wait_for_function(f"() => document.querySelectorAll({ROWS!r}).length === 0")
    assert {c["id"] for c in creators(page, served, campaign_id, status="contacted")} \
        == {c["id"] for c in shortlisted}
    assert [c["id"] for c in creators(page, served, campaign_id, status="excluded")] \
        == [excluded["id"]]


def test_searches_and_campaigns_are_deleted_after_a_confirm(served: Served, page: Page) -> None:
    campaign_id = sign_in_and_open_a_campaign(page, served, "Short-lived")
    page.get_by_test_id("live-mode").filter(has_text="Live").wait_for()
    job_id = start(page, "yoga", 20)
    card = page.locator(f"article[data-job-id='{job_id}']")
    page.wait_for_function(f"() => document.querySelectorAll({ROWS!r}).length > 0")

    page.once("dialog", lambda dialog: dialog.dismiss())  # thought better of it
    card.get_by_role("button", name="Delete").click()
    assert card.count() == 1
    page.once("dialog", lambda dialog: dialog.accept())
    card.get_by_role("button", name="Delete").click()
    card.wait_for(state="detached")
    page.wait_for_function(f"() => document.querySelectorAll({ROWS!r}).length === 0")
    assert page.request.get(f"{served.url}/api/jobs/{job_id}").status == 404

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete campaign").click()
    page.wait_for_url(f"{served.url}/")
    assert page.locator(f"a[href='/campaigns/{campaign_id}']").count() == 0


def test_the_list_shows_and_filters_outreach_fields(served: Served, page: Page) -> None:
    campaign_id = sign_in_and_open_a_campaign(page, served, "Outreach")
    page.get_by_test_id("live-mode").filter(has_text="Live").wait_for()
    page.select_option("select[name=platform]", "instagram")
    start(page, "fitness", 30)
    reachable = creators(page, served, campaign_id, hasEmail="true")
    assert reachable, "no looked-up profile had an address in its bio"
    page.get_by_test_id("filter-email").select_option("true")
    page.wait_for_function("([rows, n]) => document.querySelectorAll(rows).length === n",
                           arg=[ROWS, len(reachable)])
    for c in reachable:
        row = page.locator(f"{ROWS}[data-creator-id='{c['id']}'] [data-testid=contact]")
        assert row.locator("a[href^='mailto:']").first.get_attribute("href") == \
            f"mailto:{c['emails'][0]}"

    # The list's first page comes inside the campaign page: drawn with its API cut off.
    listed = creators(page, served, campaign_id)
    page.route("**/api/campaigns/*/creators?*", lambda route: route.abort())
    page.goto(f"{served.url}/campaigns/{campaign_id}")
    page.wait_for_function("([rows, n]) => document.querySelectorAll(rows).length === n",
                           arg=[ROWS, min(len(listed), 50)])
    assert [page.locator(ROWS).nth(i).get_attribute("data-creator-id") for i in range(3)] \
        == [str(c["id"]) for c in listed[:3]]
    assert page.locator("#creators-error").is_hidden()
