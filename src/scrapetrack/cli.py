"""The `scrapetrack` command: thin, over the same service layer as the routes."""

from __future__ import annotations

import signal
import sys
import threading
import time
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

from scrapetrack.config import Settings, load_settings
from scrapetrack.exceptions import ScrapetrackError

app = typer.Typer(help="Creator-discovery scraping jobs with live progress.",
                  no_args_is_help=True)
users = typer.Typer(help="Manage users and their API tokens.", no_args_is_help=True)
app.add_typer(users, name="users")
err = Console(stderr=True)

TERMINAL = {"completed", "error", "timeout", "cancelled"}


def fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(1)


def _runtime(settings: Settings, *, embedded_worker: bool = True) -> Any:
    from scrapetrack.runtime import build_runtime

    return build_runtime(settings, migrate=True, embedded_worker=embedded_worker)


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
def serve(host: Annotated[str | None, typer.Option(envvar="HOST")] = None,
          port: Annotated[int | None, typer.Option(envvar="PORT")] = None,
          no_worker: Annotated[bool, typer.Option("--no-worker")] = False) -> None:
    """Run the web app, with an embedded worker unless --no-worker."""
    import uvicorn

    from scrapetrack.serving import GracefulServer, redact_access_log
    from scrapetrack.web.app import create_app

    overrides: dict[str, Any] = {}
    if host:
        overrides["host"] = host
    if port:
        overrides["port"] = port
    settings = load_settings(**overrides)
    runtime = _runtime(settings, embedded_worker=not no_worker)
    code = runtime.accounts.owner_login_code()
    shown = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    typer.echo(f"scrapetrack on http://{shown}:{settings.port}")
    if settings.uses_sandbox:
        typer.echo("APIFY_TOKEN is not set: searches run against the built-in sandbox")
    typer.echo(f"Sign in as the local owner: http://{shown}:{settings.port}/login?code={code}")
    sys.stdout.flush()
    application = create_app(settings, runtime=runtime, worker=not no_worker)
    server = GracefulServer(uvicorn.Config(application, host=settings.host, port=settings.port,
                                           log_level="info", timeout_graceful_shutdown=10,
                                           proxy_headers=True,
                                           forwarded_allow_ips=settings.forwarded_allow_ips),
                            on_exit=runtime.hub.close_streams_threadsafe)
    redact_access_log()
    try:
        server.run()
    finally:
        runtime.close()


@app.command()
def worker(concurrency: Annotated[int | None, typer.Option(help="jobs at once")] = None) -> None:
    """Run a worker alone; several may run, on several machines."""
    settings = load_settings(**({"WORKER_CONCURRENCY": concurrency} if concurrency else {}))
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

    from scrapetrack.sandbox.app import create_sandbox_app

    settings = load_settings()
    typer.echo(f"sandbox on http://{host}:{port} (set APIFY_API_URL to it)")
    uvicorn.run(create_sandbox_app(items_per_second=settings.sandbox_items_per_second,
                                   start_delay_seconds=settings.sandbox_start_delay_seconds,
                                   faults=settings.sandbox_faults),
                host=host, port=port, log_level="warning")


@users.command("create")
def users_create(email: str) -> None:
    """Create a user; the last line printed is their new API token."""
    runtime = _runtime(load_settings())
    try:
        created = runtime.accounts.create_user(email)
    except ScrapetrackError as exc:
        fail(exc.message)
    finally:
        runtime.store.close()
    typer.echo(f"created {created.user.email}; their API token (shown once):")
    typer.echo(created.token)


@users.command("list")
def users_list() -> None:
    """List users and their tokens: prefix, id, created, last used, revoked (never the token)."""
    runtime = _runtime(load_settings())
    try:
        tokens = runtime.accounts.tokens()
        for user in runtime.store.list_users():
            typer.echo(f"{user.id}  {user.email}  {user.created_at:%Y-%m-%d}")
            for token in (t for t in tokens if t.email == user.email):
                typer.echo("    " + _token_line(token))
    finally:
        runtime.store.close()


def _token_line(token: Any) -> str:
    def when(value: Any) -> str:
        return f"{value:%Y-%m-%d %H:%M}" if value else "-"

    state = f"revoked {when(token.revoked_at)}" if token.revoked_at else "active"
    if token.kind == "login":
        state = "sign-in code, " + ("used" if token.last_used_at else "unused")
        state += f", revoked {when(token.revoked_at)}" if token.revoked_at else ""
    return (f"{token.prefix}…  id {token.id}  created {when(token.created_at)}  "
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
    runtime = _runtime(load_settings())
    try:
        if email is not None:
            count = runtime.accounts.revoke_all(email)
            typer.echo(f"revoked {count} token(s) of {email.strip().lower()}")
        else:
            revoked = runtime.accounts.revoke(token or "")
            typer.echo(f"revoked {revoked.prefix}… of {revoked.email}")
    except ScrapetrackError as exc:
        fail(exc.message)
    finally:
        runtime.store.close()


@users.command("token")
def users_token(email: str) -> None:
    """Give an existing user a new API token; the last line printed is the token."""
    runtime = _runtime(load_settings())
    try:
        token = runtime.accounts.new_token(email)
    except ScrapetrackError as exc:
        fail(exc.message)
    finally:
        runtime.store.close()
    typer.echo(f"a new API token for {email.strip().lower()} (shown once):")
    typer.echo(token)


class Api:
    """The HTTP API, for commands that act as a client of a running server."""

    def __init__(self, url: str, token: str | None) -> None:
        if not token:
            fail("give --token or set SCRAPETRACK_TOKEN (see `scrapetrack users create`)")
        self.client = httpx.Client(base_url=url, timeout=30,
                                   headers={"Authorization": f"Bearer {token}"})

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            fail(f"cannot reach {self.client.base_url}: {exc}")
        if response.status_code >= 400:
            try:
                message = response.json().get("error", response.text)
            except ValueError:
                message = response.text
            fail(f"{response.status_code}: {message}")
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text


Url = Annotated[str, typer.Option(envvar="SCRAPETRACK_URL")]
Token = Annotated[str | None, typer.Option(envvar="SCRAPETRACK_TOKEN")]


@app.command()
def search(platform: str,
           keyword: Annotated[list[str] | None, typer.Option("--keyword", "-k")] = None,
           similar_to: Annotated[str | None, typer.Option("--similar-to")] = None,
           target: Annotated[int, typer.Option()] = 100,
           campaign: Annotated[str, typer.Option()] = "CLI searches",
           url: Url = "http://127.0.0.1:8000", token: Token = None) -> None:
    """Start a search and follow it with a live progress bar."""
    if not keyword and not similar_to:
        fail("give --keyword (one or more) or --similar-to")
    api = Api(url, token)
    found = [c for c in api.call("GET", "/api/campaigns") if c["name"] == campaign]
    campaign_id = (found[0] if found else api.call("POST", "/api/campaigns",
                                                     json={"name": campaign}))["id"]
    body: dict[str, Any] = {"campaignId": campaign_id, "targetResults": target}
    if similar_to:
        body["targetUsername"] = similar_to.lstrip("@")
    else:
        body["keywords"] = keyword
    job = api.call("POST", f"/api/scraping/{platform}", json=body)
    err.print(f"job {job['id']} started")
    with Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                  TextColumn("{task.fields[detail]}"), console=err) as bar:
        task = bar.add_task("Starting search...", total=100, detail="")
        while job["status"] not in TERMINAL:
            time.sleep(1)  # the API's status poll; push arrives with the event stream
            job = api.call("GET", f"/api/scraping/{platform}", params={"jobId": job["id"]})
            rate = job.get("ratePerSecond")
            bar.update(task, completed=job["progress"],
                       description="Processing your search..." if job["status"] == "processing"
                       else "Starting search...",
                       detail=f"{job['processedResults']}/{job['targetResults']}"
                       + (f" · {rate}/s" if rate else ""))
        bar.update(task, completed=job["progress"], description=job["status"])
    typer.echo(f"{job['status']}: {job['processedResults']} items, "
               f"{job.get('creatorsCount', 0)} creators" +
               (f" ({job['error']})" if job.get("error") else ""))
    if job["status"] != "completed":
        raise typer.Exit(1)


@app.command()
def export(job_id: str, format: Annotated[str, typer.Option()] = "csv",
           url: Url = "http://127.0.0.1:8000", token: Token = None) -> None:
    """A job's creators on stdout, as CSV or JSON."""
    if format not in ("csv", "json"):
        fail("--format is csv or json")
    result = Api(url, token).call("GET", f"/api/jobs/{job_id}/results",
                                  params={"format": format})
    if format == "json":
        import json

        typer.echo(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        typer.echo(result, nl=False)
