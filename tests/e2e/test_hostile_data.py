"""Scraped content is untrusted: a sandbox search for `sandbox:hostile` brings creators named
with script tags, event-handler attributes, javascript: and data: URLs, formulas, control
characters, right-to-left overrides and very long strings. In real Chromium nothing of it
runs: no trap fires, no dialog opens, the CSP has nothing to block, the markup shows as text,
and no link leads anywhere but http(s). The CSV export neutralises every formula."""

from __future__ import annotations

import csv
import io

from playwright.sync_api import Dialog, Page

from tests.e2e.conftest import ARTIFACTS, Served
from tests.e2e.test_first_search import sign_in_and_open_a_campaign, watch_until_done

TRAPS = """
window.__pwned = undefined;
window.__violations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
"""


def test_hostile_creators_never_run_in_the_browser(served: Served, page: Page) -> None:
    dialogs: list[str] = []
    problems: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.add_init_script(TRAPS)
    page.on("dialog", on_dialog)
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    name = '<img src=x onerror="window.__pwned=1">"><script>window.__pwned=1</script>'
    sign_in_and_open_a_campaign(page, served, name)
    assert page.get_by_test_id("campaign-name").text_content() == name

    page.fill("input[name=keywords]", "sandbox:hostile")
    page.fill("input[name=targetResults]", "150")
    page.click("text=Start Search")
    page.locator("article.job").first.wait_for()
    job_id = page.locator("article.job").first.get_attribute("data-job-id")
    card = f"article[data-job-id='{job_id}']"
    watch_until_done(page, card)
    rows = page.locator(f"{card} [data-testid=results-table] tbody tr")
    assert rows.count() >= 10

    assert page.evaluate("window.__pwned") is None
    assert page.evaluate("window.__violations") == []
    assert dialogs == [] and problems == []
    # The markup is on screen as text, and never became elements.
    table = page.locator(f"{card} [data-testid=results-table]").inner_text()
    assert "<script>window.__pwned=1</script>" in table
    assert "<img/src=x/onerror=window.__pwned=1>" in table
    # The one script in <main> is the page's JSON state, which browsers never run.
    assert page.locator("main script").evaluate_all(
        "els => els.map(e => e.type)") == ["application/json"]
    assert page.locator("main img, main svg, main iframe, main object").count() == 0
    attributes = page.eval_on_selector_all(
        "main *", "els => els.flatMap(e => [...e.attributes].map(a => a.name))")
    assert not [a for a in attributes if a.startswith("on")]
    hrefs = page.eval_on_selector_all("a", "els => els.map(e => e.getAttribute('href'))")
    links = [h for h in hrefs if h and h.startswith("http")]
    assert len(links) >= 10
    assert all(h.startswith(("/", "http://", "https://")) for h in hrefs), hrefs
    # No control character or bidi override reached the page.
    assert not any(ch in table for ch in "\x00\x07\x1b\u202e")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "hostile-data.png"), full_page=False)

    exported = page.request.get(f"{served.url}/api/jobs/{job_id}/results?format=csv")
    assert exported.status == 200
    cells = [c for row in csv.reader(io.StringIO(exported.text())) for c in row]
    assert any(c.startswith("'=HYPERLINK") for c in cells)
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@"))]
    rows_out = list(csv.DictReader(io.StringIO(exported.text())))
    urls = [r[k] for r in rows_out for k in ("profileUrl", "avatarUrl") if r[k]]
    assert urls and all(u.startswith(("http://", "https://")) for u in urls)
