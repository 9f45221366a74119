"""The `scrapetrack` command: thin, over the same service layer as the routes."""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape

from scrapetrack import __version__
from scrapetrack.client import DEFAULT_URL, TERMINAL, Client
from scrapetrack.config import Settings, load_settings
from scrapetrack.display import (
    JsonLines,
    ProgressView,
    View,
    campaigns_table,
    creators_table,
    job_details,
    jobs_table,
    schedules_table,
    usd,
)
from scrapetrack.exceptions import Conflict, ScrapetrackError
from scrapetrack.exports import FORMATS
from scrapetrack.logs import configure_logging
from scrapetrack.schemas import JobOut
from scrapetrack.shortids import resolve, short

app = typer.Typer(help="Creator-discovery scraping jobs with live progress.",
                  no_args_is_help=True)
users = typer.Typer(help="Manage users and their API tokens.", no_args_is_help=True)
app.add_typer(users, name="users")
jobs = typer.Typer(help="List, show, cancel, re-run and delete your jobs on a running server.",
                   no_args_is_help=True)
app.add_typer(jobs, name="jobs")
campaigns = typer.Typer(help="Your campaigns on a running server.", no_args_is_help=True)
app.add_typer(campaigns, name="campaigns")
schedules = typer.Typer(help="Saved searches that start themselves on a cron expression, on "
                        "a running server.", no_args_is_help=True)
app.add_typer(schedules, name="schedules")
workspaces = typer.Typer(help="Create and list workspaces (on this machine's database).",
                         no_args_is_help=True)
app.add_typer(workspaces, name="workspaces")
members = typer.Typer(help="A workspace's members and their roles (on this machine's "
                      "database).", no_args_is_help=True)
app.add_typer(members, name="members")
SIGN_IN_URL_FILE = "sign-in-url"
err = Console(stderr=True)
out = Console()

LogLevel = Annotated[str | None, typer.Option(
    envvar="LOG_LEVEL", help="debug, info, warning or error (default info)")]
LogFormat = Annotated[str | None, typer.Option(
    envvar="LOG_FORMAT", help="json, console, or auto: console on a terminal, else JSON")]


def fail(message: str) -> None:
    err.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(1)


def _process_settings(log_level: str | None, log_format: str | None,
                      **overrides: Any) -> Settings:
    """Settings for a long-running process (serve, worker): logging configured, and
    Prometheus counters shared with the machine's other processes under data_dir/metrics."""
    if log_level:
        overrides["log_level"] = log_level
    if log_format:
        overrides["log_format"] = log_format
    settings = load_settings(**overrides)
    if settings.metrics_dir is None:
        settings = settings.model_copy(update={"metrics_dir": settings.data_dir / "metrics"})
    try:
        configure_logging(settings.log_level, settings.log_format)
    except ScrapetrackError as exc:
        fail(exc.message)
    return settings


def _runtime(settings: Settings, *, embedded_worker: bool = True) -> Any:
    from scrapetrack.runtime import build_runtime

    return build_runtime(settings, migrate=True, embedded_worker=embedded_worker)


def _version(shown: bool) -> None:
    if shown:
        typer.echo(f"scrapetrack {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True,
        help="print the version and exit")] = False) -> None:
    """Creator-discovery scraping jobs with live progress."""


@app.command()
def doctor() -> None:
    """Check the database, queue, event bus and Apify token, and say what to fix.

    Exit 0 when all are fine, 1 otherwise."""
    import shutil

    from scrapetrack.doctor import examine, report

    findings = examine(load_settings())
    width = min(shutil.get_terminal_size((80, 24)).columns, 100)
    for line in report(findings, width):
        word, _, rest = line.partition(" ")
        if word in ("ok", "FAIL"):  # coloured on a terminal only (click strips it in pipes)
            line = typer.style(word, fg="green" if word == "ok" else "red", bold=True) \
                + " " + rest
        typer.echo(line)
    if not all(found.ok for found in findings):
        raise typer.Exit(1)


@app.command()
def migrate() -> None:
    """Apply database migrations."""
    from scrapetrack.store.db import make_engine
    from scrapetrack.store.migrate import upgrade

    settings = load_settings()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    typer.echo("database is up to date")


@app.command()
def backup(path: Annotated[Path, typer.Argument(help="the file to write")],
           force: Annotated[bool, typer.Option("--force", help="replace PATH if it exists")]
           = False) -> None:
    """Copy the SQLite database to PATH while the server runs (SQLite's online backup);
    for PostgreSQL, say how to run pg_dump instead."""
    from scrapetrack import backup as backups

    try:
        made = backups.backup(load_settings().database_url, path, force=force)
    except ScrapetrackError as exc:  # unwrapped: the pg_dump command is copied from here
        err.print(f"[red]error:[/red] {escape(exc.message)}", soft_wrap=True)
        raise typer.Exit(1) from None
    counted = ", ".join(f"{n} {what}" for what, n in made.counts.items())
    typer.echo(f"copied {made.source} to {made.target}: {backups.size(made.size)} "
               f"({counted}), integrity checked")


@app.command()
def serve(host: Annotated[str | None, typer.Option(envvar="HOST")] = None,
          port: Annotated[int | None, typer.Option(envvar="PORT")] = None,
          no_worker: Annotated[bool, typer.Option("--no-worker")] = False,
          log_level: LogLevel = None, log_format: LogFormat = None) -> None:
    """Run the web app, with an embedded worker unless --no-worker."""
    import uvicorn

    from scrapetrack.deployment import limits
    from scrapetrack.serving import GracefulServer, bounded_heads
    from scrapetrack.web.app import create_app

    overrides: dict[str, Any] = {}
    if host:
        overrides["host"] = host
    if port:
        overrides["port"] = port
    settings = _process_settings(log_level, log_format, **overrides)
    runtime = _runtime(settings, embedded_worker=not no_worker)
    typer.echo(f"scrapetrack on {settings.base_url()}")
    if settings.uses_sandbox:
        typer.echo("APIFY_TOKEN is not set: searches run against the built-in sandbox")
    for line in limits(settings, bus=runtime.bus.name, worker=not no_worker):
        typer.echo(line)
    _tell_sign_in_url(settings, _sign_in_url(settings, runtime.accounts.login_code()))
    sys.stdout.flush()
    application = create_app(settings, runtime=runtime, worker=not no_worker)
    # log_config=None: uvicorn's loggers go through ours (JSON or text, secrets scrubbed).
    server = GracefulServer(uvicorn.Config(application, host=settings.host, port=settings.port,
                                           log_config=None, log_level=settings.log_level,
                                           timeout_graceful_shutdown=10, proxy_headers=True,
                                           server_header=False,
                                           forwarded_allow_ips=settings.forwarded_allow_ips,
                                           http=bounded_heads(
                                               settings.http_head_timeout_seconds,
                                               settings.max_head_bytes)),
                            on_exit=runtime.hub.close_streams_threadsafe)
    # Once shut down, uvicorn raises again the signal that stopped it; as SystemExit, the
    # runtime below still closes (its last notices sent, its connections returned).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.run()
    finally:
        runtime.close()


def _sign_in_url(settings: Settings, code: str) -> str:
    return f"{settings.base_url()}/login?code={code}"


def _tell_sign_in_url(settings: Settings, url: str) -> None:
    """A live sign-in link goes to the terminal of whoever started the server, never to a
    log: without a terminal, to a file only its owner reads, which the log names."""
    from scrapetrack.accounts import LOGIN_CODE_LIFETIME

    lifetime = f"valid {LOGIN_CODE_LIFETIME.seconds // 60} minutes, once"
    if sys.stdout.isatty():
        typer.echo(f"Sign in as the local owner ({lifetime}): {url}")
        return
    from scrapetrack.store.db import private_file

    path = settings.data_dir / SIGN_IN_URL_FILE
    private_file(path)
    path.write_text(url + "\n")
    typer.echo(f"The local owner's sign-in link ({lifetime}) is in {path}; "
               "`scrapetrack users sign-in` gives another")


@app.command()
def worker(concurrency: Annotated[int | None, typer.Option(help="jobs at once")] = None,
           log_level: LogLevel = None, log_format: LogFormat = None) -> None:
    """Run a worker alone; several may run, on several machines."""
    settings = _process_settings(
        log_level, log_format, **({"WORKER_CONCURRENCY": concurrency} if concurrency else {}))
    runtime = _runtime(settings)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    runtime.start_worker(concurrency)
    typer.echo(f"worker {runtime.runner.worker_id} started "
               f"({concurrency or settings.worker_concurrency} at once)")
    sys.stdout.flush()
    stop.wait()
    typer.echo("stopping: handing running jobs back to the queue")
    runtime.close()


@app.command()
def sandbox(port: Annotated[int, typer.Option()] = 8001,
            host: Annotated[str, typer.Option()] = "127.0.0.1") -> None:
    """Run the Apify-compatible sandbox alone (for workers in other processes)."""
    import uvicorn

    from scrapetrack.sandbox.app import SANDBOX_RUNS_FILE, create_sandbox_app
    from scrapetrack.sandbox.state import SandboxLimits
    from scrapetrack.serving import bounded_heads

    settings = load_settings()
    if settings.apify_token is None:
        fail("set APIFY_TOKEN: the sandbox requires it, and the workers send it")
    assert settings.apify_token is not None
    typer.echo(f"sandbox on http://{host}:{port} (set APIFY_API_URL to it)")
    uvicorn.run(create_sandbox_app(items_per_second=settings.sandbox_items_per_second,
                                   start_delay_seconds=settings.sandbox_start_delay_seconds,
                                   faults=settings.sandbox_faults,
                                   token=settings.apify_token.get_secret_value(),
                                   limits=SandboxLimits(settings.max_target_results),
                                   keep_runs_in=settings.data_dir / SANDBOX_RUNS_FILE),
                host=host, port=port, log_level="warning", server_header=False,
                http=bounded_heads(settings.http_head_timeout_seconds,
                                   settings.max_head_bytes))


@contextmanager
def _accounts(settings: Settings | None = None) -> Iterator[Any]:
    """Accounts over the store alone, migrated: all the users commands open (no queue, no
    bus). Our errors end the command with their message."""
    from scrapetrack.accounts import Accounts
    from scrapetrack.store.db import make_engine
    from scrapetrack.store.migrate import upgrade
    from scrapetrack.store.repository import Store

    store = Store(make_engine((settings or load_settings()).database_url))
    try:
        upgrade(store.engine)
        yield Accounts(store)
    except ScrapetrackError as exc:
        fail(exc.message)
    finally:
        store.close()


@users.command("create")
def users_create(email: str) -> None:
    """Create a user; the last line printed is their new API token."""
    with _accounts() as accounts:
        created = accounts.create_user(email)
    typer.echo(f"created {created.user.email}; their API token (shown once):")
    typer.echo(created.token)


@users.command("list")
def users_list() -> None:
    """List users and their tokens: prefix, id, created, last used, revoked (never the token)."""
    with _accounts() as accounts:
        tokens = accounts.tokens()
        for user in accounts.store.list_users():
            typer.echo(f"{short(user.id)}  {user.email}  {user.created_at:%Y-%m-%d}")
            for token in (t for t in tokens if t.email == user.email):
                typer.echo("    " + _token_line(token))


def _token_line(token: Any) -> str:
    """One token, in 80 columns: short id, relative times."""
    from scrapetrack.display import ago

    def when(value: Any) -> str:
        return ago(value.isoformat()) if value else "-"

    state = f"revoked {when(token.revoked_at)}" if token.revoked_at else "active"
    if token.kind == "login":
        state = "sign-in code, " + ("used" if token.last_used_at else "unused")
        state += f", revoked {when(token.revoked_at)}" if token.revoked_at else ""
    elif token.kind == "session":
        state = "browser session, " + (f"ended {when(token.revoked_at)}" if token.revoked_at
                                       else f"ends {when(token.expires_at)}")
    return (f"{token.prefix}…  id {short(token.id)}  created {when(token.created_at)}  "
            f"last used {when(token.last_used_at)}  {state}")


@users.command("revoke")
def users_revoke(token: Annotated[str | None, typer.Argument(
                     help="a token's prefix or id, as `users list` shows it")] = None,
                 email: Annotated[str | None, typer.Option(
                     "--email", help="revoke every token and sign-in code of this user")]
                 = None) -> None:
    """Revoke a token (its browser sessions end too), or all of a user's with --email."""
    if (token is None) == (email is None):
        fail("give a token prefix or id, or --email EMAIL")
    with _accounts() as accounts:
        if email is not None:
            count = accounts.revoke_all(email)
            typer.echo(f"revoked {count} token(s) of {email.strip().lower()}")
        else:
            ref = token or ""
            if not ref.startswith("st_"):  # an id, maybe the short one `users list` shows
                ref = resolve(ref, lambda: (t.id for t in accounts.tokens()), "token")
            revoked = accounts.revoke(ref)
            typer.echo(f"revoked {revoked.prefix}… of {revoked.email}")


@users.command("sign-in")
def users_sign_in(email: Annotated[str | None, typer.Argument(
                      help="whom the link signs in (the local owner by default)")]
                  = None) -> None:
    """Print a one-time sign-in link for a user's browser (valid 15 minutes)."""
    settings = load_settings()
    with _accounts(settings) as accounts:
        code = accounts.login_code(email) if email else accounts.login_code()
    typer.echo(_sign_in_url(settings, code))


@users.command("remove")
def users_remove(email: str) -> None:
    """Remove a user with their campaigns and searches; their running searches are
    cancelled first (their Apify runs aborted), and their sessions and event streams end."""
    runtime = _runtime(load_settings(), embedded_worker=False)
    try:
        cancelled = runtime.service.remove_user(email)
    except ScrapetrackError as exc:
        fail(exc.message)
    finally:
        runtime.close()
    typer.echo(f"removed {email.strip().lower()} ({cancelled} running search(es) cancelled)")


@users.command("token")
def users_token(email: str, workspace: Annotated[str | None, typer.Option(
        "--workspace", help="a workspace of theirs: the token acts there only")] = None,
                ) -> None:
    """Give an existing user a new API token; the last line printed is the token."""
    with _accounts() as accounts:
        token = accounts.new_token(email, workspace)
    where = f", for workspace {workspace} only" if workspace else ""
    typer.echo(f"a new API token for {email.strip().lower()}{where} (shown once):")
    typer.echo(token)


@contextmanager
def _teams() -> Iterator[Any]:
    """The teams service as the operator at the shell uses it (the actor None: an owner's
    rights everywhere); our errors end the command with their message."""
    runtime = _runtime(load_settings(), embedded_worker=False)
    try:
        yield runtime.teams
    except ScrapetrackError as exc:
        fail(exc.message)
    finally:
        runtime.close()


Role = Annotated[str, typer.Option("--role", help="admin, member or viewer")]


def _workspace(teams: Any, ref: str) -> str:
    """A workspace's id, given whole or as its first characters (as lists show it)."""
    return resolve(ref, lambda: (w.id for w in teams.workspaces.all()), "workspace")


@workspaces.command("create")
def workspaces_create(name: str, owner: Annotated[str, typer.Option(
        "--owner", help="the email of the user who owns it")]) -> None:
    """Create a workspace owned by an existing user; prints its id."""
    from scrapetrack.access import Actor

    with _teams() as teams:
        user = teams.user(owner)
        made = teams.create(Actor(user.id, user.email), name)
    typer.echo(made.workspace.id)


@workspaces.command("list")
def workspaces_list(email: Annotated[str | None, typer.Option(
        "--email", help="only this user's, with their role")] = None) -> None:
    """Every workspace (id, members, name), or a user's with their role in each."""
    from scrapetrack.access import Actor

    with _teams() as teams:
        if email is None:
            for w in teams.workspaces.all():
                kind = "personal" if w.personal_of else "shared"
                typer.echo(f"{short(w.id)}  {len(teams.workspaces.members(w.id))} member(s)  "
                           f"{kind}  {w.name}")
            return
        user = teams.user(email)
        for found in teams.of(Actor(user.id, user.email)):
            typer.echo(f"{short(found.workspace.id)}  {found.role}  {found.workspace.name}")


@workspaces.command("budget")
def workspaces_budget(workspace: str, monthly_usd: Annotated[float | None, typer.Option(
        "--monthly-usd", help="the most its searches may charge a month (UTC), in USD")] = None,
        clear: Annotated[bool, typer.Option("--clear", help="no monthly budget")] = False,
        ) -> None:
    """Show a workspace's monthly budget and this month's spend; set or clear it."""
    from scrapetrack.budget import usd

    if clear and monthly_usd is not None:
        fail("Give --monthly-usd or --clear, not both")
    with _teams() as teams:
        workspace = _workspace(teams, workspace)
        spend = teams.set_budget(None, workspace, None if clear else monthly_usd) \
            if clear or monthly_usd is not None else teams.budget(None, workspace)
    cap = "none" if spend.cap is None else usd(spend.cap)
    left = "" if spend.remaining is None else f"  remaining {usd(spend.remaining)}"
    typer.echo(f"{spend.month.label}  budget {cap}  spent {usd(spend.spent)}  "
               f"committed {usd(spend.committed)}{left}")


@members.command("list")
def members_list(workspace: str) -> None:
    """A workspace's members: user id, role, email."""
    with _teams() as teams:
        for m in teams.members(None, _workspace(teams, workspace)):
            typer.echo(f"{short(m.user_id)}  {m.role}  {m.email}")


@members.command("add")
def members_add(workspace: str, email: str, role: Role = "member") -> None:
    """Add an existing user to a workspace, or change their role."""
    with _teams() as teams:
        member = teams.set_member(None, _workspace(teams, workspace), email, role)
    typer.echo(f"{member.email} is {member.role} of {workspace}")


@members.command("remove")
def members_remove(workspace: str, email: str) -> None:
    """Remove a member: their access and open streams of the workspace end."""
    with _teams() as teams:
        teams.remove_member(None, _workspace(teams, workspace), teams.user(email).id)
    typer.echo(f"removed {email.strip().lower()} from {workspace}")


@app.command("invite")
def invite(workspace: str, email: str, role: Role = "member") -> None:
    """Invite someone into a workspace; prints the one-time link (valid 7 days)."""
    settings = load_settings()
    with _teams() as teams:
        made = teams.invite(None, _workspace(teams, workspace), email, role)
    typer.echo(f"{settings.base_url()}/invitations/{made.code}")


# Commands below are clients of a running server (scrapetrack.client), like any script.
Url = Annotated[str, typer.Option(envvar="SCRAPETRACK_URL", help="the server's address")]
Token = Annotated[str | None, typer.Option(envvar="SCRAPETRACK_TOKEN",
                                           help="an API token (scrapetrack users create)")]
AsJson = Annotated[bool, typer.Option("--json", help="machine-readable output on stdout")]


def _client(url: str, token: str | None) -> Client:
    if not token:
        fail("give --token or set SCRAPETRACK_TOKEN (see `scrapetrack users create`)")
    assert token is not None
    return Client(url, token)


@contextmanager
def _errors_as_messages() -> Iterator[None]:
    """Our errors end the command with their message and exit code 1, no traceback."""
    try:
        yield
    except ScrapetrackError as exc:
        fail(exc.message)


def _print_json(value: BaseModel | Sequence[BaseModel]) -> None:
    """A model, or a list of them, as the server sent it (indented)."""
    data = value.model_dump(mode="json") if isinstance(value, BaseModel) else [
        item.model_dump(mode="json") for item in value]
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


@app.command()
def search(platform: Annotated[str, typer.Argument(help="tiktok, instagram or youtube")],
           keyword: Annotated[list[str] | None, typer.Option(
               "--keyword", "-k", help="a search term; repeat for several")] = None,
           similar_to: Annotated[str | None, typer.Option(
               "--similar-to", help="find creators similar to this handle")] = None,
           target: Annotated[int, typer.Option(help="how many results to collect")] = 100,
           campaign: Annotated[str, typer.Option(
               help="the campaign to file the search under (created if new)")] = "CLI searches",
           top: Annotated[int, typer.Option(help="creators shown at the end")] = 10,
           as_json: AsJson = False,
           no_stream: Annotated[bool, typer.Option(
               "--no-stream", help="poll the status instead of the event stream")] = False,
           on_interrupt: Annotated[str, typer.Option(
               help="on Ctrl-C: ask, cancel the job, or leave it running")] = "ask",
           url: Url = DEFAULT_URL, token: Token = None) -> None:
    """Start a search and follow it with a live progress bar; exit 0 when it completes.

    With --json, every status is a JSON line on stdout (the last one is the final status).
    """
    if not keyword and not similar_to:
        fail("give --keyword (one or more) or --similar-to")
    if on_interrupt not in INTERRUPT_CHOICES:
        fail(f"--on-interrupt is one of {', '.join(INTERRUPT_CHOICES)}")
    with _errors_as_messages(), _client(url, token) as client:
        campaign_id = client.campaign_named(campaign).id
        job = client.start_search(platform, campaign_id, keywords=keyword,
                                  similar_to=similar_to, target=target)
        final = _follow(client, job, as_json=as_json, stream=not no_stream,
                        on_interrupt=on_interrupt, announce=True)
        _summarise(client, final, as_json=as_json, top=top)
    if final.status != "completed":
        raise typer.Exit(1)


INTERRUPT_CHOICES = ("ask", "cancel", "leave")


def _follow(client: Client, job: JobOut, *, as_json: bool, stream: bool,
            on_interrupt: str, announce: bool = False) -> JobOut:
    """Follow the job to its end; on Ctrl-C, cancel it or leave it running. With `announce`,
    say that it started first: inside the Ctrl-C handling, so a Ctrl-C at any moment after
    that line asks."""
    view: View = JsonLines(out, err) if as_json else ProgressView(err)
    last = job
    try:
        if announce:
            err.print(f"job {job.id} started")
        with view:
            view.update(job)
            for status in client.follow(job, stream=stream, on_fallback=lambda why: view.note(
                    f"live updates unavailable ({why}); polling every second")):
                last = status
                view.update(status)
    except KeyboardInterrupt:
        last = _interrupted(client, last, on_interrupt)
        if as_json:
            view.update(last)
    return last


def _interrupted(client: Client, job: JobOut, choice: str) -> JobOut:
    if choice == "ask":
        err.print(f"\nCancel job {job.id}? It keeps running otherwise. [y/N] ", end="",
                  markup=False)
        sys.stderr.flush()
        try:
            answer = sys.stdin.readline().strip().lower()
        except (KeyboardInterrupt, OSError):
            answer = ""
        choice = "cancel" if answer in ("y", "yes") else "leave"
    if choice == "leave":
        err.print(f"left running: follow it with `scrapetrack jobs show {job.id} --follow`")
        return job
    try:
        cancelled = client.cancel(job.id)
    except Conflict:  # it ended meanwhile: say how
        cancelled = client.job(job.id)
    err.print(f"job {job.id} {cancelled.status}")
    return cancelled


def _summarise(client: Client, job: JobOut, *, as_json: bool, top: int) -> None:
    if as_json:
        return
    cost = usd(job.costUsd)
    typer.echo(f"{job.status}: {job.processedResults} items, {job.creatorsCount} creators"
               + (f", cost {cost}" if cost else "")
               + (f" ({job.error})" if job.error else ""))
    if job.status in TERMINAL and top > 0:
        rows = client.results(job.id)
        if rows:
            out.print(creators_table(rows, top))


@app.command()
def export(job_id: Annotated[str | None, typer.Argument(help="the job whose creators")] = None,
           campaign: Annotated[str | None, typer.Option(
               help="a campaign's whole creator list instead (id)")] = None,
           format: Annotated[str, typer.Option(help="csv, json or xlsx")] = "csv",
           fields: Annotated[str | None, typer.Option(
               help="the columns, comma-separated, in order (default: all)")] = None,
           output: Annotated[Path | None, typer.Option(
               "--output", "-o", help="write here instead of stdout")] = None,
           url: Url = DEFAULT_URL, token: Token = None) -> None:
    """A job's creators (most followed first), or with --campaign the campaign's creator
    list, as CSV, JSON or XLSX, on stdout or into --output."""
    if (job_id is None) == (campaign is None):
        fail("give a JOB_ID or --campaign ID")
    if format not in FORMATS:
        fail(f"--format is one of {', '.join(FORMATS)}")
    if format == "xlsx" and output is None and sys.stdout.isatty():
        fail("an XLSX file is not for a terminal: give --output FILE")
    with _errors_as_messages(), _client(url, token) as client:
        if output is None:
            client.export(sys.stdout.buffer, format, job_id=job_id, campaign_id=campaign,
                          fields=fields)
            sys.stdout.buffer.flush()
        else:
            with output.open("wb") as out:
                client.export(out, format, job_id=job_id, campaign_id=campaign, fields=fields)
            err.print(f"written to {output}")


@jobs.command("list")
def jobs_list(status: Annotated[str | None, typer.Option(help="only jobs in this status")] = None,
              platform: Annotated[str | None, typer.Option(help="only this platform's")] = None,
              kind: Annotated[str | None, typer.Option(help="keyword or similar")] = None,
              campaign: Annotated[str | None, typer.Option(help="only this campaign's (id)")]
              = None,
              since: Annotated[str | None, typer.Option(
                  help="created at or after (ISO date or time, UTC)")] = None,
              until: Annotated[str | None, typer.Option(
                  help="created before (ISO date or time, UTC)")] = None,
              search: Annotated[str | None, typer.Option(
                  "--search", "-q", help="text in the keywords or the handle")] = None,
              limit: Annotated[int, typer.Option(help="at most this many")] = 20,
              cursor: Annotated[str | None, typer.Option(
                  help="the next page, as the previous one said")] = None,
              as_json: AsJson = False, url: Url = DEFAULT_URL, token: Token = None) -> None:
    """Your searches, newest first, across campaigns; a page at a time."""
    with _errors_as_messages(), _client(url, token) as client:
        found = client.jobs(status=status, platform=platform, kind=kind, campaignId=campaign,
                            createdFrom=since, createdTo=until, q=search, limit=limit,
                            cursor=cursor)
    if as_json:
        _print_json(found.items)
    elif found.items:
        out.print(jobs_table(found.items))
    else:
        err.print("no jobs")
    if found.nextCursor:
        err.print(f"more: --cursor {found.nextCursor}")


@jobs.command("show")
def jobs_show(job_id: str,
              follow: Annotated[bool, typer.Option(
                  "--follow", "-f", help="follow it to its end with a progress bar")] = False,
              as_json: AsJson = False, url: Url = DEFAULT_URL, token: Token = None) -> None:
    """A job's status. With --follow, exit 0 once it completes, 1 if it ends otherwise."""
    with _errors_as_messages(), _client(url, token) as client:
        job = client.job(job_id)
        if follow:
            job = _follow(client, job, as_json=as_json, stream=True, on_interrupt="leave")
            _summarise(client, job, as_json=as_json, top=10)
        elif as_json:
            _print_json(job)
        else:
            out.print(job_details(job))
    if follow and job.status != "completed":
        raise typer.Exit(1)


@jobs.command("cancel")
def jobs_cancel(job_id: str, as_json: AsJson = False, url: Url = DEFAULT_URL,
                token: Token = None) -> None:
    """Cancel a job: it ends `cancelled` and its Apify run is aborted."""
    with _errors_as_messages(), _client(url, token) as client:
        job = client.cancel(job_id)
    if as_json:
        _print_json(job)
    else:
        typer.echo(f"job {job.id} {job.status}")


@jobs.command("rerun")
def jobs_rerun(job_id: str,
               target: Annotated[int | None, typer.Option(
                   help="the new search's target (default: the same)")] = None,
               as_json: AsJson = False, url: Url = DEFAULT_URL, token: Token = None) -> None:
    """Run an ended search again, with the same input, in the same campaign; the new job's
    id is the last word printed (follow it with `jobs show ID --follow`)."""
    with _errors_as_messages(), _client(url, token) as client:
        job = client.rerun(job_id, target)
    if as_json:
        _print_json(job)
    else:
        typer.echo(f"re-run of {job_id} {job.status}: job {job.id}")


Yes = Annotated[bool, typer.Option("--yes", "-y", help="do not ask first")]


def _confirmed(question: str, yes: bool) -> None:
    if not yes and not typer.confirm(question, err=True):
        raise typer.Exit(1)


@jobs.command("delete")
def jobs_delete(job_id: str, yes: Yes = False, url: Url = DEFAULT_URL,
                token: Token = None) -> None:
    """Delete a job with its creators; a running one is cancelled first (its Apify run
    aborted). Creators of the campaign's list that only it found go too."""
    _confirmed(f"Delete job {job_id} and its creators?", yes)
    with _errors_as_messages(), _client(url, token) as client:
        client.delete_job(job_id)
    typer.echo(f"job {job_id} deleted")


@campaigns.command("delete")
def campaigns_delete(campaign_id: str, yes: Yes = False, url: Url = DEFAULT_URL,
                     token: Token = None) -> None:
    """Delete a campaign with all its jobs and its creator list; running jobs are cancelled
    first (their Apify runs aborted)."""
    _confirmed(f"Delete campaign {campaign_id} with all its searches and creators?", yes)
    with _errors_as_messages(), _client(url, token) as client:
        client.delete_campaign(campaign_id)
    typer.echo(f"campaign {campaign_id} deleted")


@campaigns.command("list")
def campaigns_list(as_json: AsJson = False, url: Url = DEFAULT_URL,
                   token: Token = None) -> None:
    """Your campaigns, newest first."""
    with _errors_as_messages(), _client(url, token) as client:
        found = client.campaigns()
    if as_json:
        _print_json(found)
    elif found:
        out.print(campaigns_table(found))
    else:
        err.print("no campaigns")


@schedules.command("add")
def schedules_add(platform: Annotated[str, typer.Argument(help="tiktok, instagram or youtube")],
                  cron: Annotated[str, typer.Option(
                      help="five fields (minute hour day-of-month month day-of-week), "
                           "e.g. '0 9 * * 1'")],
                  keyword: Annotated[list[str] | None, typer.Option(
                      "--keyword", "-k", help="a search term; repeat for several")] = None,
                  similar_to: Annotated[str | None, typer.Option(
                      "--similar-to", help="find creators similar to this handle")] = None,
                  target: Annotated[int, typer.Option(help="results per search")] = 100,
                  campaign: Annotated[str, typer.Option(
                      help="the campaign to file its searches under (created if new)")]
                  = "CLI searches",
                  timezone: Annotated[str, typer.Option(
                      help="the IANA time zone the cron is read in")] = "UTC",
                  missed: Annotated[str, typer.Option(
                      help="a firing missed while no worker ran: run_once or skip")]
                  = "run_once",
                  budget: Annotated[float | None, typer.Option(
                      help="the most each search may charge, in USD")] = None,
                  paused: Annotated[bool, typer.Option(
                      "--paused", help="save it paused")] = False,
                  as_json: AsJson = False, url: Url = DEFAULT_URL, token: Token = None) -> None:
    """Save a search that starts itself on a cron expression; its id is the first word."""
    if not keyword and not similar_to:
        fail("give --keyword (one or more) or --similar-to")
    with _errors_as_messages(), _client(url, token) as client:
        body: dict[str, Any] = {
            "campaignId": client.campaign_named(campaign).id, "platform": platform,
            "targetResults": target, "cron": cron, "timezone": timezone, "missed": missed,
            "paused": paused, "budgetUsd": budget}
        if similar_to is not None:
            body["targetUsername"] = similar_to
        else:
            body["keywords"] = keyword
        made = client.create_schedule(body)
    if as_json:
        _print_json(made)
    else:
        typer.echo(f"{made.id} saved: " + ("paused" if made.paused
                                           else f"next at {made.nextFireAt}"))


@schedules.command("list")
def schedules_list(campaign: Annotated[str | None, typer.Option(
                       help="only this campaign's (id)")] = None,
                   as_json: AsJson = False, url: Url = DEFAULT_URL,
                   token: Token = None) -> None:
    """The schedules of your workspaces, newest first."""
    with _errors_as_messages(), _client(url, token) as client:
        found = client.schedules(campaign)
    if as_json:
        _print_json(found)
    elif found:
        out.print(schedules_table(found))
    else:
        err.print("no schedules")


def _pause(schedule_id: str, paused: bool, as_json: bool, url: str,
           token: str | None) -> None:
    with _errors_as_messages(), _client(url, token) as client:
        changed = client.change_schedule(schedule_id, paused=paused)
    if as_json:
        _print_json(changed)
    else:
        typer.echo(f"{changed.id} " + ("paused" if changed.paused
                                       else f"resumed: next at {changed.nextFireAt}"))


@schedules.command("pause")
def schedules_pause(schedule_id: str, as_json: AsJson = False, url: Url = DEFAULT_URL,
                    token: Token = None) -> None:
    """Pause a schedule: it starts nothing until resumed."""
    _pause(schedule_id, True, as_json, url, token)


@schedules.command("resume")
def schedules_resume(schedule_id: str, as_json: AsJson = False, url: Url = DEFAULT_URL,
                     token: Token = None) -> None:
    """Resume a schedule from now on: the times it was paused are not made up."""
    _pause(schedule_id, False, as_json, url, token)


@schedules.command("rm")
def schedules_rm(schedule_id: str, yes: Yes = False, url: Url = DEFAULT_URL,
                 token: Token = None) -> None:
    """Delete a schedule; the searches it started stay."""
    _confirmed(f"Delete schedule {schedule_id}?", yes)
    with _errors_as_messages(), _client(url, token) as client:
        client.delete_schedule(schedule_id)
    typer.echo(f"schedule {schedule_id} deleted")
