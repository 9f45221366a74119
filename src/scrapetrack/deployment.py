"""What this deployment is, in a few sentences: `scrapetrack serve` says it at start, so
whoever runs the embedded default knows its limits and where scaling out is described."""

from __future__ import annotations

from sqlalchemy.engine import make_url

from scrapetrack.config import Settings

SCALING = "docs/scaling.md"
BUSES = {"redis": "Redis pub/sub", "postgres": "PostgreSQL NOTIFY",
         "inprocess": "in-process calls", "poll": "polling the database"}
KINDS = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "postgres": "PostgreSQL",
         "redis": "Redis", "rediss": "Redis", "unix": "Redis"}


def limits(settings: Settings, *, bus: str, worker: bool) -> list[str]:
    """The store, the processes and the job slots in use, and where to read about more."""
    database = describe_url(settings.database_url)
    slots = f"{settings.worker_concurrency} job slots (WORKER_CONCURRENCY)"
    if kind_of(settings.database_url) == "SQLite":
        if worker:
            return [f"Embedded default: {database}, one process (web + worker), {slots}.",
                    "To serve more people or run more searches at once, see "
                    f"{SCALING} (PostgreSQL + Redis + more processes)."]
        return [f"{database}, web only: no worker runs in this process; `scrapetrack "
                "worker` on this machine runs the searches (SQLite is one file, on one "
                "machine).",
                f"To run searches on other machines, see {SCALING} (PostgreSQL + Redis)."]
    queue = "QStash" if settings.uses_qstash else describe_url(settings.queue_url)
    shape = f"{database}, queue on {queue}, live updates by {BUSES.get(bus, bus)}"
    if worker:
        return [f"{shape}; this process: web + worker, {slots}.",
                "More web and `scrapetrack worker` processes may join, on any machine: "
                f"see {SCALING}."]
    return [f"{shape}; this process: web only: searches run in `scrapetrack worker` "
            f"processes (see {SCALING})."]


def describe_url(url: str) -> str:
    """"PostgreSQL at db.internal:5432/scrapetrack", "SQLite at var/scrapetrack.db"."""
    return f"{kind_of(url)} at {where_of(url)}"


def kind_of(url: str) -> str:
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
    return KINDS.get(scheme, scheme or "it")


def where_of(url: str) -> str:
    """Host, port and database or file: never a password."""
    if url == "qstash":
        return "QStash"
    try:
        parsed = make_url(url)
    except Exception:
        return url.split("@")[-1]
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or "memory"
    host = parsed.host or "localhost"
    port = f":{parsed.port}" if parsed.port else ""
    database = f"/{parsed.database}" if parsed.database else ""
    return f"{host}{port}{database}"
