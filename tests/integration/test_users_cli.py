"""`scrapetrack users list|revoke|token` as an operator runs them: real subprocesses."""

from __future__ import annotations

import re

import httpx
import pytest

from scrapetrack.config import Settings
from scrapetrack.token_uses import WRITE_EVERY_SECONDS
from tests.conftest import wait_until
from tests.integration.conftest import App
from tests.integration.test_cli import env_for, run

# A web process refuses a token revoked by another process (this command) once it no longer
# remembers it: within CREDENTIAL_CACHE_SECONDS, give or take a busy machine.
REFUSED_WITHIN = float(Settings.model_fields["credential_cache_seconds"].default) + 3


def refused(client: httpx.Client) -> None:
    wait_until(lambda: client.get("/api/campaigns").status_code == 401, REFUSED_WITHIN,
               "the revoked token to be refused")


# Subprocesses are slow to start; the store side of revoking is tested on every stack in
# test_security.py.
@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_tokens_are_listed_revoked_and_reissued(app: App) -> None:
    env = env_for(app.runtime.settings)
    first = run(["users", "create", "ops@example.com"], env).stdout.strip().splitlines()[-1]
    other = run(["users", "create", "other@example.com"], env).stdout.strip().splitlines()[-1]
    api = app.client(first)
    assert api.get("/api/campaigns").status_code == 200  # marks it used
    # The web process writes its tokens' last uses every few seconds.
    wait_until(lambda: any(t.last_used_at for t, _ in app.runtime.store.tokens()),
               WRITE_EVERY_SECONDS + 3, "the token's last use to be written")

    listed = run(["users", "list"], env)
    assert listed.returncode == 0, listed.stderr
    assert first not in listed.stdout and other not in listed.stdout  # never the token
    line = next(x for x in listed.stdout.splitlines() if x.strip().startswith(first[:10]))
    assert re.search(r"id [0-9a-f]{8}  created (just now|\d+ min ago)  last used (just "
                     r"now|\d+ min ago)", line), line
    assert line.rstrip().endswith("active")

    revoked = run(["users", "revoke", first[:10]], env)
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stdout.strip() == f"revoked {first[:10]}… of ops@example.com"
    refused(api)
    assert app.client(other).get("/api/campaigns").status_code == 200
    after = run(["users", "list"], env).stdout
    assert re.search(rf"{re.escape(first[:10])}….*revoked (just now|\d+ min ago)", after), \
        after

    again = run(["users", "revoke", first[:10]], env)  # already revoked: says so, no error
    assert again.returncode == 0
    assert run(["users", "revoke", "st_nothing"], env).returncode == 1
    assert run(["users", "revoke"], env).returncode == 1

    reissued = run(["users", "token", "ops@example.com"], env)
    assert reissued.returncode == 0, reissued.stderr
    fresh = reissued.stdout.strip().splitlines()[-1]
    assert fresh.startswith("st_") and fresh != first
    assert app.client(fresh).get("/api/campaigns").status_code == 200
    assert run(["users", "token", "nobody@example.com"], env).returncode == 1

    everything = run(["users", "revoke", "--email", "OPS@example.com"], env)
    assert everything.returncode == 0, everything.stderr
    assert everything.stdout.strip() == "revoked 1 token(s) of ops@example.com"
    refused(app.client(fresh))
    assert app.client(other).get("/api/campaigns").status_code == 200


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_an_operator_makes_a_workspace_and_its_team_at_the_shell(app: App) -> None:
    env = env_for(app.runtime.settings)
    owner = run(["users", "create", "lead@example.com"], env).stdout.strip().splitlines()[-1]
    run(["users", "create", "ana@example.com"], env)
    made = run(["workspaces", "create", "Acme marketing", "--owner", "lead@example.com"], env)
    assert made.returncode == 0, made.stderr
    workspace = made.stdout.strip()
    assert re.fullmatch(r"[0-9a-f-]{36}", workspace)
    added = run(["members", "add", workspace, "ana@example.com", "--role", "viewer"], env)
    assert added.stdout.strip() == f"ana@example.com is viewer of {workspace}"
    listed = run(["members", "list", workspace[:8]], env).stdout  # its short id will do
    assert re.search(r"  owner  lead@example\.com", listed) and "  viewer  ana@example.com" \
        in listed
    mine = run(["workspaces", "list", "--email", "ana@example.com"], env).stdout
    assert f"{workspace[:8]}  viewer  Acme marketing" in mine
    assert run(["members", "add", workspace, "nobody@example.com"], env).returncode == 1
    assert run(["members", "add", workspace, "ana@example.com", "--role", "boss"],
               env).returncode == 1

    scoped = run(["users", "token", "ana@example.com", "--workspace", workspace], env)
    assert scoped.returncode == 0, scoped.stderr
    token = scoped.stdout.strip().splitlines()[-1]
    assert [w["id"] for w in app.client(token).get("/api/workspaces").json()] == [workspace]

    link = run(["invite", workspace, "kim@example.com", "--role", "member"], env)
    assert link.returncode == 0, link.stderr
    code = link.stdout.strip().rsplit("/invitations/", 1)[1]
    assert app.client(owner).post(f"/api/invitations/{code}/accept").status_code == 200

    removed = run(["members", "remove", workspace, "ana@example.com"], env)
    assert removed.returncode == 0, removed.stderr
    assert app.client(token).get("/api/workspaces").json() == []
    audit = app.client(owner).get(f"/api/workspaces/{workspace}/audit").json()["items"]
    assert [(e["action"], e["actor"]) for e in reversed(audit)][:3] == [
        ("workspace.created", "lead@example.com"), ("member.added", None),
        ("invitation.sent", None)]
