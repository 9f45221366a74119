"""The client commands (search, export, jobs, campaigns) as a user runs them: real
subprocesses talking HTTP to a real server, and Ctrl-C sent as a real SIGINT."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from typing import IO, Any, ClassVar

import httpx
import pytest
from typer.testing import CliRunner

from scrapetrack.cli import app as cli_app
from tests.conftest import HeldSandbox, free_port, wait_until
from tests.integration.conftest import App, wait_for_job
from tests.integration.test_cli import SCRAPETRACK, env_for, run
from tests.integration.test_events import items_read

SQLITE_ONLY = pytest.mark.parametrize("stack", ["sqlite"], indirect=True)


def client_env(app: App, email: str) -> tuple[dict[str, str], httpx.Client]:
    token = app.runtime.accounts.create_user(email).token
    env = env_for(app.runtime.settings, SCRAPETRACK_URL=app.url, SCRAPETRACK_TOKEN=token,
                  COLUMNS="120")
    return env, app.client(token)


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_search_prints_json_lines_then_a_table(held_sandbox: HeldSandbox,
                                              start_app: Callable[..., App]) -> None:
    env, _ = client_env(start_app(apify_api_url=held_sandbox.url), "erin@example.com")
    search = Search(env, "-k", "fitness coach", "--target", "80", "--json")
    # The run held half-way: the search prints the state it holds there, then the end.
    run_ = held_sandbox.run(1)
    held_sandbox.write(run_, 40)
    wait_until(lambda: any(items_read(s) == 40 and s["status"] == "processing"
                           for s in json_lines("".join(search.out))), 30,
               "a line with 40 items read")
    held_sandbox.finish(run_)
    code, stdout = search.finish()
    assert code == 0, "".join(search.err)
    statuses = json_lines(stdout)
    assert statuses[-1]["status"] == "completed" and statuses[-1]["progress"] == 100
    progress = [s["progress"] for s in statuses]
    assert progress == sorted(progress)
    assert len({s["id"] for s in statuses}) == 1
    assert any(0 < p < 100 for p in progress), progress

    search = Search(env, "-k", "yoga", "--target", "40", "--top", "5")
    held_sandbox.finish(held_sandbox.run(2))
    code, stdout = search.finish()
    assert code == 0, "".join(search.err)
    lines = stdout.splitlines()
    assert lines[0].startswith("completed: ") and ", cost $" in lines[0]
    assert "Top 5 of" in stdout
    assert len([line for line in lines if "@" in line]) == 5


@SQLITE_ONLY
def test_search_falls_back_to_polling_and_fails_with_1(app: App) -> None:
    env, _ = client_env(app, "finn@example.com")
    polled = run(["search", "youtube", "-k", "chess", "--target", "30", "--json",
                  "--no-stream"], env)
    assert polled.returncode == 0, polled.stderr
    assert json_lines(polled.stdout)[-1]["status"] == "completed"
    failed = run(["search", "tiktok", "-k", "sandbox:failed", "--target", "20", "--json"], env)
    assert failed.returncode == 1
    final = json_lines(failed.stdout)[-1]
    assert final["status"] == "error" and final["error"]


@SQLITE_ONLY
def test_jobs_campaigns_and_export(app: App) -> None:
    env, api = client_env(app, "gail@example.com")
    campaign = api.post("/api/campaigns", json={"name": "Autumn"}).json()
    job = api.post("/api/scraping/tiktok", json={
        "campaignId": campaign["id"], "keywords": ["running"], "targetResults": 40}).json()
    followed = run(["jobs", "show", job["id"], "--follow", "--json"], env)
    assert followed.returncode == 0, followed.stderr
    assert json_lines(followed.stdout)[-1]["status"] == "completed"

    listed = json.loads(run(["jobs", "list", "--json"], env).stdout)
    assert listed[0]["id"] == job["id"]
    table = run(["jobs", "list", "--status", "completed"], env)
    assert job["id"][:8] in table.stdout and job["id"] not in table.stdout
    assert run(["jobs", "list", "--status", "nonsense"], env).returncode == 1
    found = json.loads(run(["jobs", "list", "--json", "--platform", "tiktok", "-q", "RUNN",
                            "--kind", "keyword", "--since", "2020-01-01"], env).stdout)
    assert [j["id"] for j in found] == [job["id"]]
    assert json.loads(run(["jobs", "list", "--json", "--kind", "similar"], env).stdout) == []
    paged = run(["jobs", "list", "--limit", "1"], env)
    assert "more: --cursor " not in paged.stderr  # one job: no next page
    shown = run(["jobs", "show", job["id"]], env)
    assert "completed" in shown.stdout and "running" in shown.stdout
    assert json.loads(run(["jobs", "show", job["id"], "--json"], env).stdout)["progress"] == 100

    exported = run(["export", job["id"], "--format", "json"], env)
    rows = json.loads(exported.stdout)
    assert rows and rows == api.get(f"/api/jobs/{job['id']}/results").json()
    assert run(["export", job["id"], "--format", "xml"], env).returncode == 1

    names = [c["name"] for c in json.loads(run(["campaigns", "list", "--json"], env).stdout)]
    assert names == ["Autumn"]
    assert "Autumn" in run(["campaigns", "list"], env).stdout

    rerun = run(["jobs", "rerun", job["id"], "--target", "20"], env)
    assert rerun.returncode == 0, rerun.stderr
    again = rerun.stdout.split()[-1]
    assert api.get(f"/api/jobs/{again}").json()["targetResults"] == 20
    assert run(["jobs", "show", again, "--follow"], env).returncode == 0

    kept = run(["jobs", "delete", again], env, input="n\n")
    assert kept.returncode == 1 and api.get(f"/api/jobs/{again}").status_code == 200
    deleted = run(["jobs", "delete", again, "--yes"], env)
    assert deleted.returncode == 0 and api.get(f"/api/jobs/{again}").status_code == 404

    late = run(["jobs", "cancel", job["id"]], env)
    assert late.returncode == 1 and "already ended as completed" in late.stderr
    missing = run(["jobs", "show", "no-such-job"], env)
    assert missing.returncode == 1 and "Job not found" in missing.stderr
    wrong = run(["campaigns", "list"], {**env, "SCRAPETRACK_TOKEN": "st_wrong"})
    assert wrong.returncode == 1 and "Invalid or revoked token" in wrong.stderr
    gone = run(["jobs", "list", "--url", f"http://127.0.0.1:{free_port()}"], env)
    assert gone.returncode == 1 and "Cannot reach scrapetrack" in gone.stderr
    no_token = run(["jobs", "list"], {**env, "SCRAPETRACK_TOKEN": ""})
    assert no_token.returncode == 1 and "SCRAPETRACK_TOKEN" in no_token.stderr
    removed = run(["campaigns", "delete", campaign["id"], "-y"], env)
    assert removed.returncode == 0, removed.stderr
    assert api.get(f"/api/jobs/{job['id']}").status_code == 404
    assert json.loads(run(["campaigns", "list", "--json"], env).stdout) == []


def _default_sigint() -> None:
    """Ctrl-C as a terminal gives it: a suite started in the background (`cmd &` in a
    script) ignores SIGINT, its children inherit that, and Python then never raises
    KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture(autouse=True)
def no_search_left_behind() -> Iterator[None]:
    """A test that fails mid-search leaves no process or pipe open for a later test's
    warnings to trip on."""
    yield
    while Search.running:
        search = Search.running.pop()
        if search.process.poll() is None:
            search.process.kill()
        search.finish()


class Search:
    """A `scrapetrack search tiktok ARGS` in the background, its output read as it comes."""

    running: ClassVar[list[Search]] = []

    def __init__(self, env: dict[str, str], *args: str) -> None:
        Search.running.append(self)
        self.process = subprocess.Popen(
            [SCRAPETRACK, "search", "tiktok", *args], env=env, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=_default_sigint)
        self.err: list[str] = []
        self.out: list[str] = []
        assert self.process.stderr is not None and self.process.stdout is not None
        self.pumps = [threading.Thread(target=self._pump, args=(stream, into), daemon=True)
                      for stream, into in ((self.process.stderr, self.err),
                                           (self.process.stdout, self.out))]
        for pump in self.pumps:
            pump.start()

    @staticmethod
    def _pump(stream: IO[str], into: list[str]) -> None:
        # Rich ends the prompt without a newline: read characters, not lines.
        while chunk := stream.read(1):
            into.append(chunk)

    def saw(self, text: str) -> bool:
        return text in "".join(self.err)

    def job_id(self) -> str:
        wait_until(lambda: self.saw(" started"), 30, "the job to start")
        return "".join(self.err).split("job ", 1)[1].split()[0]

    def finish(self, timeout: float = 60) -> tuple[int, str]:
        """Its exit code and whole stdout, once it has ended."""
        assert self.process.stdin is not None
        if self in Search.running:
            Search.running.remove(self)
        self.process.stdin.close()
        code = self.process.wait(timeout=timeout)
        for pump in self.pumps:
            pump.join(timeout)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        return code, "".join(self.out)


def processing(api: httpx.Client, job_id: str) -> bool:
    return bool(api.get(f"/api/jobs/{job_id}").json()["status"] == "processing")


LONG = ("-k", "marathon", "--target", "5000")  # held by the sandbox: it never ends by itself


@SQLITE_ONLY
def test_ctrl_c_asks_and_cancels_the_job(held_sandbox: HeldSandbox,
                                         start_app: Callable[..., App]) -> None:
    env, api = client_env(start_app(apify_api_url=held_sandbox.url), "hana@example.com")
    search = Search(env, *LONG)
    job_id = search.job_id()
    wait_until(lambda: processing(api, job_id), 30, "the job to run")
    search.process.send_signal(signal.SIGINT)
    wait_until(lambda: search.saw("[y/N]"), 30, "the prompt")
    assert search.process.stdin is not None
    search.process.stdin.write("y\n")
    search.process.stdin.flush()
    code, stdout = search.finish()
    assert code == 1, "".join(search.err)
    assert stdout.startswith("cancelled")
    final, _ = wait_for_job(api, api.get(f"/api/jobs/{job_id}").json())
    assert final["status"] == "cancelled"


@SQLITE_ONLY
def test_ctrl_c_can_leave_the_job_running(held_sandbox: HeldSandbox,
                                          start_app: Callable[..., App]) -> None:
    env, api = client_env(start_app(apify_api_url=held_sandbox.url), "ivan@example.com")
    asked = Search(env, *LONG)  # answered "no": the job goes on
    asked_id = asked.job_id()
    wait_until(lambda: processing(api, asked_id), 30, "the job to run")
    asked.process.send_signal(signal.SIGINT)
    wait_until(lambda: asked.saw("[y/N]"), 30, "the prompt")
    assert asked.process.stdin is not None
    asked.process.stdin.write("n\n")
    asked.process.stdin.flush()
    assert asked.finish()[0] == 1
    assert asked.saw(f"scrapetrack jobs show {asked_id} --follow")

    told = Search(env, *LONG, "--on-interrupt", "leave", "--json")  # no prompt at all
    told_id = told.job_id()
    wait_until(lambda: processing(api, told_id), 30, "the job to run")
    told.process.send_signal(signal.SIGINT)
    code, stdout = told.finish()
    assert code == 1 and not told.saw("[y/N]")
    assert json_lines(stdout)[-1]["id"] == told_id
    for job_id in (asked_id, told_id):
        assert processing(api, job_id)
        assert api.post(f"/api/jobs/{job_id}/cancel").status_code == 202


@pytest.mark.parametrize("command", [
    [], ["search"], ["export"], ["jobs"], ["jobs", "list"], ["jobs", "show"], ["jobs", "cancel"],
    ["jobs", "rerun"], ["jobs", "delete"], ["campaigns", "delete"],
    ["campaigns"], ["campaigns", "list"], ["serve"], ["worker"], ["users", "create"]])
def test_every_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(cli_app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output and "--help" in result.output
