"""A new user's first searches in a real browser against `scrapetrack serve`: the printed
sign-in URL, a TikTok keyword search for 200 results pushed live to the bar, rows streaming
into the table, a job started elsewhere showing up, and polling when the stream is down."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from playwright.sync_api import Page

from tests.conftest import HeldSandbox, wait_until
from tests.e2e.conftest import ARTIFACTS, Served

CHANGED = """([card, value, text, rows]) => {
    const c = document.querySelector(card);
    if (!c) return false;
    const bar = c.querySelector("progress"), status = c.querySelector("[data-testid=job-status]");
    const box = c.querySelector(".progress-box");
    return Number(bar?.getAttribute("value") || 0) !== value
        || (status?.textContent || "") !== text
        || c.querySelectorAll("[data-testid=results-table] tbody tr").length !== rows
        || (c.dataset.status === "completed" && (!box || box.offsetParent === null));
}"""


@dataclass
class Watch:
    """What a person watching the page saw, at every change of the card."""

    texts: list[str] = field(default_factory=list)
    values: list[int] = field(default_factory=list)
    rows_while_running: int = 0
    rows_shown: int = 0
    screenshot: str | None = None  # where to save the page once, mid-search
    shot: bool = False

    def sample(self, page: Page, card: str) -> None:
        text = page.locator(f"{card} [data-testid=job-status]").text_content() or ""
        value = int(page.locator(f"{card} progress").get_attribute("value") or 0)
        if not self.texts or self.texts[-1] != text:
            self.texts.append(text)
        if not self.values or self.values[-1] != value:
            self.values.append(value)
        rows = page.locator(f"{card} [data-testid=results-table] tbody tr").count()
        self.rows_shown = rows
        if text.startswith("Processing"):
            self.rows_while_running = max(self.rows_while_running, rows)
            if self.screenshot and not self.shot and 30 <= value <= 75 and rows >= 5:
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / self.screenshot))
                self.shot = True


def sign_in_and_open_a_campaign(page: Page, served: Served, name: str) -> str:
    page.goto(served.sign_in_url)  # the link alone signs no one in: its page asks first
    assert page.url.startswith(f"{served.url}/login?code=")
    page.click("text=Sign in as owner@localhost")
    assert page.url == f"{served.url}/"
    page.fill("input[name=name]", name)
    page.click("text=Create")
    assert re.search(r"/campaigns/[0-9a-f-]{36}$", page.url)
    return page.url.rsplit("/", 1)[1]


# The card's bar and percentage show `progress`, and rows are in its table.
SHOWS = """([card, progress]) => {
    const c = document.querySelector(card);
    return Number(c?.querySelector("progress")?.getAttribute("value")) === progress
        && (c?.querySelector(".job-percent")?.textContent || "") === `${progress}% completed`
        && c.querySelectorAll("[data-testid=results-table] tbody tr").length > 0;
}"""


def read_at(page: Page, served: Served, job_id: str, items: int) -> dict[str, Any] | None:
    """The job's status (as the page's session reads it) once it has read `items` items."""
    status: dict[str, Any] = page.request.get(
        f"{served.url}/api/scraping/tiktok?jobId={job_id}").json()
    assert status["status"] == "processing", status
    return status if status["itemsRead"] == items else None


def watch_until_done(page: Page, card: str, timeout: float = 90,
                     watch: Watch | None = None) -> Watch:
    """Sample the card at every change until it shows the completed job's table."""
    watch = watch or Watch()
    deadline = time.monotonic() + timeout
    while page.locator(f"{card}[data-status=completed] [data-testid=results-table]").count() \
            == 0 or not page.locator(f"{card} .progress-box").is_hidden():
        watch.sample(page, card)
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"the job did not finish; saw {watch.texts}"
        # Until the card shows something new: a value, a status, more rows, or the end.
        page.wait_for_function(CHANGED, arg=[card, watch.values[-1], watch.texts[-1],
                                             watch.rows_shown],
                               timeout=remaining * 1000)
    return watch


def test_a_first_search_is_pushed_live_to_the_page(served_on_held: Served, page: Page,
                                                   held_sandbox: HeldSandbox) -> None:
    served = served_on_held
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    sign_in_and_open_a_campaign(page, served, "Launch <script>alert(1)</script>")
    assert page.get_by_test_id("sandbox-banner").is_visible()
    assert page.get_by_test_id("campaign-name").text_content() == \
        "Launch <script>alert(1)</script>"
    page.get_by_test_id("live-mode").filter(has_text="Live").wait_for()
    assert page.get_by_test_id("live-mode").get_attribute("data-mode") == "push"

    page.evaluate("window.__sameDocument = true")  # gone if the page ever reloads
    page.select_option("select[name=platform]", "tiktok")
    page.fill("input[name=keywords]", "fitness coach")
    page.fill("input[name=targetResults]", "200")
    page.click("text=Start Search")
    page.locator("article.job").first.wait_for()
    job_id = page.locator("article.job").first.get_attribute("data-job-id")
    card = f"article[data-job-id='{job_id}']"
    # The README's picture of the campaign page (docs/campaign-page.png) is taken at the
    # second of three points the run is held at; at each, the bar shows what was ingested.
    watch = Watch(screenshot="campaign-mid-search.png")
    run = held_sandbox.run(1)
    page.locator(f"{card} [data-testid=job-status]").filter(has_text=re.compile(
        r"^(Starting search\.\.\.|Processing your search\.\.\. \(0%\))$")).wait_for()
    watch.sample(page, card)  # nothing written yet: the job cannot be further than this
    for items in (50, 100, 150):
        held_sandbox.write(run, items)
        status = wait_until(partial(read_at, page, served, job_id or "", items), 60,
                            f"the job to read {items} items")
        page.wait_for_function(SHOWS, arg=[card, status["progress"]], timeout=60_000)
        watch.sample(page, card)
    held_sandbox.finish(run)
    watch = watch_until_done(page, card, watch=watch)

    assert watch.shot, "the page should have been seen mid-search"
    assert watch.texts[0] in ("Starting search...", "Processing your search... (0%)")
    assert len([t for t in watch.texts if t.startswith("Processing your search... (")]) >= 3
    assert watch.values == sorted(watch.values), watch.values
    assert len([v for v in watch.values if 0 < v < 100]) >= 3, watch.values
    assert watch.rows_while_running > 0, "rows should stream in while the job runs"
    assert page.locator(f"{card} .job-percent").text_content() == "100% completed"
    # The run behind the card, and what it cost (the sandbox's price), on the card and summed
    # for the campaign; in sandbox mode there is no Apify Console page to link to.
    run_line = page.locator(f"{card} [data-testid=job-run]").text_content() or ""
    assert run_line.startswith(f"Apify run {run.id} · Finished!") and " · cost $" in run_line
    assert page.locator(f"{card} [data-testid=job-run] a").count() == 0
    assert re.fullmatch(r"Apify cost so far: \$0\.\d+",
                        page.get_by_test_id("campaign-cost").text_content() or "")
    rows = page.locator(f"{card} [data-testid=results-table] tbody tr")
    assert rows.count() > 10
    found = page.locator(f"{card} [data-testid=creators-found]").text_content() or ""
    assert found == f"{rows.count()} creators found"
    # The ended search says how it ended and what it brought.
    status = page.request.get(f"{served.url}/api/jobs/{job_id}").json()
    outcome = page.locator(f"{card} [data-testid=job-outcome]").text_content() or ""
    assert re.fullmatch(rf"Completed · {status['processedResults']} items · "
                        rf"{status['creatorsCount']} creators · cost \$0\.\d+ · took \d+ s",
                        outcome), outcome
    assert page.evaluate("window.__sameDocument") is True
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "first-search.png"), full_page=True)
    assert console_errors == []


def test_a_job_started_elsewhere_appears_by_itself(served: Served, page: Page) -> None:
    campaign_id = sign_in_and_open_a_campaign(page, served, "Elsewhere")
    page.get_by_test_id("live-mode").filter(has_text="Live").wait_for()
    page.evaluate("window.__sameDocument = true")
    # Another tab, the CLI or a script: the same account, through the API.
    # The session cookie alone is not enough for a POST: the page's CSRF token goes along.
    csrf = page.locator("meta[name=csrf-token]").get_attribute("content") or ""
    started = page.request.post(f"{served.url}/api/scraping/tiktok", data={
        "campaignId": campaign_id, "keywords": ["yoga"], "targetResults": 40},
        headers={"X-CSRF-Token": csrf})
    assert started.status == 202
    job_id = started.json()["id"]
    watch_until_done(page, f"article[data-job-id='{job_id}']")
    assert page.evaluate("window.__sameDocument") is True


def test_the_page_polls_when_the_stream_is_down(served: Served, page: Page) -> None:
    page.route(re.compile(r".*/events$"), lambda route: route.abort())
    sign_in_and_open_a_campaign(page, served, "No push")
    page.get_by_test_id("live-mode").filter(has_text="polling").wait_for(timeout=30_000)
    page.fill("input[name=keywords]", "hiit")
    page.fill("input[name=targetResults]", "60")
    page.click("text=Start Search")
    page.locator("article.job").first.wait_for()
    job_id = page.locator("article.job").first.get_attribute("data-job-id")
    watch = watch_until_done(page, f"article[data-job-id='{job_id}']")
    assert watch.values[-1] == 100 or page.locator(
        f"article[data-job-id='{job_id}'] .job-percent").text_content() == "100% completed"


def test_cancel_from_the_page(served: Served, page: Page) -> None:
    sign_in_and_open_a_campaign(page, served, "Cancel me")
    page.get_by_test_id("live-mode").filter(has_text="Live").wait_for()
    page.fill("input[name=keywords]", "marathon")
    page.fill("input[name=targetResults]", "5000")
    page.click("text=Start Search")
    card = page.locator("article.job").first
    card.locator("[data-testid=job-status]").filter(has_text="Processing").wait_for()
    assert card.get_by_role("button", name="Run again").is_hidden()  # while it runs
    card.get_by_role("button", name="Cancel").click()
    page.locator("article.job[data-status=cancelled]").wait_for()
    assert card.locator("[data-testid=job-status]").text_content() == "Cancelled"
    assert card.locator("[data-testid=job-status]").is_visible()
    assert card.get_by_role("button", name="Cancel").is_hidden()
    # Run again: a new card with the same search, ahead of the cancelled one.
    first_id = card.get_attribute("data-job-id")
    title = card.locator(".job-title").text_content()
    card.get_by_role("button", name="Run again").click()
    page.locator("article.job").nth(1).wait_for()
    again = page.locator("article.job").first  # the newest card comes first
    assert again.get_attribute("data-job-id") != first_id
    assert again.locator(".job-title").text_content() == title
    assert page.locator("article.job").count() == 2
    again.get_by_role("button", name="Cancel").click()
    page.locator("article.job[data-status=cancelled]").nth(1).wait_for()
