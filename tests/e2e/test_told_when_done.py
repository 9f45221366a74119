"""Close the tab and be told: in a browser against `scrapetrack serve`, a person sets their
Slack URL and address and adds a webhook, starts a search and closes the tab; Slack (a local
stand-in), the mailbox (aiosmtpd) and the webhook receiver (verifying with
`standardwebhooks`) each get one message, and the settings page shows the delivery."""

from __future__ import annotations

import json
from pathlib import Path

from playwright.sync_api import Browser
from standardwebhooks.webhooks import Webhook as Verifier

from tests.conftest import wait_until
from tests.e2e.conftest import serve
from tests.e2e.test_first_search import sign_in_and_open_a_campaign
from tests.receivers import mailbox, receiver


def test_a_person_closes_the_tab_and_is_told(tmp_path: Path, browser: Browser) -> None:
    with receiver() as slack, receiver() as hook, mailbox() as box, serve(
            tmp_path, SANDBOX_ITEMS_PER_SECOND="40", WEBHOOK_ALLOW_PRIVATE="true",
            SMTP_URL=box.url) as served:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        campaign_id = sign_in_and_open_a_campaign(page, served, "Told")

        page.get_by_test_id("nav-settings").click()
        page.fill("input[name=slack_webhook_url]", slack.url + "/services/T0/B0/X")
        page.fill("input[name=email]", "owner@example.com")
        page.get_by_label("Few results threshold", exact=True).fill("1")
        page.get_by_test_id("save-notifications").click()
        page.get_by_test_id("settings-saved").wait_for()
        assert page.input_value("input[name=slack_webhook_url]").startswith(slack.url)

        page.fill("input[name=url]", hook.url + "/in")
        page.get_by_test_id("add-webhook").click()
        secret = page.get_by_label("Webhook secret").input_value()
        assert secret.startswith("whsec_")
        # A refused address says why, on the page.
        page.fill("input[name=url]", "ftp://example.com/")
        page.get_by_test_id("add-webhook").click()
        assert "http or https" in (page.get_by_test_id("settings-error").text_content() or "")

        page.goto(f"{served.url}/campaigns/{campaign_id}")
        page.fill("input[name=keywords]", "yoga")
        page.fill("input[name=targetResults]", "20")
        page.click("text=Start Search")
        page.locator("article.job").first.wait_for()
        job_id = page.locator("article.job").first.get_attribute("data-job-id")
        signed_in = context.storage_state()
        context.close()  # nobody watches any more

        wait_until(lambda: (slack.received and box.messages and hook.received) or None, 60,
                   "Slack, the mailbox and the webhook to hear of the search")
        assert f"/searches/{job_id}" in json.loads(slack.received[0].body)["text"]
        assert "completed" in str(box.messages[0]["subject"])
        sent = Verifier(secret).verify(hook.received[0].body, hook.received[0].headers)
        assert (sent["type"], sent["data"]["id"]) == ("job.completed", job_id)
        assert len(slack.received) == len(box.messages) == len(hook.received) == 1

        again = browser.new_context(storage_state=signed_in).new_page()
        again.goto(f"{served.url}/settings")
        shown = again.get_by_test_id("deliveries").first.text_content() or ""
        assert "job.completed: delivered (200)" in shown
        again.context.close()
