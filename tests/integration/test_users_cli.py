"""`scrapetrack users list|revoke|token` as an operator runs them: real subprocesses."""

from __future__ import annotations

import re

import pytest

from tests.integration.conftest import App
from tests.integration.test_cli import env_for, run


# Subprocesses are slow to start; the store side of revoking is tested on every stack in
# test_security.py.
@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_tokens_are_listed_revoked_and_reissued(app: App) -> None:
    env = env_for(app.runtime.settings)
    first = run(["users", "create", "ops@example.com"], env).stdout.strip().splitlines()[-1]
    other = run(["users", "create", "other@example.com"], env).stdout.strip().splitlines()[-1]
    api = app.client(first)
    assert api.get("/api/campaigns").status_code == 200  # marks it used

    listed = run(["users", "list"], env)
    assert listed.returncode == 0, listed.stderr
    assert first not in listed.stdout and other not in listed.stdout  # never the token
    line = next(x for x in listed.stdout.splitlines() if x.strip().startswith(first[:10]))
    assert re.search(r"created \d{4}-\d\d-\d\d \d\d:\d\d  last used \d{4}-", line), line
    assert line.rstrip().endswith("active")

    revoked = run(["users", "revoke", first[:10]], env)
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stdout.strip() == f"revoked {first[:10]}… of ops@example.com"
    assert api.get("/api/campaigns").status_code == 401
    assert app.client(other).get("/api/campaigns").status_code == 200
    after = run(["users", "list"], env).stdout
    assert re.search(rf"{re.escape(first[:10])}….*revoked \d{{4}}-", after), after

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
    assert app.client(fresh).get("/api/campaigns").status_code == 401
    assert app.client(other).get("/api/campaigns").status_code == 200
