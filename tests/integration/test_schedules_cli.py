"""`scrapetrack schedules add|list|pause|resume|rm` as a user runs them: real subprocesses
talking HTTP to a real server."""

from __future__ import annotations

import json

import pytest

from tests.integration.conftest import App
from tests.integration.test_cli import run
from tests.integration.test_cli_client import client_env

SQLITE_ONLY = pytest.mark.parametrize("stack", ["sqlite"], indirect=True)


@SQLITE_ONLY
def test_schedules_commands(app: App) -> None:
    env, client = client_env(app, "sched-cli@example.com")
    env["COLUMNS"] = "80"
    added = run(["schedules", "add", "tiktok", "-k", "yoga", "-k", "pilates", "--cron",
                 "0 9 * * 1", "--timezone", "Europe/Berlin", "--target", "40",
                 "--missed", "skip", "--campaign", "Weekly"], env)
    assert added.returncode == 0, added.stderr
    sid, said = added.stdout.split(" ", 1)
    assert said.startswith("saved: next at ")
    saved = client.get(f"/api/schedules/{sid}").json()
    assert (saved["keywords"], saved["targetResults"], saved["timezone"], saved["missed"]) == (
        ["yoga", "pilates"], 40, "Europe/Berlin", "skip")
    campaigns = {c["id"]: c["name"] for c in client.get("/api/campaigns").json()}
    assert campaigns[saved["campaignId"]] == "Weekly"

    similar = json.loads(run(["schedules", "add", "youtube", "--similar-to", "@coach.maria",
                              "--cron", "@daily", "--paused", "--json"], env).stdout)
    assert (similar["kind"], similar["targetUsername"], similar["paused"],
            similar["nextFireAt"]) == ("similar", "coach.maria", True, None)

    table = run(["schedules", "list"], env)
    assert table.returncode == 0, table.stderr
    assert max(len(line) for line in table.stdout.splitlines()) <= 80, table.stdout
    assert sid[:8] in table.stdout and similar["id"][:8] in table.stdout
    assert sid not in table.stdout  # the whole id is in --json
    assert "paused" in table.stdout and "active" in table.stdout
    listed = json.loads(run(["schedules", "list", "--json", "--campaign",
                             saved["campaignId"]], env).stdout)
    assert [s["id"] for s in listed] == [sid]

    paused = run(["schedules", "pause", sid[:8]], env)  # the short id the table shows
    assert paused.returncode == 0 and paused.stdout.strip() == f"{sid} paused"
    resumed = json.loads(run(["schedules", "resume", sid, "--json"], env).stdout)
    assert resumed["paused"] is False and resumed["nextFireAt"] == saved["nextFireAt"]

    refused = run(["schedules", "add", "tiktok", "-k", "x", "--cron", "every monday"], env)
    assert refused.returncode == 1
    assert "is not a cron expression of five fields" in refused.stderr
    assert run(["schedules", "add", "tiktok", "--cron", "* * * * *"], env).returncode == 1

    removed = run(["schedules", "rm", sid, "--yes"], env)
    assert removed.returncode == 0 and removed.stdout.strip() == f"schedule {sid} deleted"
    missing = run(["schedules", "rm", sid, "--yes"], env)
    assert missing.returncode == 1 and "Schedule not found" in missing.stderr
    asked = run(["schedules", "rm", similar["id"]], env, input="n\n")
    assert asked.returncode == 1
    assert [s["id"] for s in client.get("/api/schedules").json()] == [similar["id"]]
