"""The CLI's tables at 80 columns (short ids, relative times, long text folded, never a
column cut to two letters) and the short ids they show taken back by every command that
takes an id; the whole ids stay in --json. Real subprocesses over HTTP."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from scrapetrack.exceptions import InputError, NotFound
from scrapetrack.shortids import resolve
from tests.integration.conftest import App, wait_for_job
from tests.integration.test_cli import env_for, run
from tests.integration.test_cli_client import client_env

SQLITE_ONLY = pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
KEYWORDS = ["sustainable fashion haul", "capsule wardrobe essentials for autumn"]


def fits(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    widths = [len(line) for line in result.stdout.splitlines()]
    assert widths and max(widths) <= 80, result.stdout
    return result.stdout


def test_a_prefix_resolves_to_one_id_or_says_why_not() -> None:
    ids = ["3f6c1a52-9d1e-4c4b-9a43-2f1de0c1a0b7", "3f6c99aa-9d1e-4c4b-9a43-2f1de0c1a0b7",
           "0b6d8e2c-0000-4000-8000-000000000000"]
    assert resolve("0b6d8e2c", lambda: ids, "job") == ids[2]
    assert resolve("3F6C1A", lambda: ids, "job") == ids[0]

    def never() -> list[str]:
        raise AssertionError("a whole id needs no listing")

    assert resolve(ids[1], never, "job") == ids[1]
    with pytest.raises(InputError, match=r"'3f6c' is the start of 2 jobs \(3f6c1a52-.*, "
                                         r"3f6c99aa-.*\): give more of the id"):
        resolve("3f6c", lambda: ids, "job")
    with pytest.raises(NotFound, match="Job not found: no job of yours starts with 'ffff'"):
        resolve("ffff", lambda: ids, "job")


@SQLITE_ONLY
def test_tables_fit_80_columns_and_short_ids_work_everywhere(app: App) -> None:
    env, api = client_env(app, "narrow@example.com")
    env["COLUMNS"] = "80"
    campaign = api.post("/api/campaigns", json={
        "name": "Autumn launch for the northern hemisphere markets",
        "description": "Creators who talk about slow fashion, second-hand finds and "
                       "mending"}).json()
    job = api.post("/api/scraping/tiktok", json={
        "campaignId": campaign["id"], "keywords": KEYWORDS, "targetResults": 20}).json()
    final, _ = wait_for_job(api, job)
    assert final["status"] == "completed"
    short = job["id"][:8]

    table = fits(run(["jobs", "list"], env))
    assert short in table and job["id"] not in table
    for whole in ("tiktok", "completed", "20/20", str(final["creatorsCount"])):
        assert re.search(rf"(^|\s){re.escape(whole)}(\s|$)", table, re.M), (whole, table)
    assert re.search(r"just now|\d+ min ago", table), table
    for word in " ".join(KEYWORDS).split():
        assert word in table, (word, table)  # folded onto more lines, never cut
    listed = json.loads(run(["jobs", "list", "--json"], env).stdout)
    assert [j["id"] for j in listed] == [job["id"]]  # the whole id in --json

    campaigns = fits(run(["campaigns", "list"], env))
    assert campaign["id"][:8] in campaigns and campaign["id"] not in campaigns
    for word in (campaign["name"] + " " + campaign["description"]).split():
        assert word.strip(",") in campaigns, (word, campaigns)
    assert json.loads(run(["campaigns", "list", "--json"], env).stdout)[0]["id"] == \
        campaign["id"]

    # Every command that takes a job id takes its first 8 characters.
    shown = run(["jobs", "show", short, "--json"], env)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["id"] == job["id"]
    assert "completed" in run(["jobs", "show", short], env).stdout
    exported = run(["export", short, "--format", "json"], env)
    assert json.loads(exported.stdout) == api.get(f"/api/jobs/{job['id']}/results").json()
    late = run(["jobs", "cancel", short], env)
    assert late.returncode == 1 and "already ended as completed" in late.stderr
    rerun = run(["jobs", "rerun", short, "--json"], env)
    assert rerun.returncode == 0, rerun.stderr
    again = json.loads(rerun.stdout)["id"]
    assert run(["jobs", "show", again[:8], "--follow"], env).returncode == 0
    assert run(["jobs", "delete", again[:8], "--yes"], env).returncode == 0
    assert api.get(f"/api/jobs/{again}").status_code == 404

    # ... and every command that takes a campaign id, a campaign's.
    mine = json.loads(run(["jobs", "list", "--json", "--campaign", campaign["id"][:8]],
                          env).stdout)
    assert [j["id"] for j in mine] == [job["id"]]
    creators = run(["export", "--campaign", campaign["id"][:8], "--format", "json"], env)
    assert creators.returncode == 0 and json.loads(creators.stdout), creators.stderr

    # Unknown and ambiguous prefixes are refused, saying which.
    unknown = next(c for c in "0123456789abcdef" if not job["id"].startswith(c))
    missing = run(["jobs", "show", unknown * 8], env)
    assert missing.returncode == 1
    assert f"no job of yours starts with '{unknown * 8}'" in missing.stderr
    made = {campaign["id"]}
    while len({c[0] for c in made}) == len(made):  # until two share a first character
        made.add(api.post("/api/campaigns", json={"name": f"c{len(made)}"}).json()["id"])
    first = next(c[0] for c in made if sum(d[0] == c[0] for d in made) > 1)
    alike = sorted(c for c in made if c.startswith(first))
    ambiguous = run(["campaigns", "delete", first, "--yes"], env)
    assert ambiguous.returncode == 1
    assert f"'{first}' is the start of {len(alike)} campaigns" in ambiguous.stderr
    assert all(c in ambiguous.stderr.replace("\n", "") for c in alike[:2]), ambiguous.stderr
    assert all(api.get(f"/api/campaigns/{c}").status_code == 200 for c in made)
    assert run(["campaigns", "delete", campaign["id"][:8], "--yes"], env).returncode == 0
    assert api.get(f"/api/jobs/{job['id']}").status_code == 404


@SQLITE_ONLY
def test_shell_lists_show_short_ids_and_take_them_back(app: App) -> None:
    env = env_for(app.runtime.settings, COLUMNS="80")
    run(["users", "create", "lead@example.com"], env)
    workspace = run(["workspaces", "create", "Acme", "--owner", "lead@example.com"],
                    env).stdout.strip()
    for listing in (["workspaces", "list"], ["users", "list"],
                    ["members", "list", workspace[:8]]):
        shown = fits(run(listing, env))
        assert workspace not in shown
    assert workspace[:8] in run(["workspaces", "list"], env).stdout
    budget = run(["workspaces", "budget", workspace[:8], "--monthly-usd", "5"], env)
    assert budget.returncode == 0 and "budget $5 " in budget.stdout, budget.stderr
    token_id = re.search(r"  id ([0-9a-f]{8})  ", run(["users", "list"], env).stdout)
    assert token_id is not None
    revoked = run(["users", "revoke", token_id.group(1)], env)
    assert revoked.returncode == 0 and "of lead@example.com" in revoked.stdout, revoked.stderr
