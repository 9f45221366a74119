"""Outgoing webhooks, end to end: real searches against the sandbox end, and a local receiver
verifies every delivery with the `standardwebhooks` library, as a subscriber would."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook as Verifier

from scrapetrack.jobs import Status
from scrapetrack.store.models import utcnow
from tests.conftest import wait_until
from tests.integration.conftest import App, wait_for_job
from tests.receivers import Receiver, receiver

ALL = ["job.completed", "job.failed", "job.cancelled", "job.few_results"]


def search(client: httpx.Client, campaign_id: str, platform: str = "tiktok",
           target: int = 10) -> dict[str, Any]:
    response = client.post(f"/api/scraping/{platform}", json={
        "campaignId": campaign_id, "keywords": ["yoga"], "targetResults": target})
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    return job


def campaign(client: httpx.Client) -> str:
    response = client.post("/api/campaigns", json={"name": "Hooks"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def verified(hook: Receiver, secret: str, count: int) -> list[dict[str, Any]]:
    """Wait for `count` deliveries; each verified as Standard Webhooks says, parsed."""
    wait_until(lambda: len(hook.received) >= count or None, 30, f"{count} deliveries")
    verifier = Verifier(secret)
    payloads = []
    for got in hook.received:
        payloads.append(verifier.verify(got.body, got.headers))
        assert got.headers["content-type"] == "application/json"
    return payloads


def latest_delivery(client: httpx.Client, webhook_id: str,
                    status: str) -> dict[str, Any] | None:
    """The webhook's latest delivery once it has `status`. A job's end is visible before its
    outcome is dispatched into deliveries, so an empty list means "not yet"."""
    found = client.get(f"/api/webhooks/{webhook_id}/deliveries").json()
    items: list[dict[str, Any]] = found["items"]
    return items[0] if items and items[0]["status"] == status else None


def test_every_outcome_reaches_a_verifying_receiver(start_app: Callable[..., App]) -> None:
    app = start_app(WEBHOOK_ALLOW_PRIVATE=True,
                    apify_actor_instagram="nobody~no-such-actor")
    client = app.user("hooks@example.com")
    campaign_id = campaign(client)
    with receiver() as hook:
        made = client.post("/api/webhooks", json={
            "url": hook.url + "/in", "events": ALL, "fewResultsThreshold": 1000})
        assert made.status_code == 201, made.text
        secret = made.json()["secret"]
        assert secret.startswith("whsec_")
        assert "secret" not in client.get(f"/api/webhooks/{made.json()['id']}").json()

        done, _ = wait_for_job(client, search(client, campaign_id))
        failed, _ = wait_for_job(client, search(client, campaign_id, "instagram"))
        assert (done["status"], failed["status"]) == ("completed", "error")
        cancelled = search(client, campaign_id, target=5000)
        assert client.post(f"/api/jobs/{cancelled['id']}/cancel").status_code == 202

        payloads = verified(hook, secret, 4)
        got = sorted((p["type"], p["data"]["id"]) for p in payloads)
        assert got == sorted([("job.completed", done["id"]), ("job.few_results", done["id"]),
                              ("job.failed", failed["id"]),
                              ("job.cancelled", cancelled["id"])])
        for payload in payloads:
            assert set(payload) == {"type", "timestamp", "data"}
            job = client.get(f"/api/jobs/{payload['data']['id']}").json()
            assert payload["data"]["status"] == job["status"]
            assert payload["data"]["creatorsCount"] == job["creatorsCount"]
        ids = [r.headers["webhook-id"] for r in hook.received]
        assert len(set(ids)) == 4 and all(i.startswith("msg_") for i in ids)

        # A body changed on the way, or signed with another secret, does not verify.
        tampered = hook.received[0]
        with pytest.raises(Exception, match="signature"):
            Verifier(secret).verify(tampered.body.replace(b'"data"', b'"Data"'),
                                    tampered.headers)

        def all_delivered() -> dict[str, Any] | None:
            # The receiver has the last message a moment before its attempt is recorded.
            page: dict[str, Any] = client.get(
                f"/api/webhooks/{made.json()['id']}/deliveries").json()
            statuses = {delivery["status"] for delivery in page["items"]}
            return page if len(page["items"]) == 4 and statuses == {"delivered"} else None

        page = wait_until(all_delivered, 30, "all four deliveries recorded as delivered")
        assert page["nextCursor"] is None
        for delivery in page["items"]:
            assert [(a["attempt"], a["statusCode"]) for a in delivery["attempts"]] == [(1, 200)]


def test_a_failing_receiver_gets_retries_with_one_id(start_app: Callable[..., App]) -> None:
    app = start_app(WEBHOOK_ALLOW_PRIVATE=True, WEBHOOK_RETRY_BASE_SECONDS=0.2)
    client = app.user("retry@example.com")
    campaign_id = campaign(client)
    with receiver(500, 503) as hook:
        made = client.post("/api/webhooks", json={"url": hook.url, "events": ["job.completed"]})
        webhook = made.json()
        wait_for_job(client, search(client, campaign_id))
        payloads = verified(hook, webhook["secret"], 3)
        assert [p["type"] for p in payloads] == ["job.completed"] * 3
        assert len({r.headers["webhook-id"] for r in hook.received}) == 1
        # Signed anew for each attempt: the same id, the attempt's own timestamp.
        assert len({r.headers["webhook-signature"] for r in hook.received}) >= 2

        def delivered() -> dict[str, Any] | None:
            return latest_delivery(client, webhook["id"], "delivered")

        delivery = wait_until(delivered, 30, "the delivery to be recorded as delivered")
        assert [(a["attempt"], a["statusCode"]) for a in delivery["attempts"]] == [
            (1, 500), (2, 503), (3, 200)]
        assert "answered 500" in delivery["attempts"][0]["error"]
        assert len(hook.received) == 3


def test_a_receiver_that_never_answers_well_is_given_up_on_in_time(
        start_app: Callable[..., App]) -> None:
    app = start_app(WEBHOOK_ALLOW_PRIVATE=True, WEBHOOK_RETRY_BASE_SECONDS=0.2,
                    WEBHOOK_RETRY_HOURS=1.5 / 3600)
    client = app.user("never@example.com")
    with receiver(*[500] * 50) as hook:
        webhook = client.post("/api/webhooks", json={
            "url": hook.url, "events": ["job.completed"]}).json()
        wait_for_job(client, search(client, campaign(client)))

        def failed() -> dict[str, Any] | None:
            return latest_delivery(client, webhook["id"], "failed")

        delivery = wait_until(failed, 30, "the delivery to be given up")
        # 0.2 + 0.4 s waits fit in 1.5 s; the next (0.8 s) would not. Huey runs a delayed
        # task at its scheduler's next tick (each second), so a busy second can leave room
        # for one attempt fewer, never more.
        assert len(delivery["attempts"]) in (2, 3)
        assert len(delivery["attempts"]) == len(hook.received)


def test_ssrf_targets_are_refused_unless_allowed(start_app: Callable[..., App]) -> None:
    app = start_app()
    client = app.user("ssrf@example.com")
    for url in ("http://127.0.0.1:9/hook", "http://10.1.2.3/hook", "http://192.168.0.1/",
                "http://172.16.5.4/", "http://169.254.169.254/latest/meta-data",
                "http://[::1]/hook", "http://[fe80::1]/", "http://[::ffff:127.0.0.1]/",
                "http://0.0.0.0/", "http://100.64.0.1/", "http://localhost:8000/hook"):
        refused = client.post("/api/webhooks", json={"url": url, "events": ["job.failed"]})
        assert refused.status_code == 400, (url, refused.text)
        assert "WEBHOOK_ALLOW_PRIVATE" in refused.json()["error"]
        slack = client.put("/api/me/notifications", json={"slackWebhookUrl": url})
        assert slack.status_code == 400, (url, slack.text)
    for url in ("ftp://example.com/x", "file:///etc/passwd", "javascript:alert(1)",
                "http://", "not a url", "http://example.com:99999/"):
        refused = client.post("/api/webhooks", json={"url": url, "events": ["job.failed"]})
        assert refused.status_code == 400, (url, refused.text)
    # A public address, or a name that does not resolve here, is taken (and checked again
    # before each send).
    for url in ("https://8.8.8.8/hook", "https://hooks.example.invalid/x"):
        made = client.post("/api/webhooks", json={"url": url, "events": ["job.failed"]})
        assert made.status_code == 201, (url, made.text)

    allowed = start_app(WEBHOOK_ALLOW_PRIVATE=True).user("lan@example.com")
    made = allowed.post("/api/webhooks", json={"url": "http://localhost:8000/hook",
                                               "events": ["job.failed"]})
    assert made.status_code == 201, made.text


def test_a_name_that_resolves_inwards_is_refused_at_delivery(
        start_app: Callable[..., App]) -> None:
    """Saved while it pointed outwards (here: written to the store directly), then resolving
    to loopback: every attempt is refused after DNS, and nothing reaches the receiver."""
    app = start_app(WEBHOOK_RETRY_BASE_SECONDS=0.2, WEBHOOK_RETRY_HOURS=1 / 3600)
    client = app.user("rebind@example.com")
    user_id = app.runtime.store.user_by_email("rebind@example.com")
    assert user_id is not None
    with receiver() as hook:
        port = hook.url.rsplit(":", 1)[1]
        webhook = app.runtime.teller.tables.add_webhook(
            workspace_id=user_id.id, user_id=user_id.id, url=f"http://localhost:{port}/",
            events=["job.completed"], secret="whsec_" + "A" * 32)
        wait_for_job(client, search(client, campaign(client)))

        def failed() -> dict[str, Any] | None:
            found = client.get(f"/api/webhooks/{webhook.id}/deliveries").json()
            first: dict[str, Any] | None = (found["items"] or [None])[0]
            return first if first and first["status"] == "failed" else None

        delivery = wait_until(failed, 30, "the delivery to be refused for good")
        assert all("resolves to 127.0.0.1" in a["error"] and a["statusCode"] is None
                   for a in delivery["attempts"])
        tested = client.post(f"/api/webhooks/{webhook.id}/test").json()
        assert tested["delivered"] is False and "resolves to" in tested["attempt"]["error"]
        assert hook.received == []


def test_webhook_routes_check_input_and_access(start_app: Callable[..., App]) -> None:
    app = start_app(WEBHOOK_ALLOW_PRIVATE=True)
    owner = app.user("owner@example.com")
    stranger = app.user("stranger@example.com")
    team = owner.post("/api/workspaces", json={"name": "Team"}).json()
    invite = owner.post(f"/api/workspaces/{team['id']}/invitations",
                        json={"email": "m@example.com", "role": "member"}).json()
    member = app.user("m@example.com")
    assert member.post(f"/api/invitations/{invite['link'].rsplit('/', 1)[1]}/accept") \
        .status_code == 200
    with receiver() as hook:
        for body, message in (
                ({"url": hook.url, "events": []}, "events must be"),
                ({"url": hook.url, "events": ["job.completed"], "fewResultsThreshold": 5},
                 "goes with the job.few_results"),
                ({"url": hook.url, "events": ["job.few_results"], "fewResultsThreshold": 0},
                 "fewResultsThreshold must be"),
                ({"url": hook.url, "events": ["job.completed"], "workspaceId": "nope"},
                 "Workspace not found")):
            refused = owner.post("/api/webhooks", json=body)
            assert refused.status_code in (400, 404), refused.text
            assert message in refused.json()["error"]
        assert owner.post("/api/webhooks", json={"url": hook.url, "events": ["job.done"]}) \
            .status_code == 422
        made = owner.post("/api/webhooks", json={
            "url": hook.url, "events": ["job.completed"], "workspaceId": team["id"]})
        assert made.status_code == 201, made.text
        webhook = made.json()
        assert webhook["workspaceId"] == team["id"]
        # A member works in the workspace but does not manage its integrations.
        refused = member.post("/api/webhooks", json={
            "url": hook.url, "events": ["job.completed"], "workspaceId": team["id"]})
        assert refused.status_code == 403
        assert member.get(f"/api/webhooks/{webhook['id']}").status_code == 403
        assert member.get("/api/webhooks").json() == []
        for path in (f"/api/webhooks/{webhook['id']}",
                     f"/api/webhooks/{webhook['id']}/deliveries"):
            assert stranger.get(path).status_code == 404
        assert stranger.post(f"/api/webhooks/{webhook['id']}/test").status_code == 404
        assert stranger.delete(f"/api/webhooks/{webhook['id']}").status_code == 404
        assert owner.get("/api/webhooks/not-an-id").status_code == 404
        assert [w["id"] for w in owner.get("/api/webhooks").json()] == [webhook["id"]]

        tested = owner.post(f"/api/webhooks/{webhook['id']}/test")
        assert tested.status_code == 200 and tested.json()["delivered"] is True
        sent = Verifier(webhook["secret"]).verify(hook.received[0].body,
                                                  hook.received[0].headers)
        assert sent["type"] == "webhook.test" and sent["data"]["webhookId"] == webhook["id"]
        for _ in range(3):
            owner.post(f"/api/webhooks/{webhook['id']}/test")
        first = owner.get(f"/api/webhooks/{webhook['id']}/deliveries?limit=3").json()
        assert len(first["items"]) == 3 and first["nextCursor"]
        rest = owner.get(f"/api/webhooks/{webhook['id']}/deliveries",
                         params={"limit": 3, "cursor": first["nextCursor"]}).json()
        assert len(rest["items"]) == 1 and rest["nextCursor"] is None
        assert owner.get(f"/api/webhooks/{webhook['id']}/deliveries?cursor=x") \
            .status_code == 400

        assert owner.delete(f"/api/webhooks/{webhook['id']}").status_code == 204
        assert owner.get(f"/api/webhooks/{webhook['id']}").status_code == 404
        audit = owner.get(f"/api/workspaces/{team['id']}/audit").json()["items"]
        assert {"webhook.created", "webhook.deleted"} <= {e["action"] for e in audit}


def test_an_outcome_left_by_a_crash_is_dispatched_by_the_sweep(
        start_app: Callable[..., App]) -> None:
    """The job ended (its outbox row written with it) but the process died before telling
    anyone: the sweep, in any process, tells them once."""
    app = start_app(WEBHOOK_ALLOW_PRIVATE=True)
    client = app.user("crash@example.com")
    campaign_id = campaign(client)
    store, teller = app.runtime.store, app.runtime.teller
    with receiver() as hook:
        webhook = client.post("/api/webhooks", json={
            "url": hook.url, "events": ["job.cancelled"]}).json()
        job = search(client, campaign_id, target=5000)
        # Ended the way a process that then died would leave it: no dispatch.
        assert store.finish(job["id"], Status.CANCELLED) is not None
        assert teller.tables.outcomes_before(utcnow() + timedelta(seconds=1), 10) == [job["id"]]
        assert teller.sweep(settle=timedelta(0)) >= 1
        assert teller.sweep(settle=timedelta(0)) == 0  # once
        payloads = verified(hook, webhook["secret"], 1)
        assert [(p["type"], p["data"]["id"]) for p in payloads] == [("job.cancelled",
                                                                      job["id"])]
        assert json.loads(hook.received[0].body)["data"]["status"] == "cancelled"
