"""A workspace's monthly budget: a search the rest cannot cover is refused (402, saying the
budget); a new search's budget is what is left at most, and reaches Apify as the run's
max_total_charge_usd; running searches hold their budgets, so searches started at once (on
PostgreSQL from several threads, as several users) never pass the cap together; deleting a
search gives nothing back; a new month starts afresh; only admins set it. Through the API on
SQLite and PostgreSQL + Redis, and in the store on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from scrapetrack.budget import MonthSpend, month_of, new_search_budget, usd
from scrapetrack.exceptions import OverBudget
from scrapetrack.jobs import Status
from scrapetrack.sandbox.actors import TIKTOK_SEARCH
from scrapetrack.store.models import ScrapingJob, utcnow
from scrapetrack.store.repository import Store
from scrapetrack.store.spend import Spending
from tests.conftest import HeldSandbox
from tests.integration.conftest import App, new_job, wait_for_job
from tests.integration.test_cli import env_for, run

PRICE = TIKTOK_SEARCH.price_per_item_usd  # $0.0003 an item


def resets_on(now: datetime | None = None) -> str:
    return f"{month_of(now or utcnow()).end:%Y-%m-%d}"


def set_job(store: Store, job_id: str, **values: Any) -> None:
    """What a worker (or time) would have made of a job, written straight to its row."""
    with store.writing() as s:
        s.execute(update(ScrapingJob).where(ScrapingJob.id == job_id).values(**values))


def search(client: httpx.Client, campaign_id: str, **extra: Any) -> httpx.Response:
    return client.post("/api/scraping/tiktok", json={
        "campaignId": campaign_id, "keywords": ["yoga"], "targetResults": 50, **extra})


def campaign_of(client: httpx.Client, workspace_id: str | None = None) -> str:
    body = {"name": "Budgeted"} | ({"workspaceId": workspace_id} if workspace_id else {})
    made = client.post("/api/campaigns", json=body)
    assert made.status_code == 201, made.text
    campaign_id: str = made.json()["id"]
    return campaign_id


def personal(client: httpx.Client) -> str:
    workspace_id: str = client.get("/api/workspaces").json()[0]["id"]
    return workspace_id


# --- through the API --------------------------------------------------------------------------
def test_a_search_over_budget_is_refused_and_the_rest_caps_the_next(
        held_sandbox: HeldSandbox, start_app: Callable[..., App]) -> None:
    app = start_app(apify_api_url=held_sandbox.url)
    alice = app.user(f"alice-{uuid.uuid4().hex[:6]}@example.com")
    workspace, campaign = personal(alice), campaign_of(alice)
    put = alice.put(f"/api/workspaces/{workspace}/budget", json={"monthlyUsd": 0.05})
    assert put.status_code == 200, put.text
    assert put.json() | {"resetsAt": None} == {
        "workspaceId": workspace, "month": month_of(utcnow()).label, "monthlyUsd": 0.05,
        "spentUsd": 0.0, "committedUsd": 0.0, "remainingUsd": 0.05, "resetsAt": None}

    # The first search may spend all that is left, and Apify is told so.
    first = search(alice, campaign)
    assert first.status_code == 202, first.text
    assert first.json()["budgetUsd"] == 0.05
    run = held_sandbox.run(1)
    assert run.plan.caps.max_total_charge_usd == 0.05

    # While it runs, its budget is held: nothing is left for another search.
    refused = search(alice, campaign, budgetUsd=0.01)
    assert refused.status_code == 402, refused.text
    assert refused.json() == {"error": "This workspace's monthly budget of $0.05 is spent: "
                                       "$0.05 committed this month (resets on "
                                       f"{resets_on()} UTC)"}
    assert alice.get(f"/api/workspaces/{workspace}/budget").json()["committedUsd"] == 0.05

    # Once it ends, what it did not spend is free again: 50 items cost $0.015.
    held_sandbox.finish(run)
    final, _ = wait_for_job(alice, first.json())
    assert final["status"] == "completed"
    assert final["costUsd"] == pytest.approx(50 * PRICE)
    state = alice.get(f"/api/workspaces/{workspace}/budget").json()
    assert state["spentUsd"] == state["committedUsd"] == pytest.approx(0.015)
    assert state["remainingUsd"] == pytest.approx(0.035)

    # A search asking for more than is left gets what is left; one asking less keeps its own.
    more = search(alice, campaign, budgetUsd=1.0)
    assert more.status_code == 202, more.text
    assert more.json()["budgetUsd"] == pytest.approx(0.035)
    assert held_sandbox.run(2).plan.caps.max_total_charge_usd == pytest.approx(0.035)
    refused = search(alice, campaign)
    assert refused.status_code == 402
    assert "$0.05 is spent: $0.05 committed" in refused.json()["error"]
    # A re-run is a new search, under the same budget.
    rerun = alice.post(f"/api/jobs/{first.json()['id']}/rerun")
    assert rerun.status_code == 402, rerun.text

    # Cancelled, its search charged what it had (nothing): the rest is free again.
    assert alice.post(f"/api/jobs/{more.json()['id']}/cancel").status_code == 202
    less = search(alice, campaign, budgetUsd=0.01)
    assert less.status_code == 202 and less.json()["budgetUsd"] == 0.01

    # Removing the budget lets searches start with their own.
    assert alice.put(f"/api/workspaces/{workspace}/budget",
                     json={"monthlyUsd": None}).json()["remainingUsd"] is None
    free = search(alice, campaign)
    assert free.status_code == 202 and free.json()["budgetUsd"] is None


def test_deleting_a_search_gives_no_budget_back(
        held_sandbox: HeldSandbox, start_app: Callable[..., App]) -> None:
    app = start_app(apify_api_url=held_sandbox.url)
    alice = app.user(f"alice-{uuid.uuid4().hex[:6]}@example.com")
    workspace, campaign = personal(alice), campaign_of(alice)
    alice.put(f"/api/workspaces/{workspace}/budget", json={"monthlyUsd": 0.03})
    jobs = [search(alice, campaign, budgetUsd=0.015).json() for _ in range(2)]
    for number in (1, 2):
        held_sandbox.finish(held_sandbox.run(number))
    for job in jobs:
        assert wait_for_job(alice, job)[0]["costUsd"] == pytest.approx(0.015)
    assert search(alice, campaign).status_code == 402

    assert alice.delete(f"/api/jobs/{jobs[0]['id']}").status_code == 204
    assert alice.delete(f"/api/campaigns/{campaign}").status_code == 204
    state = alice.get(f"/api/workspaces/{workspace}/budget").json()
    assert state["spentUsd"] == state["committedUsd"] == pytest.approx(0.03)
    refused = search(alice, campaign_of(alice))
    assert refused.status_code == 402
    assert refused.json()["error"].startswith("This workspace's monthly budget of $0.03 is "
                                              "spent: $0.03 committed this month")


@pytest.mark.all_stacks
def test_searches_started_at_once_never_pass_the_cap_together(
        held_sandbox: HeldSandbox, start_app: Callable[..., App]) -> None:
    """Eight members of a team start searches at the same moment: the budgets given out add
    up to the cap at most, and the searches the rest could not cover are refused."""
    app = start_app(apify_api_url=held_sandbox.url)
    owner = app.user(f"owner-{uuid.uuid4().hex[:6]}@example.com")
    workspace = owner.post("/api/workspaces", json={"name": "Team"}).json()["id"]
    campaign = campaign_of(owner, workspace)
    members = []
    for n in range(8):
        made = app.runtime.accounts.create_user(f"m{n}-{uuid.uuid4().hex[:6]}@example.com")
        app.runtime.teams.set_member(None, workspace, made.user.email, "member")
        members.append(app.client(made.token))
    assert owner.put(f"/api/workspaces/{workspace}/budget",
                     json={"monthlyUsd": 1.0}).status_code == 200

    with ThreadPoolExecutor(len(members)) as pool:
        answers = list(pool.map(lambda c: search(c, campaign, budgetUsd=0.3), members))
    started = [a.json() for a in answers if a.status_code == 202]
    refused = [a for a in answers if a.status_code != 202]
    assert all(a.status_code == 402 for a in refused), [a.text for a in refused]
    budgets = sorted(job["budgetUsd"] for job in started)
    # 0.3 + 0.3 + 0.3 + the 0.1 left; then nothing is left.
    assert budgets == pytest.approx([0.1, 0.3, 0.3, 0.3])
    assert len(refused) == 4
    caps = [held_sandbox.run(n).plan.caps.max_total_charge_usd or 0.0 for n in range(1, 5)]
    assert sorted(caps) == pytest.approx(budgets)
    assert sum(caps) <= 1.0 + 1e-9
    state = owner.get(f"/api/workspaces/{workspace}/budget").json()
    assert state["committedUsd"] == pytest.approx(1.0) and state["remainingUsd"] == 0


def test_a_new_month_starts_afresh(held_sandbox: HeldSandbox,
                                   start_app: Callable[..., App]) -> None:
    app = start_app(apify_api_url=held_sandbox.url)
    alice = app.user(f"alice-{uuid.uuid4().hex[:6]}@example.com")
    workspace, campaign = personal(alice), campaign_of(alice)
    alice.put(f"/api/workspaces/{workspace}/budget", json={"monthlyUsd": 0.02})
    job = search(alice, campaign).json()
    held_sandbox.finish(held_sandbox.run(1))
    assert wait_for_job(alice, job)[0]["costUsd"] == pytest.approx(0.015)
    assert search(alice, campaign).status_code == 402  # $0.005 is left

    # The same search, made last month: this month has spent nothing.
    last_month = month_of(utcnow()).start - timedelta(days=3)
    set_job(app.runtime.store, job["id"], created_at=last_month)
    state = alice.get(f"/api/workspaces/{workspace}/budget").json()
    assert state["spentUsd"] == 0 and state["remainingUsd"] == 0.02
    again = search(alice, campaign)
    assert again.status_code == 202 and again.json()["budgetUsd"] == 0.02


def test_only_admins_set_the_budget_and_bad_values_are_refused(
        held_sandbox: HeldSandbox, start_app: Callable[..., App]) -> None:
    app = start_app(apify_api_url=held_sandbox.url)
    emails = {role: f"{role}-{uuid.uuid4().hex[:6]}@example.com"
              for role in ("owner", "admin", "member", "viewer", "outsider")}
    owner = app.user(emails["owner"])
    workspace = owner.post("/api/workspaces", json={"name": "Team"}).json()["id"]
    clients = {"owner": owner}
    for role in ("admin", "member", "viewer", "outsider"):
        made = app.runtime.accounts.create_user(emails[role])
        if role != "outsider":
            app.runtime.teams.set_member(None, workspace, made.user.email, role)
        clients[role] = app.client(made.token)
    path = f"/api/workspaces/{workspace}/budget"
    expected = {"owner": 200, "admin": 200, "member": 403, "viewer": 403, "outsider": 404}
    for who, code in expected.items():
        put = clients[who].put(path, json={"monthlyUsd": 25})
        assert put.status_code == code, (who, put.text)
        got = clients[who].get(path)
        assert got.status_code == (404 if who == "outsider" else 200), (who, got.text)
    assert clients["member"].put(path, json={"monthlyUsd": 25}).json() == {
        "error": "Your role in this workspace (member) cannot do this; it needs admin or above"}
    assert clients["viewer"].get(path).json()["monthlyUsd"] == 25
    assert app.client().get(path).status_code == 401

    for bad in (0, -5, 2e6):
        answer = owner.put(path, json={"monthlyUsd": bad})
        assert answer.status_code == 400, (bad, answer.text)
        assert answer.json() == {"error": "monthlyUsd must be a number of dollars above 0 (at "
                                          "most 1,000,000), or null for no budget"}
    for raw in (b'{"monthlyUsd": Infinity}', b'{"monthlyUsd": NaN}'):
        answer = owner.put(path, content=raw, headers={"Content-Type": "application/json"})
        assert answer.status_code == 400, (raw, answer.text)
    for body in ({"monthlyUsd": "lots"}, {}):
        answer = owner.put(path, json=body)
        assert answer.status_code == 422 and set(answer.json()) == {"error"}, answer.text
    assert owner.get(path).json()["monthlyUsd"] == 25  # untouched by the refusals
    assert owner.get(f"/api/workspaces/{workspace}").json()["monthlyBudgetUsd"] == 25

    audit = owner.get(f"/api/workspaces/{workspace}/audit").json()["items"]
    changes = [e for e in audit if e["action"] == "budget.changed"]
    assert [(e["actor"], e["detail"]) for e in changes] == [
        (emails["admin"], {"monthlyUsd": 25}), (emails["owner"], {"monthlyUsd": 25})]


# Subprocesses are slow to start: the CLI on SQLite only (the store side runs on both).
@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_the_operator_sets_and_clears_a_budget_at_the_shell(app: App) -> None:
    env = env_for(app.runtime.settings)
    alice = app.user("alice@example.com")
    workspace = personal(alice)
    month = month_of(utcnow()).label
    shown = run(["workspaces", "budget", workspace], env)
    assert shown.stdout.strip() == f"{month}  budget none  spent $0  committed $0", shown.stderr
    made = run(["workspaces", "budget", workspace, "--monthly-usd", "49.8"], env)
    assert made.stdout.strip() == (f"{month}  budget $49.80  spent $0  committed $0  "
                                   "remaining $49.80")
    assert alice.get(f"/api/workspaces/{workspace}/budget").json()["monthlyUsd"] == 49.8
    for args in (["--monthly-usd", "-1"], ["--monthly-usd", "5", "--clear"]):
        refused = run(["workspaces", "budget", workspace, *args], env)
        assert refused.returncode == 1 and "error:" in refused.stderr, refused
    assert "budget none" in run(["workspaces", "budget", workspace, "--clear"], env).stdout
    audit = alice.get(f"/api/workspaces/{workspace}/audit").json()["items"]
    assert [(e["actor"], e["detail"]) for e in audit if e["action"] == "budget.changed"] == [
        (None, {"monthlyUsd": None}), (None, {"monthlyUsd": 49.8})]


# --- in the store -------------------------------------------------------------------------------
def test_committed_holds_running_budgets_and_keeps_deleted_costs(store: Store) -> None:
    job = new_job(store)
    workspace, campaign, user = job.workspace_id, job.campaign_id, job.user_id
    spending = Spending(store)
    assert spending.month(workspace).cap is None
    spending.set_cap(workspace, 10.0)
    # Ended: its cost. Running: the larger of its cost and its budget. No budget: its cost.
    set_job(store, job.id, status=Status.COMPLETED, cost_usd=1.25, budget_usd=4.0)
    running = store.create_job(campaign_id=campaign, user_id=user, platform="tiktok",
                               keywords=["a"], target_results=5)
    set_job(store, running.id, status=Status.PROCESSING, cost_usd=0.5, budget_usd=2.0)
    over = store.create_job(campaign_id=campaign, user_id=user, platform="tiktok",
                            keywords=["b"], target_results=5)
    set_job(store, over.id, cost_usd=0.75, budget_usd=0.5)  # pending, past its budget
    unbudgeted = store.create_job(campaign_id=campaign, user_id=user, platform="tiktok",
                                  keywords=["c"], target_results=5)
    set_job(store, unbudgeted.id, cost_usd=0.25)
    month = spending.month(workspace)
    assert (month.cap, month.spent, month.committed, month.remaining) == (
        10.0, 2.75, 4.25, 5.75)

    # Deleted (the ended one alone, then the rest with their campaign): nothing comes back.
    assert store.delete_jobs([job.id]) == [job.id]
    assert spending.month(workspace).spent == 2.75
    set_job(store, running.id, status=Status.CANCELLED)
    assert store.delete_campaign(campaign)
    month = spending.month(workspace)
    assert (month.spent, month.committed, month.remaining) == (2.75, 2.75, 7.25)


def test_the_month_is_the_jobs_creation_month_in_utc(store: Store) -> None:
    job = new_job(store)
    spending = Spending(store)
    spending.set_cap(job.workspace_id, 5.0)
    now = utcnow()
    previous = month_of(now).start - timedelta(microseconds=1)
    set_job(store, job.id, status=Status.COMPLETED, cost_usd=3.0, created_at=previous)
    assert spending.month(job.workspace_id).spent == 0.0
    assert spending.month(job.workspace_id, previous).spent == 3.0
    # Deleted, it still counts in its own month, not in this one.
    store.delete_jobs([job.id])
    assert spending.month(job.workspace_id).spent == 0.0
    assert spending.month(job.workspace_id, previous).spent == 3.0
    other = new_job(store, job.campaign_id, job.user_id)
    set_job(store, other.id, status=Status.COMPLETED, cost_usd=1.0,
            created_at=month_of(now).start)  # the first instant of this month
    assert spending.month(job.workspace_id).spent == 1.0


def test_the_check_lowers_the_new_jobs_budget_in_the_same_transaction(store: Store) -> None:
    job = new_job(store)
    Spending(store).set_cap(job.workspace_id, 1.0)
    set_job(store, job.id, status=Status.PROCESSING, budget_usd=0.75)
    seen: list[MonthSpend | None] = []

    def check(counts: Any) -> dict[str, Any]:
        seen.append(counts.spend)
        return {"budget_usd": new_search_budget(0.5, counts.spend)}

    made = store.create_job(check, campaign_id=job.campaign_id, user_id=job.user_id,
                            workspace_id=job.workspace_id, platform="tiktok",
                            keywords=["x"], target_results=5)
    assert made.budget_usd == 0.25 and seen[0] is not None and seen[0].committed == 0.75
    with pytest.raises(OverBudget) as refused:
        store.create_job(check, campaign_id=job.campaign_id, user_id=job.user_id,
                         workspace_id=job.workspace_id, platform="tiktok",
                         keywords=["y"], target_results=5)
    assert refused.value.message == ("This workspace's monthly budget of $1 is spent: $1 "
                                     f"committed this month (resets on {resets_on()} UTC)")
    assert len(store.campaign_jobs(job.campaign_id)) == 2  # nothing half-written


# --- the arithmetic ---------------------------------------------------------------------------
def test_months_and_money() -> None:
    assert month_of(datetime(2026, 12, 31, 23, 59, tzinfo=UTC)).end == datetime(
        2027, 1, 1, tzinfo=UTC)
    paris = timezone(timedelta(hours=1))
    assert month_of(datetime(2027, 1, 1, 0, 30, tzinfo=paris)).label == "2026-12"
    assert [usd(v) for v in (50, 49.8, 0.0099, 1234.5, 0.0)] == [
        "$50", "$49.80", "$0.0099", "$1,234.50", "$0"]
    month = month_of(datetime(2026, 12, 5, tzinfo=UTC))
    spend = MonthSpend("w", month, 50.0, 49.8, 49.995)
    assert spend.exhausted
    with pytest.raises(OverBudget, match=r"^This workspace's monthly budget of \$50 is "
                       r"spent: \$49.995 committed this month \(resets on 2027-01-01 UTC\)$"):
        new_search_budget(None, spend)
    assert new_search_budget(3.0, MonthSpend("w", month, None, 80, 90)) == 3.0
    assert new_search_budget(None, MonthSpend("w", month, 50, 10, 20)) == 30

