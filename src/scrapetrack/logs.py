"""Logging: JSON lines for machines, readable lines on a terminal, and the job each line is
about.

The worker binds `job_id`, `campaign_id` and `apify_run_id` to the thread running a job
(`job_context`); a filter copies them onto every record logged meanwhile, by our code or by a
library. A line may carry more structured fields (`fields(...)`, `job_fields(job)`): keys in
JSON, `key=value` on the console. Another filter scrubs secrets (API tokens, one-time sign-in
codes in URLs) from every message before any handler formats it.

Routine lines of libraries (Huey's per-task "Executing …", health probes in the access log)
are demoted to debug, so an idle process says nothing at info.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Protocol, TextIO

from scrapetrack.exceptions import ConfigError

CONTEXT_FIELDS = ("job_id", "campaign_id", "apify_run_id")
LEVELS = ("debug", "info", "warning", "error", "critical")
# "text" is the earlier name of "console", still accepted so existing setups keep working.
FORMATS = ("auto", "json", "console", "text")
FIELDS = "scrapetrack_fields"  # the record attribute `fields()` fills

_context: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar(
    "scrapetrack_log_context", default={})  # noqa: B039 - never mutated, only replaced

# API tokens, codes and secrets in URLs (the access log prints /login?code=...), and bearer
# headers, wherever a message carries them.
SECRETS = (
    (re.compile(r"\bst_[A-Za-z0-9_-]{8,}"), "st_***"),
    (re.compile(r"([?&](?:code|token|access_token|secret|key)=)[^&\s\"']+", re.I), r"\1***"),
    (re.compile(r"(Bearer\s+)[^\s\"']+", re.I), r"\1***"),
)
UUID = re.compile(r"\b([0-9a-f]{8})-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
# Requests that monitoring makes all day long: at debug in the access log.
PROBES = frozenset({"/healthz", "/readyz", "/metrics"})


@contextmanager
def job_context(**fields: str | None) -> Iterator[None]:
    """Attach these fields to every record logged in this thread (or task) meanwhile."""
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v}})
    try:
        yield
    finally:
        _context.reset(token)


def bind(**fields: str | None) -> None:
    """Add fields to the current job context (the Apify run id, once it is known)."""
    _context.set({**_context.get(), **{k: v for k, v in fields.items() if v}})


def current_context() -> dict[str, str]:
    return dict(_context.get())


def fields(**values: object) -> dict[str, Any]:
    """`extra=` for a line's structured fields (None values left out)."""
    return {FIELDS: {key: value for key, value in values.items() if value is not None}}


class JobLike(Protocol):
    """What a job line says about its job (a ScrapingJob row has it all)."""

    @property
    def id(self) -> str: ...
    @property
    def user_id(self) -> str | None: ...
    @property
    def campaign_id(self) -> str: ...
    @property
    def platform(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def processed_results(self) -> int: ...
    @property
    def creators_count(self) -> int: ...
    @property
    def cost_usd(self) -> float | None: ...


def job_fields(job: JobLike, **more: object) -> dict[str, Any]:
    """`extra=` for a job's transition: who, where, how far, what it cost."""
    return fields(**{"job_id": job.id, "user_id": job.user_id, "campaign_id": job.campaign_id,
                     "platform": job.platform, "status": str(job.status),
                     "processed": job.processed_results, "creators": job.creators_count,
                     "cost_usd": job.cost_usd, **more})


def scrub(text: str) -> str:
    for pattern, replacement in SECRETS:
        text = pattern.sub(replacement, text)
    return text


def short_ids(text: str) -> str:
    """Every UUID in `text` as its first 8 characters, as the CLI shows them."""
    return UUID.sub(r"\1", text)


class ContextFilter(logging.Filter):
    """Copies the job context onto the record, and scrubs secrets from its message."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        message = record.getMessage()
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


class Routine(logging.Filter):
    """Demotes a library's routine INFO lines to DEBUG (its warnings and errors stay): the
    handler's level then drops them unless LOG_LEVEL=debug."""

    def __init__(self, probes_only: bool = False) -> None:
        super().__init__()
        self.probes_only = probes_only

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO:
            return True
        if self.probes_only:  # uvicorn.access: (client, method, path, version, status)
            args = record.args if isinstance(record.args, tuple) else ()
            path = str(args[2]).partition("?")[0] if len(args) > 2 else ""
            if path not in PROBES:
                return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


def _entries(record: logging.LogRecord) -> dict[str, Any]:
    """The record's structured fields, then its job context (a field given wins)."""
    entries: dict[str, Any] = dict(getattr(record, FIELDS, None) or {})
    for key in CONTEXT_FIELDS:
        value = getattr(record, key, None)
        if value and key not in entries:
            entries[key] = value
    return entries


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the fields and job context,
    the error."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in _entries(record).items():
            entry.setdefault(key, value)
        if record.exc_info:
            entry["error"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class ConsoleFormatter(logging.Formatter):
    """`12:03:04 INFO  job 3f6c1a52 ended completed: …  platform=tiktok user=…`, for people:
    ids cut to 8 characters, fields as key=value (`_id` dropped from their names), the
    logger named only when it is not ours."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        message = short_ids(record.getMessage())
        if not record.name.startswith("scrapetrack"):
            message = f"{record.name}: {message}"
        pairs = []
        for key, value in _entries(record).items():
            shown = short_ids(f"{value:g}" if isinstance(value, float) else str(value))
            if key.endswith("_id") and shown in message:
                continue  # "job 3f6c1a52 …" says it already
            pairs.append(f"{key.removesuffix('_id')}={shown}")
        text = f"{when} {record.levelname:<5} {message}"
        if pairs:
            text += "  " + " ".join(pairs)
        if record.exc_info:
            text += "\n" + scrub(self.formatException(record.exc_info))
        return text


def resolve_format(fmt: str, stream: TextIO) -> str:
    """`json` or `console`: auto means console on a terminal, JSON otherwise."""
    fmt = fmt.strip().lower()
    if fmt not in FORMATS:
        raise ConfigError(f"LOG_FORMAT must be one of {', '.join(FORMATS[:3])}, not {fmt!r}")
    if fmt == "auto":
        return "console" if stream.isatty() else "json"
    return "console" if fmt == "text" else fmt


def configure_logging(level: str = "info", fmt: str = "auto",
                      stream: TextIO | None = None) -> logging.Handler:
    """Send every log record to stderr (or `stream`) at `level`, as JSON or console lines.
    The entry points call this once; it replaces any handler configured before."""
    level = level.strip().lower()
    if level not in LEVELS:
        raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LEVELS)}, not {level!r}")
    stream = stream or sys.stderr
    chosen = resolve_format(fmt, stream)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if chosen == "json" else ConsoleFormatter())
    handler.addFilter(ContextFilter())
    # The handler's level too: lines demoted by `Routine` after the logger let them through
    # are dropped here.
    handler.setLevel(level.upper())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Libraries that talk at INFO about every request or task: only their warnings, unless
    # we are debugging.
    quiet = logging.DEBUG if level == "debug" else logging.WARNING
    # (alembic.runtime.plugins: a line per plugin each time migrations are looked at.)
    for name in ("httpx", "httpcore", "aiohttp", "apify_client", "impit",
                 "alembic.runtime.plugins"):
        logging.getLogger(name).setLevel(max(quiet, root.level))
    # uvicorn may have given its loggers handlers of their own (its default config, in an
    # embedding process): ours is the one format.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            logger.removeHandler(old)
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
    # Huey's "Executing …", "… executed in …", "Added task … to schedule": one per task.
    # Our own lines tell each job's transitions; the consumer's start and stop stay at info.
    _install(logging.getLogger("huey"), Routine())
    _install(logging.getLogger("uvicorn.access"), Routine(probes_only=True))
    logging.captureWarnings(True)
    return handler


def _install(logger: logging.Logger, routine: Routine) -> None:
    """One Routine filter per logger, however often logging is configured."""
    for old in [f for f in logger.filters if isinstance(f, Routine)]:
        logger.removeFilter(old)
    logger.addFilter(routine)
