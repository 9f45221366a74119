"""Being told that a search ended, without a tab open: Slack (a local stand-in for its
incoming webhook, which takes POSTed JSON `{"text": …}` and answers 200 `ok`, as Slack's
"Sending messages using incoming webhooks" documents) and mail through a real SMTP server
(aiosmtpd)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select

from scrapetrack.store.models import Delivery, utcnow
from tests.conftest import wait_until
from tests.integration.conftest import App, wait_for_job
from tests.integration.test_webhooks import campaign, search
from tests.receivers import Mailbox, Receiver, mailbox, receiver


def slack_texts(slack: Receiver) -> list[str]:
    return [json.loads(body)["text"] for body in slack.bodies()]


def settle(slack: Receiver, box: Mailbox, count: int) -> None:
    wait_until(lambda: (len(slack.received) >= count and len(box.messages) >= count) or None,
               30, f"{count} Slack messages and {count} mails")


def test_one_message_per_outcome_by_slack_and_mail(start_app: Callable[..., App]) -> None:
    with receiver() as slack, mailbox() as box:
        app = start_app(WEBHOOK_ALLOW_PRIVATE=True, SMTP_URL=box.url,
                        SMTP_FROM="scrapetrack <robot@example.com>",
                        PUBLIC_URL="https://scrapetrack.example.com",
                        apify_actor_instagram="nobody~no-such-actor")
        client = app.user("sam@example.com")
        campaign_id = campaign(client)
        saved = client.put("/api/me/notifications", json={
            "slackWebhookUrl": slack.url + "/services/T0/B0/X", "email": "sam@example.com",
            "fewResultsThreshold": 1})
        assert saved.status_code == 200, saved.text
        assert saved.json()["onCompleted"] and saved.json()["onFailed"]

        completed, _ = wait_for_job(client, search(client, campaign_id, target=10))
        settle(slack, box, 1)
        client.put("/api/me/notifications", json={"fewResultsThreshold": 1000})
        few, _ = wait_for_job(client, search(client, campaign_id, target=10))
        settle(slack, box, 2)
        failed, _ = wait_for_job(client, search(client, campaign_id, "instagram"))
        settle(slack, box, 3)
        cancelled = search(client, campaign_id, target=5000)
        client.post(f"/api/jobs/{cancelled['id']}/cancel")
        # The cancelled search is news to nobody: another search's message comes after it,
        # and nothing for the cancelled one comes in between.
        client.put("/api/me/notifications", json={"fewResultsThreshold": 1})
        last, _ = wait_for_job(client, search(client, campaign_id, target=10))
        settle(slack, box, 4)

        texts = slack_texts(slack)
        subjects = [str(m["subject"]) for m in box.messages]
        for job, headline in ((completed, "completed"), (few, "found only"),
                              (failed, "failed (error)"), (last, "completed")):
            index = [completed, few, failed, last].index(job)
            assert headline in texts[index] and headline in subjects[index]
            body = box.messages[index].get_content()
            for text in (texts[index], body):
                assert f"https://scrapetrack.example.com/searches/{job['id']}" in text
                assert f"Creators found: {job['creatorsCount']} (target " in text
                assert "Cost: " in text
                assert "search for 'yoga', in campaign Hooks" in text
        assert "Error: " in texts[2]
        assert all(m["to"] == "sam@example.com" for m in box.messages)
        assert all(m["from"] == "scrapetrack <robot@example.com>" for m in box.messages)
        # A retried mail keeps its Message-ID; each outcome has its own.
        assert len({m["message-id"] for m in box.messages}) == 4
        assert len(slack.received) == len(box.messages) == 4


def test_outcomes_can_be_turned_off_and_settings_are_checked(
        start_app: Callable[..., App]) -> None:
    with receiver() as slack:
        app = start_app(WEBHOOK_ALLOW_PRIVATE=True)
        client = app.user("quiet@example.com")
        defaults = client.get("/api/me/notifications").json()
        assert defaults == {"slackWebhookUrl": None, "email": None, "onCompleted": True,
                            "onFailed": True, "onFewResults": True,
                            "fewResultsThreshold": 10, "updatedAt": None}
        for body, message in (({"email": "not an address"}, "email must be"),
                              ({"email": "sam@example.com"}, "SMTP_URL"),
                              ({"fewResultsThreshold": 0}, "fewResultsThreshold must be"),
                              ({"slackWebhookUrl": "ftp://x"}, "http or https")):
            refused = client.put("/api/me/notifications", json=body)
            assert refused.status_code == 400, refused.text
            assert message in refused.json()["error"]
        client.put("/api/me/notifications", json={
            "slackWebhookUrl": slack.url, "onCompleted": False, "fewResultsThreshold": 1})
        shown = client.get("/api/me/notifications").json()
        assert shown["slackWebhookUrl"] == slack.url and shown["onCompleted"] is False
        # Left out, a field keeps its value; null clears it.
        client.put("/api/me/notifications", json={"onFailed": True})
        assert client.get("/api/me/notifications").json()["slackWebhookUrl"] == slack.url

        done, _ = wait_for_job(client, search(client, campaign(client)))
        assert done["status"] == "completed"
        # Its outcome was dispatched (nothing waits in the outbox) and sent nothing.
        wait_until(lambda: not app.runtime.teller.tables.outcomes_before(
            utcnow() + timedelta(days=1), 10) or None, 15, "the outcome to be dispatched")
        assert slack.received == []
        cleared = client.put("/api/me/notifications", json={"slackWebhookUrl": None})
        assert cleared.json()["slackWebhookUrl"] is None


def test_a_mail_server_that_is_down_is_retried(start_app: Callable[..., App]) -> None:
    """Mail that cannot be handed over yet goes through the same retries as a webhook."""
    with mailbox() as box:
        url = box.url
    app = start_app(SMTP_URL=url, WEBHOOK_RETRY_BASE_SECONDS=0.5)
    client = app.user("later@example.com")
    client.put("/api/me/notifications", json={"email": "later@example.com",
                                              "fewResultsThreshold": 1})
    wait_for_job(client, search(client, campaign(client)))
    tables = app.runtime.teller.tables

    def attempted() -> list[Delivery] | None:
        with app.runtime.store.reading() as s:
            return list(s.scalars(select(Delivery).where(Delivery.attempts >= 1))) or None

    first = wait_until(attempted, 15, "a first attempt at the mail")[0]
    assert first.status == "pending" and first.channel == "email"
    assert "mail not sent" in (first.last_error or "")
    with mailbox(int(url.rsplit(":", 1)[1])) as box:
        wait_until(lambda: box.messages or None, 20, "the mail to be delivered on a retry")
        wait_until(lambda: tables.get(first.id).status == "delivered" or None,  # type: ignore[union-attr]
                   10, "the delivery recorded")
        assert tables.get(first.id).attempts >= 2  # type: ignore[union-attr]
        assert box.messages[0]["message-id"] == f"<{first.message_id}@scrapetrack>"
