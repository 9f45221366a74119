"""A similar-creators search from the page, in Chromium against `scrapetrack serve`: the
platform and search-kind selectors, the stages on the bar, and the results table sorted by
followers, engagement and similarity, filtered by minimum followers, exported as CSV."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.e2e.conftest import ARTIFACTS, Served
from tests.e2e.test_first_search import sign_in_and_open_a_campaign, watch_until_done


def column(page: Page, card: str, name: str) -> list[float]:
    values = page.locator(f"{card} [data-testid=results-table] tbody tr").evaluate_all(
        f"rows => rows.map(r => r.dataset.{name})")
    return [float(v) if v else -1.0 for v in values]


def sorted_by(page: Page, card: str, name: str) -> list[float]:
    """The column once the table, read again from the server, is sorted by it."""
    page.wait_for_function(f"""() => {{
        const v = [...document.querySelectorAll("{card} [data-testid=results-table] tbody tr")]
            .map(r => r.dataset.{name} ? Number(r.dataset.{name}) : -1);
        return v.length > 0 && v.every((x, i) => i === 0 || v[i - 1] >= x);
    }}""")
    return column(page, card, name)


def test_a_similar_search_sorted_filtered_and_exported(served: Served, page: Page) -> None:
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    sign_in_and_open_a_campaign(page, served, "Lookalikes")
    page.get_by_test_id("live-mode").filter(has_text="Live").wait_for()

    assert page.locator("input[name=targetUsername]").is_hidden()
    page.select_option("select[name=platform]", "youtube")
    page.select_option("[data-testid=search-kind]", "similar")
    assert page.locator("input[name=keywords]").is_hidden()
    page.fill("input[name=targetUsername]", "@fitwithmia")
    page.fill("input[name=targetResults]", "20")
    page.click("text=Start Search")
    page.locator("article.job").first.wait_for()
    job_id = page.locator("article.job").first.get_attribute("data-job-id")
    card = f"article[data-job-id='{job_id}']"
    stages: list[str] = []

    def note_stage() -> None:
        text = page.locator(f"{card} [data-testid=job-rate]").text_content() or ""
        if text and (not stages or stages[-1] != text):
            stages.append(text)

    page.on("requestfinished", lambda _: note_stage())
    watch = watch_until_done(page, card)
    assert watch.values == sorted(watch.values), watch.values
    assert page.locator(f"{card} .job-title").text_content() == \
        "YouTube · creators like @fitwithmia · 20 results"
    assert any("#fitness" in s for s in stages), stages

    table = f"{card} [data-testid=results-table]"
    assert "Similarity" in (page.locator(f"{table} thead").text_content() or "")
    similarity = column(page, card, "similarity")
    assert len(similarity) > 3
    assert similarity == sorted(similarity, reverse=True)  # most similar first
    reasons = page.locator(f"{table} td.similarity .reason").all_text_contents()
    assert any("shares #" in r for r in reasons), reasons

    with page.expect_response(lambda r: "sort=followers" in r.url):
        page.select_option(f"{card} [data-testid=sort-by]", "followers")
    followers = sorted_by(page, card, "followers")
    assert followers != similarity
    with page.expect_response(lambda r: "sort=engagement" in r.url):
        page.select_option(f"{card} [data-testid=sort-by]", "engagement")
    engagement = sorted_by(page, card, "engagement")
    assert len(engagement) == len(followers)

    total = len(followers)
    floor = sorted(followers)[total // 2]  # the median: about half the rows stay
    page.fill(f"{card} [data-testid=min-followers]", str(int(floor)))
    found = page.locator(f"{card} [data-testid=creators-found]")
    shown = f'document.querySelector("{card} [data-testid=creators-found]").textContent'
    page.wait_for_function(f"() => {shown}.endsWith(' shown)')")
    kept = column(page, card, "followers")
    assert 0 < len(kept) < total and all(f >= floor for f in kept)
    assert found.text_content() == f"{total} creators found ({len(kept)} shown)"
    page.fill(f"{card} [data-testid=min-followers]", "0")
    page.wait_for_function(f"() => !{shown}.endsWith(' shown)')")
    assert len(column(page, card, "followers")) == total

    link = page.locator(f"{card} [data-testid=export-csv]")
    href = link.get_attribute("href")
    assert href == f"/api/jobs/{job_id}/results?format=csv"
    exported = page.request.get(f"{served.url}{href}")  # the browser's session cookie
    assert exported.status == 200
    assert exported.headers["content-type"].startswith("text/csv")
    lines = exported.text().splitlines()
    assert {"similarityScore", "similarityReason"} <= set(lines[0].split(","))
    assert len(lines) > total

    page.select_option("[data-testid=search-kind]", "keyword")
    assert page.locator("input[name=keywords]").is_visible()
    assert page.locator("input[name=targetUsername]").is_hidden()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "similar-search.png"), full_page=True)
    assert console_errors == []
