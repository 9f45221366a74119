"""QUEUE_URL=qstash end to end: the app publishes with the real `qstash` SDK to a stand-in that
delivers signed messages back over HTTP; jobs run on the sandbox in several time-budgeted
deliveries."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook as Verifier

from scrapetrack.config import Settings
from scrapetrack.exceptions import ConfigError, QueueUnavailable
from scrapetrack.qstash import PATH
from scrapetrack.runtime import build_runtime
from scrapetrack.serving import serve_in_thread
from scrapetrack.web.app import create_app
from tests.conftest import HeldSandbox, Sandbox, free_port, wait_until
from tests.integration.conftest import App, wait_for_items, wait_for_job
from tests.integration.test_events import has_read, items_read, sse
from tests.integration.test_keyword_job import expected_creators, start
from tests.qstash_standin import Attempt, Message, QStashStandIn, run_standin, sign
from tests.receivers import receiver

TOKEN = "qstash-test-token"
# At least 32 bytes: PyJWT warns about shorter HMAC keys.
CURRENT_KEY = "sig_current_0123456789abcdefghijklmnopqrstuvwxyz"
NEXT_KEY = "sig_next_0123456789abcdefghijklmnopqrstuvwxyz0123"

pytestmark = pytest.mark.all_stacks


@pytest.fixture
def standin() -> Iterator[QStashStandIn]:
    with run_standin(token=TOKEN, current_key=CURRENT_KEY, next_key=NEXT_KEY) as s:
        yield s


@pytest.fixture
def start_qstash_app(make_settings: Callable[..., Settings],
                     standin: QStashStandIn) -> Iterator[Callable[..., App]]:
    """Apps in QStash mode, on a port known up front: it is their PUBLIC_URL."""
    servers: list[Any] = []
    apps: list[App] = []

    def start(**overrides: Any) -> App:
        port = free_port()
        settings = make_settings(**{
            "queue_url": "qstash", "qstash_token": TOKEN, "qstash_url": standin.url,
            "qstash_current_signing_key": CURRENT_KEY, "qstash_next_signing_key": NEXT_KEY,
            "public_url": f"http://127.0.0.1:{port}", "qstash_budget_seconds": 1.0,
            "qstash_republish_delay_seconds": 1, **overrides})
        runtime = build_runtime(settings, migrate=True)
        server = serve_in_thread(create_app(settings, runtime=runtime), port=port)
        servers.append(server)
        apps.append(App(server.__enter__(), runtime))
        return apps[-1]

    yield start
    for server in reversed(servers):
        server.__exit__(None, None, None)
    for app in apps:
        for client in app.clients:
            client.close()
        app.runtime.close()


def delivered(standin: QStashStandIn, job_id: str) -> int:
    """How many deliveries of the job's messages the app answered with 2xx."""
    ids = {m.id for m in standin.messages_for(job_id)}
    return sum(1 for a in standin.answers(ids) if 200 <= a.status < 300)


def test_a_job_runs_through_qstash_in_several_budgeted_deliveries(
        start_qstash_app: Callable[..., App], standin: QStashStandIn,
        held_sandbox: HeldSandbox) -> None:
    app = start_qstash_app(apify_api_url=held_sandbox.url)
    alice = app.user("alice@example.com")
    job = start(alice, ["fitness coach", "hiit"], 300)

    events: list[dict[str, Any]] = []

    def watch() -> None:
        with alice.stream("GET", f"/api/jobs/{job['id']}/events") as response:
            events.extend(data for _, data in sse(response))  # ends after the terminal status

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    # The run held at three points, each for longer than a delivery's budget: no request
    # waits out the run, and every watcher sees each point.
    run, seen = held_sandbox.run(1), []
    for items in (60, 120, 180):
        held_sandbox.write(run, items)
        seen.append(wait_for_items(alice, job, items))
        wait_until(partial(has_read, events, items), 30, f"an event with {items} items read")
    wait_until(lambda: delivered(standin, job["id"]) >= 3, 30, "three answered deliveries")
    held_sandbox.finish(run)
    final, polled = wait_for_job(alice, job)
    seen += polled
    wait_until(lambda: not watcher.is_alive(), 10, "the event stream to end")

    assert final["status"] == "completed", final
    assert final["progress"] == 100
    items, skipped, handles = expected_creators(app.runtime, job["id"])
    assert (final["processedResults"], final["skippedItems"]) == (items, skipped)
    results = alice.get(f"/api/jobs/{job['id']}/results").json()
    assert sorted(r["handle"].lower() for r in results) == sorted(handles)
    assert held_sandbox.state.runs_started == 1

    # Each delivery parked the job and asked for the next one, a delay later.
    messages = standin.messages_for(job["id"])
    assert messages[0].delay == 0 and all(m.delay == 1 for m in messages[1:])
    assert all("quietSince" in m.json() for m in messages[1:])

    # Watchers see what they see with the other queues: processing until the end, never a
    # step back to pending between deliveries, progress that only grows.
    for statuses in (seen, events):
        names = [s["status"] for s in statuses]
        assert "pending" not in names[names.index("processing"):], names
        progress = [s["progress"] for s in statuses]
        assert progress == sorted(progress)
        held = {s["progress"] for s in statuses if items_read(s) in (60, 120, 180)
                and s["status"] == "processing"}
        assert len(held) == 3 and all(0 < p < 100 for p in held), progress
    assert events[-1]["status"] == "completed"


def test_signatures_are_checked_before_anything_is_done(
        start_qstash_app: Callable[..., App], standin: QStashStandIn, sandbox: Sandbox) -> None:
    app = start_qstash_app()
    alice = app.user("alice@example.com")
    standin.hold = True
    job = start(alice, ["yoga"], 50)
    (message,) = wait_until(standin.held, what="the job's message")
    url, body = message.destination, message.body
    assert url == f"{app.url}{PATH}"
    assert json.loads(body) == {"jobId": job["id"]}
    now = time.time()
    other_body = json.dumps({"jobId": job["id"], "quietSince": now}).encode()
    cases: dict[str, tuple[dict[str, str], bytes]] = {
        "missing": ({}, body),
        "not a JWT": ({"Upstash-Signature": "not-a-jwt"}, body),
        "forged (another key)": (
            {"Upstash-Signature": sign(body, url, "sig_forged_" + "x" * 40)}, body),
        "unsigned (alg none)": ({"Upstash-Signature": sign(body, url, "", algorithm="none")},
                                body),
        "expired": ({"Upstash-Signature": sign(body, url, CURRENT_KEY, now=now - 600)}, body),
        "not yet valid": ({"Upstash-Signature": sign(
            body, url, CURRENT_KEY, nbf=int(now) + 120, iat=int(now) + 120,
            exp=int(now) + 600)}, body),
        "body hash mismatch": ({"Upstash-Signature": sign(body, url, CURRENT_KEY)},
                               other_body),
        "another URL": ({"Upstash-Signature": sign(
            body, "https://elsewhere.example.com" + PATH, CURRENT_KEY)}, body),
        "another issuer": ({"Upstash-Signature": sign(body, url, CURRENT_KEY, iss="Me")},
                           body),
        "no body claim": ({"Upstash-Signature": sign(body, url, CURRENT_KEY, body=None)},
                          body),
        "no exp claim": ({"Upstash-Signature": sign(body, url, CURRENT_KEY, exp=None)}, body),
    }
    client = app.client()
    before = app.runtime.store.get_job(job["id"])
    assert before is not None
    for name, (headers, content) in cases.items():
        response = client.post(PATH, content=content,
                               headers={"Content-Type": "application/json", **headers})
        assert response.status_code == 401, (name, response.text)
        assert response.json()["error"], name
    after = app.runtime.store.get_job(job["id"])
    assert after is not None
    assert (after.status, after.version, after.attempts) == ("pending", before.version, 0)
    assert after.apify_run_id is None

    # The same request, properly signed, is acted on; and a signed reaper tick is answered.
    response = client.post(PATH, content=body, headers={
        "Content-Type": "application/json", "Upstash-Signature": sign(body, url, CURRENT_KEY)})
    assert response.status_code == 200, response.text
    assert response.json()["jobId"] == job["id"]
    assert app.runtime.store.get_job(job["id"]).attempts == 1  # type: ignore[union-attr]
    reap = b'{"reap": true}'
    response = client.post(PATH, content=reap, headers={
        "Content-Type": "application/json", "Upstash-Signature": sign(reap, url, NEXT_KEY)})
    assert response.json() == {"reaped": True}
    standin.release()
    final, _ = wait_for_job(alice, job)
    assert final["status"] == "completed"


def test_a_rotated_key_is_accepted(start_qstash_app: Callable[..., App],
                                   standin: QStashStandIn, held_sandbox: HeldSandbox) -> None:
    """After a key rotation QStash signs with what was the next key."""
    app = start_qstash_app(apify_api_url=held_sandbox.url)
    standin.sign_with = "next"
    alice = app.user("alice@example.com")
    job = start(alice, ["yoga"], 300)
    # The run held until two deliveries signed with the next key were acted on and answered.
    run = held_sandbox.run(1)
    wait_until(lambda: delivered(standin, job["id"]) >= 2, 30, "two answered deliveries")
    held_sandbox.finish(run)
    final, _ = wait_for_job(alice, job)
    assert final["status"] == "completed"


def test_redelivered_and_concurrent_copies_do_no_harm(
        start_qstash_app: Callable[..., App], standin: QStashStandIn,
        held_sandbox: HeldSandbox) -> None:
    # A budget far longer than the test needs: the delivery that claims the job keeps it,
    # its run held, until the test finishes the run, so no copy finds it parked.
    app = start_qstash_app(apify_api_url=held_sandbox.url, qstash_budget_seconds=30)
    alice = app.user("alice@example.com")
    standin.hold = True
    job = start(alice, ["fitness"], 400)
    (first,) = wait_until(standin.held, what="the job's message")

    # Four copies at once: one claims the job and starts one run; the others answer 2xx
    # and do nothing.
    answered: list[list[int]] = []

    def deliver() -> None:
        answered.append(standin.deliver_copies(first, 4))

    copies = threading.Thread(target=deliver, daemon=True)
    copies.start()
    run = held_sandbox.run(1)

    def others_answered() -> list[Attempt] | None:
        answers = standin.answers({first.id})
        return answers if len(answers) >= 3 else None

    others = wait_until(others_answered, 30, "the copies that found the job taken to answer")
    assert [a.status for a in others] == [200] * 3  # the claiming copy is still at work
    row = app.runtime.store.get_job(job["id"])
    assert row is not None and row.attempts == 1
    assert held_sandbox.state.runs_started == 1
    held_sandbox.finish(run)
    wait_until(lambda: not copies.is_alive(), 60, "the claiming copy to be answered")
    assert answered == [[200] * 4]
    final, _ = wait_for_job(alice, job)
    assert final["status"] == "completed"

    # Old messages delivered again after the end change nothing.
    done = app.runtime.store.get_job(job["id"])
    assert done is not None
    for message in standin.messages_for(job["id"]):
        assert standin.deliver_copies(message, 2) == [200, 200]
    again = app.runtime.store.get_job(job["id"])
    assert again is not None
    assert (again.version, again.attempts, again.processed_results) == (
        done.version, done.attempts, done.processed_results)
    assert held_sandbox.state.runs_started == 1
    items, _, handles = expected_creators(app.runtime, job["id"])
    assert final["processedResults"] == items
    assert final["creatorsCount"] == len(handles)
    assert len(alice.get(f"/api/jobs/{job['id']}/results").json()) == len(handles)


def test_a_lost_next_message_is_published_again_by_the_reaper(
        start_qstash_app: Callable[..., App], standin: QStashStandIn,
        held_sandbox: HeldSandbox) -> None:
    # The reaper runs every third of the heartbeat timeout, in the web process.
    app = start_qstash_app(apify_api_url=held_sandbox.url, heartbeat_timeout_seconds=3)
    lost: list[Message] = []

    def drop_first_resume(message: Message) -> bool:
        if "quietSince" in message.json() and not lost:
            lost.append(message)
            return True
        return False

    standin.drop = drop_first_resume
    alice = app.user("alice@example.com")
    job = start(alice, ["yoga"], 500)
    # The run held until a delivery has parked the job and its resume message is lost.
    run = held_sandbox.run(1)
    wait_until(lambda: lost, 30, "a resume message to be dropped")
    held_sandbox.finish(run)
    final, _ = wait_for_job(alice, job, timeout=60)
    assert final["status"] == "completed"
    assert standin.dropped == lost and len(lost) == 1
    # After the lost one, a plain {"jobId"} message: the reaper's.
    messages = standin.messages_for(job["id"])
    after = messages[messages.index(lost[0]) + 1:]
    assert after and after[0].json() == {"jobId": job["id"]}


def test_the_stall_limit_spans_deliveries(start_qstash_app: Callable[..., App],
                                         standin: QStashStandIn) -> None:
    """A run that yields nothing ends as timeout although no single delivery lasts as long
    as the stall limit: each parked message says since when the job has had no news."""
    app = start_qstash_app(stall_timeout_seconds=3)
    alice = app.user("alice@example.com")
    job = start(alice, ["sandbox:fault=run:silent"], 50)
    final, _ = wait_for_job(alice, job, timeout=30)
    assert final["status"] == "timeout", final
    assert "STALL_TIMEOUT_SECONDS" in final["error"]
    wait_until(lambda: delivered(standin, job["id"]) >= 2, 10, "two answered deliveries")


def test_a_bad_message_is_refused_and_retried_by_qstash(
        start_qstash_app: Callable[..., App], standin: QStashStandIn) -> None:
    """A signed body of the wrong shape answers 400; QStash retries it with backoff."""
    app = start_qstash_app()
    standin.retries = 2
    with httpx.Client(base_url=standin.url) as qstash:
        response = qstash.post(f"/v2/publish/{app.url}{PATH}", content=b'{"job": 1}',
                               headers={"Authorization": f"Bearer {TOKEN}"})
    message_id = response.json()["messageId"]

    def three() -> list[Attempt] | None:
        answers = standin.answers({message_id})
        return answers if len(answers) == 3 else None

    attempts = wait_until(three, what="three attempts")
    assert [(a.retried, a.status) for a in attempts] == [(0, 400), (1, 400), (2, 400)]


def test_a_job_is_saved_even_when_qstash_refuses_it(
        start_qstash_app: Callable[..., App], standin: QStashStandIn) -> None:
    app = start_qstash_app(qstash_token="a-wrong-token")
    alice = app.user("alice@example.com")
    job = start(alice, ["yoga"], 10)  # 202, pending: the reaper publishes it later
    assert app.runtime.store.get_job(job["id"]) is not None
    assert standin.published == []


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_qstash_mode_needs_its_settings(make_settings: Callable[..., Settings]) -> None:
    with pytest.raises(ConfigError, match="PUBLIC_URL"):
        build_runtime(make_settings(queue_url="qstash", qstash_token=TOKEN,
                                    qstash_current_signing_key=CURRENT_KEY,
                                    qstash_next_signing_key=NEXT_KEY))
    with pytest.raises(ConfigError, match="QSTASH_NEXT_SIGNING_KEY"):
        build_runtime(make_settings(queue_url="qstash", qstash_token=TOKEN,
                                    qstash_current_signing_key=CURRENT_KEY,
                                    public_url="http://x"))


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_without_qstash_the_route_refuses_every_delivery(app: App) -> None:
    body = b'{"jobId": "x"}'
    response = app.client().post(PATH, content=body, headers={
        "Upstash-Signature": sign(body, f"{app.url}{PATH}", CURRENT_KEY)})
    assert response.status_code == 401
    assert "not enabled" in response.json()["error"]


def test_a_replayed_delivery_is_acknowledged_and_not_run(
        start_qstash_app: Callable[..., App], standin: QStashStandIn, sandbox: Sandbox) -> None:
    """A signed delivery captured and sent again (the same signature), or QStash's own
    duplicate (the same message id, signed anew), is answered 2xx and not run; a delivery
    that failed is forgotten, so QStash's retry of it runs."""
    app = start_qstash_app()
    client = app.client()
    url = f"{app.url}{PATH}"
    reap = b'{"reap": true}'
    signature = sign(reap, url, CURRENT_KEY)
    headers = {"Content-Type": "application/json", "Upstash-Signature": signature}
    answers = [client.post(PATH, content=reap, headers=headers).json() for _ in range(20)]
    assert answers == [{"reaped": True}] + [{"replayed": True}] * 19
    by_id = {"Content-Type": "application/json", "Upstash-Message-Id": "msg_1"}
    first = client.post(PATH, content=reap, headers={
        **by_id, "Upstash-Signature": sign(reap, url, CURRENT_KEY)})
    again = client.post(PATH, content=reap, headers={
        **by_id, "Upstash-Signature": sign(reap, url, NEXT_KEY)})
    assert (first.json(), again.json()) == ({"reaped": True}, {"replayed": True})

    # A delivery that fails (here its job runner) answers 5xx, and QStash's retry runs.
    queue = app.runtime.queue
    runner = queue._run_job  # type: ignore[attr-defined]

    def fails(*_: Any, **__: Any) -> None:
        raise QueueUnavailable("down for a moment")

    queue.bind(fails)
    body = json.dumps({"jobId": "00000000-0000-4000-8000-000000000000"}).encode()
    retried = {"Content-Type": "application/json", "Upstash-Message-Id": "msg_2"}
    failed = client.post(PATH, content=body, headers={
        **retried, "Upstash-Signature": sign(body, url, CURRENT_KEY)})
    assert failed.status_code == 503
    queue.bind(runner)
    retry = client.post(PATH, content=body, headers={
        **retried, "Upstash-Signature": sign(body, url, CURRENT_KEY)})
    assert retry.status_code == 200
    assert retry.json() == {"jobId": "00000000-0000-4000-8000-000000000000", "parked": False}


def test_webhook_deliveries_go_through_qstash(start_qstash_app: Callable[..., App],
                                              standin: QStashStandIn) -> None:
    """With no worker process, a webhook's delivery is a QStash message of its own, signed
    and delivered back like a job's."""
    app = start_qstash_app(WEBHOOK_ALLOW_PRIVATE=True)
    alice = app.user("alice@example.com")
    with receiver() as hook:
        webhook = alice.post("/api/webhooks", json={"url": hook.url,
                                                    "events": ["job.completed"]}).json()
        job = start(alice, ["yoga"], 10)
        final, _ = wait_for_job(alice, job)
        wait_until(lambda: hook.received or None, 30, "the webhook's delivery")
        sent = Verifier(webhook["secret"]).verify(hook.received[0].body,
                                                  hook.received[0].headers)
        assert (sent["type"], sent["data"]["id"]) == ("job.completed", final["id"])
    carried = [m.json() for m in standin.published if "deliveryId" in m.json()]
    assert len(carried) == 1 and isinstance(carried[0]["deliveryId"], int)
