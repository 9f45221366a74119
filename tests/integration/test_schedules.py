"""Saved and scheduled searches: the API (validation, access, pause and resume, delete) on a
running app, and missed firings after a deployment was down, for each `missed` policy, with a
real runtime starting its worker. On SQLite and on PostgreSQL + Redis."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import update

from scrapetrack.access import Actor
from scrapetrack.config import Settings
from scrapetrack.runtime import Runtime, build_runtime
from scrapetrack.schedules import ScheduleSpec, next_time, previous_time
from scrapetrack.store.models import Schedule, ScrapingJob, utcnow
from tests.conftest import wait_until
from tests.integration.conftest import App

WEEKLY = "0 9 * * 1"  # never due while a test runs, unless the test moves it


def schedule_body(campaign_id: str, **extra: object) -> dict[str, object]:
    return {"campaignId": campaign_id, "platform": "tiktok", "keywords": ["yoga"],
            "targetResults": 20, "cron": WEEKLY, **extra}


def new_campaign(client: httpx.Client, **extra: object) -> str:
    made = client.post("/api/campaigns", json={"name": "scheduled", **extra})
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def test_create_read_pause_resume_edit_and_delete(app: App) -> None:
    alice = app.user(f"alice-{uuid.uuid4().hex[:6]}@example.com")
    campaign = new_campaign(alice)
    made = alice.post("/api/schedules", json=schedule_body(
        campaign, keywords=[" yoga ", "pilates", "yoga"], timezone="Europe/Berlin",
        missed="skip", budgetUsd=1.5))
    assert made.status_code == 201, made.text
    schedule = made.json()
    assert schedule["keywords"] == ["yoga", "pilates"]  # checked as a search is
    assert (schedule["kind"], schedule["cron"], schedule["timezone"], schedule["missed"],
            schedule["paused"], schedule["budgetUsd"]) == (
        "keyword", WEEKLY, "Europe/Berlin", "skip", False, 1.5)
    expected = next_time(WEEKLY, "Europe/Berlin", utcnow())
    assert datetime.fromisoformat(schedule["nextFireAt"]) == expected
    assert expected.astimezone(ZoneInfo("Europe/Berlin")).hour == 9
    assert schedule["lastFiredAt"] is schedule["lastJobId"] is schedule["lastError"] is None
    sid = schedule["id"]

    assert alice.get(f"/api/schedules/{sid}").json() == schedule
    assert [s["id"] for s in alice.get("/api/schedules").json()] == [sid]
    assert [s["id"] for s in alice.get("/api/schedules",
                                       params={"campaignId": campaign}).json()] == [sid]
    other = new_campaign(alice, description="another")
    assert alice.get("/api/schedules", params={"campaignId": other}).json() == []
    assert [s["id"] for s in alice.get("/api/schedules", params={
        "workspace": schedule["workspaceId"]}).json()] == [sid]

    paused = alice.patch(f"/api/schedules/{sid}", json={"paused": True})
    assert paused.status_code == 200, paused.text
    assert paused.json()["paused"] is True and paused.json()["nextFireAt"] is None
    resumed = alice.patch(f"/api/schedules/{sid}", json={"paused": False}).json()
    assert resumed["paused"] is False and resumed["nextFireAt"] == schedule["nextFireAt"]

    edited = alice.patch(f"/api/schedules/{sid}", json={
        "cron": "30 6 * * *", "timezone": "UTC", "targetUsername": "@coach.maria"}).json()
    assert (edited["kind"], edited["targetUsername"], edited["keywords"]) == (
        "similar", "coach.maria", None)
    assert edited["targetResults"] == 20 and edited["missed"] == "skip"
    assert datetime.fromisoformat(edited["nextFireAt"]) == next_time(
        "30 6 * * *", "UTC", utcnow())
    moved = alice.patch(f"/api/schedules/{sid}", json={"campaignId": other}).json()
    assert moved["campaignId"] == other

    assert alice.delete(f"/api/schedules/{sid}").status_code == 204
    assert alice.get(f"/api/schedules/{sid}").status_code == 404
    assert alice.delete(f"/api/schedules/{sid}").json() == {"error": "Schedule not found"}
    audit = alice.get(f"/api/workspaces/{schedule['workspaceId']}/audit").json()["items"]
    assert [e["action"] for e in audit if e["target"] == sid] == [
        "schedule.deleted", *["schedule.changed"] * 4, "schedule.created"]


BAD: list[tuple[dict[str, object], str]] = [
    ({"cron": "61 * * * *"}, "cron '61 * * * *' is not a cron expression of five fields"),
    ({"cron": "* * * * * *"}, "is not a cron expression of five fields"),
    ({"cron": "0 0 31 2 *"}, "cron '0 0 31 2 *' never fires"),
    ({"cron": ""}, "cron must be 1 to 120 characters"),
    ({"timezone": "Mars/Olympus"}, "timezone 'Mars/Olympus' is not an IANA time zone"),
    ({"timezone": "../../etc/passwd"}, "is not an IANA time zone"),
    ({"keywords": []}, "keywords must be a list of 1 to 20 search terms"),
    ({"keywords": None}, "keywords must be a list of 1 to 20 search terms"),
    ({"targetResults": 0}, "targetResults must be a whole number from 1 to"),
    ({"targetUsername": "coach"}, "Give either keywords or targetUsername, not both"),
    ({"keywords": None, "targetUsername": "a b"}, "targetUsername must be a handle"),
    ({"budgetUsd": -1}, "budgetUsd must be a number of dollars above 0"),
]


def test_bad_input_is_a_400_and_saves_nothing(app: App) -> None:
    client = app.user(f"v-{uuid.uuid4().hex[:6]}@example.com")
    campaign = new_campaign(client)
    made = client.post("/api/schedules", json=schedule_body(campaign)).json()
    for change, error in BAD:
        answer = client.post("/api/schedules", json=schedule_body(campaign, **change))
        assert answer.status_code == 400, (change, answer.text)
        assert error in answer.json()["error"], change
        # The same checks on an edit, which leaves the schedule as it was.
        edit = change if "targetUsername" not in change or "keywords" in change \
            else {"keywords": ["yoga"], **change}
        answer = client.patch(f"/api/schedules/{made['id']}", json=edit)
        assert answer.status_code == 400, (edit, answer.text)
        assert error in answer.json()["error"], edit
    assert client.get("/api/schedules").json() == [made]


def test_other_shapes_of_bad_input(app: App) -> None:
    client = app.user(f"w-{uuid.uuid4().hex[:6]}@example.com")
    campaign = new_campaign(client)
    unknown = client.post("/api/schedules", json=schedule_body(campaign, platform="myspace"))
    assert unknown.status_code == 404 and unknown.json() == {"error": "Unknown platform"}
    missed = client.post("/api/schedules", json=schedule_body(campaign, missed="twice"))
    assert missed.status_code == 422 and "missed" in missed.json()["error"]
    no_cron = client.post("/api/schedules", json={"campaignId": campaign, "keywords": ["a"],
                                                   "platform": "tiktok"})
    assert no_cron.status_code == 422 and "cron" in no_cron.json()["error"]
    made = client.post("/api/schedules", json=schedule_body(campaign)).json()
    null = client.patch(f"/api/schedules/{made['id']}", json={"cron": None})
    assert null.status_code == 400 and null.json() == {"error": "cron cannot be null"}
    assert client.get("/api/schedules", params={"campaignId": "x" * 80}).status_code == 404
    assert client.get("/api/schedules", params={"workspace": str(uuid.uuid4())}
                      ).json() == {"error": "Workspace not found"}


def test_access_follows_the_workspace(app: App) -> None:
    """Another user's schedule is missing (404); a viewer of the workspace reads it but cannot
    create, change or delete one (403); a member can, and the firing then runs as them."""
    owner_made = app.runtime.accounts.create_user(f"o-{uuid.uuid4().hex[:6]}@example.com")
    owner = app.client(owner_made.token)
    workspace = owner.post("/api/workspaces", json={"name": "Team"}).json()["id"]
    campaign = new_campaign(owner, workspaceId=workspace)
    schedule = owner.post("/api/schedules", json=schedule_body(campaign)).json()
    path = f"/api/schedules/{schedule['id']}"

    stranger = app.user(f"s-{uuid.uuid4().hex[:6]}@example.com")
    assert stranger.get("/api/schedules").json() == []
    for answer in (stranger.get(path), stranger.patch(path, json={"paused": True}),
                   stranger.delete(path)):
        assert answer.status_code == 404 and answer.json() == {"error": "Schedule not found"}
    assert stranger.post("/api/schedules", json=schedule_body(campaign)).json() == {
        "error": "Campaign not found"}

    emails = {}
    for role in ("viewer", "member"):
        made = app.runtime.accounts.create_user(f"{role}-{uuid.uuid4().hex[:6]}@example.com")
        emails[role] = app.client(made.token)
        app.runtime.teams.set_member(None, workspace, made.user.email, role)
    viewer, member = emails["viewer"], emails["member"]
    assert viewer.get(path).json() == schedule
    assert [s["id"] for s in viewer.get("/api/schedules").json()] == [schedule["id"]]
    for answer in (viewer.patch(path, json={"paused": True}), viewer.delete(path),
                   viewer.post("/api/schedules", json=schedule_body(campaign))):
        assert answer.status_code == 403, answer.text
        assert "needs member or above" in answer.json()["error"]
    taken = member.patch(path, json={"targetResults": 30})
    assert taken.status_code == 200, taken.text
    assert taken.json()["createdBy"] != schedule["createdBy"]
    assert member.delete(path).status_code == 204


def test_a_job_started_by_a_schedule_says_so(app: App) -> None:
    client = app.user(f"j-{uuid.uuid4().hex[:6]}@example.com")
    campaign = new_campaign(client)
    schedule = client.post("/api/schedules", json=schedule_body(campaign)).json()
    due = datetime.fromisoformat(schedule["nextFireAt"])
    fired = app.runtime.schedules.tick(due + timedelta(seconds=1))
    assert [(f.schedule_id, f.outcome) for f in fired] == [(schedule["id"], "fired")]
    job = client.get(f"/api/jobs/{fired[0].job_id}").json()
    assert job["scheduleId"] == schedule["id"]
    assert datetime.fromisoformat(job["scheduledFor"]) == due
    after = client.get(f"/api/schedules/{schedule['id']}").json()
    assert after["lastJobId"] == job["id"] and after["lastFiredAt"] == job["scheduledFor"]
    assert datetime.fromisoformat(after["nextFireAt"]) == next_time(WEEKLY, "UTC", due)
    # The same tick again (another worker's, say) starts nothing more.
    assert app.runtime.schedules.tick(due + timedelta(seconds=1)) == []


# --- missed firings, as a deployment that was down finds them on start ------------------------
@pytest.fixture
def down(make_settings: Callable[..., Settings]) -> Iterator[Runtime]:
    """A runtime whose worker has not started: the deployment is down."""
    runtime = build_runtime(make_settings(SCHEDULE_MISFIRE_GRACE_SECONDS=10), migrate=True,
                            embedded_worker=False)
    yield runtime
    runtime.close()


def missed_schedule(runtime: Runtime, missed: str, late: timedelta,
                    cron: str = "*/5 * * * *") -> Schedule:
    """A schedule whose next firing was `late` ago (a cron time: the one it would have had)."""
    user = runtime.accounts.create_user(f"m-{uuid.uuid4().hex[:6]}@example.com").user
    actor = Actor(user.id, user.email)
    campaign = runtime.service.create_campaign(actor, "nightly", None)
    schedule = runtime.schedules.create(actor, ScheduleSpec(
        campaign_id=campaign.id, platform="tiktok", cron=cron, keywords=["yoga"],
        target_results=10, missed=missed))
    due = next_time(cron, "UTC", utcnow() - late - timedelta(minutes=5))
    with runtime.store.writing() as s:
        s.execute(update(Schedule).where(Schedule.id == schedule.id).values(next_fire_at=due))
    return schedule


def jobs_of(runtime: Runtime, schedule_id: str) -> list[ScrapingJob]:
    with runtime.store.reading() as s:
        return list(s.query(ScrapingJob).filter(ScrapingJob.schedule_id == schedule_id))


def fetched(runtime: Runtime, schedule_id: str) -> Schedule:
    with runtime.store.reading() as s:
        found = s.get(Schedule, schedule_id)
    assert found is not None
    return found


@pytest.mark.parametrize("policy", ["run_once", "skip"])
def test_a_firing_missed_while_down_follows_its_policy_on_start(down: Runtime,
                                                                policy: str) -> None:
    """Down for hours (many five-minute times missed): on start, run_once starts ONE search,
    for the latest time missed; skip starts none. Either way the next firing is ahead."""
    schedule = missed_schedule(down, policy, timedelta(hours=3))
    # Start clear of a five-minute time: within the grace after one, that time is on time
    # (it fires whatever the policy); one passing mid-test would be a firing of its own.
    clear = timedelta(seconds=down.settings.schedule_misfire_grace_seconds + 5)
    wait_until(lambda: (utcnow() - previous_time("*/5 * * * *", "UTC", utcnow()) > clear
                        and next_time("*/5 * * * *", "UTC", utcnow()) - utcnow() > clear)
               or None, 60, "a moment clear of a firing time")
    started = utcnow()
    down.start_worker()  # it ticks once as it starts
    jobs = jobs_of(down, schedule.id)
    after = fetched(down, schedule.id)
    assert after.next_fire_at is not None and after.next_fire_at > started
    assert after.next_fire_at == next_time("*/5 * * * *", "UTC", started)
    if policy == "skip":
        assert jobs == [] and after.last_job_id is None and after.last_error is None
        return
    assert len(jobs) == 1
    latest = after.next_fire_at - timedelta(minutes=5)
    assert jobs[0].scheduled_for == latest and after.last_fired_at == latest
    assert after.last_job_id == jobs[0].id and after.last_error is None
    # Another worker starting, and later ticks, start nothing more.
    assert down.schedules.tick() == []
    assert len(jobs_of(down, schedule.id)) == 1


@pytest.mark.parametrize("policy", ["run_once", "skip"])
def test_a_firing_within_the_grace_is_on_time_whatever_the_policy(down: Runtime,
                                                                  policy: str) -> None:
    schedule = missed_schedule(down, policy, timedelta(seconds=-290), cron="* * * * *")
    due = fetched(down, schedule.id).next_fire_at
    assert due is not None
    grace = down.settings.schedule_misfire_grace_seconds
    fired = down.schedules.tick(due + timedelta(seconds=grace - 1))
    assert [f.outcome for f in fired] == ["fired"]
    assert [j.scheduled_for for j in jobs_of(down, schedule.id)] == [due]


def test_a_firing_that_cannot_start_is_recorded_and_the_schedule_goes_on(
        down: Runtime) -> None:
    """Its owner left the workspace: the firing records why and moves on; the tick lives."""
    schedule = missed_schedule(down, "run_once", timedelta(seconds=-290), cron="* * * * *")
    other = missed_schedule(down, "run_once", timedelta(seconds=-290), cron="* * * * *")
    assert schedule.user_id is not None
    with down.store.writing() as s:  # as if they had left it
        s.execute(update(Schedule).where(Schedule.id == schedule.id).values(
            workspace_id=other.workspace_id, campaign_id=other.campaign_id))
    due = fetched(down, schedule.id).next_fire_at
    assert due is not None
    fired = {f.schedule_id: f for f in down.schedules.tick(due + timedelta(seconds=1))}
    assert fired[other.id].outcome == "fired"
    assert fired[schedule.id].outcome == "failed"
    after = fetched(down, schedule.id)
    assert after.last_error is not None and "is no longer a member of this workspace" in \
        after.last_error
    assert after.next_fire_at == due + timedelta(minutes=1)
    assert jobs_of(down, schedule.id) == []


def test_a_second_process_with_the_same_due_row_starts_nothing(down: Runtime) -> None:
    """Two workers read the same due schedule before either moved it on: the second one's
    insert meets the job's unique (schedule, time), so it starts nothing and moves nothing."""
    schedule = missed_schedule(down, "run_once", timedelta(seconds=-290), cron="* * * * *")
    stale = fetched(down, schedule.id)  # what both processes read
    assert stale.next_fire_at is not None
    now = stale.next_fire_at + timedelta(seconds=2)
    first = down.schedules._fire(stale, now)
    second = down.schedules._fire(stale, now)
    assert (first.outcome, second.outcome) == ("fired", "already")
    assert len(jobs_of(down, schedule.id)) == 1
    after = fetched(down, schedule.id)
    assert after.last_job_id == first.job_id
    assert after.next_fire_at == stale.next_fire_at + timedelta(minutes=1)
