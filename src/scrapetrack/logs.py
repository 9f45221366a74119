"""Logging: JSON lines for machines, plain text on a terminal, and the job each line is about.

The worker binds `job_id`, `campaign_id` and `apify_run_id` to the thread running a job
(`job_context`); a filter copies them onto every record logged meanwhile, by our code or by a
library. Another filter scrubs secrets (API tokens, one-time sign-in codes in URLs) from every
message before any handler formats it.
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
from typing import Any, TextIO

from scrapetrack.exceptions import ConfigError

CONTEXT_FIELDS = ("job_id", "campaign_id", "apify_run_id")
LEVELS = ("debug", "info", "warning", "error", "critical")
FORMATS = ("auto", "json", "text")

_context: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar(
    "scrapetrack_log_context", default={})  # noqa: B039 - never mutated, only replaced

# API tokens, codes and secrets in URLs (the access log prints /login?code=...), and bearer
# headers, wherever a message carries them.
SECRETS = (
    (re.compile(r"\bst_[A-Za-z0-9_-]{8,}"), "st_***"),
    (re.compile(r"([?&](?:code|token|access_token|secret|key)=)[^&\s\"']+", re.I), r"\1***"),
    (re.compile(r"(Bearer\s+)[^\s\"']+", re.I), r"\1***"),
)


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


def scrub(text: str) -> str:
    for pattern, replacement in SECRETS:
        text = pattern.sub(replacement, text)
    return text


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


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the job context, the error."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in CONTEXT_FIELDS:
            value = getattr(record, key, None)
            if value:
                entry[key] = value
        if record.exc_info:
            entry["error"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`time level logger: message [job=… run=…]`, for people."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        context = " ".join(f"{key.removesuffix('_id')}={getattr(record, key)}"
                           for key in CONTEXT_FIELDS if getattr(record, key, None))
        if not context:
            return text
        first, newline, rest = text.partition("\n")
        return f"{first} [{context}]{newline}{scrub(rest)}"


def configure_logging(level: str = "info", fmt: str = "auto",
                      stream: TextIO | None = None) -> logging.Handler:
    """Send every log record to stderr (or `stream`) at `level`, as JSON or text. The
    entry points call this once; it replaces any handler configured before."""
    level, fmt = level.strip().lower(), fmt.strip().lower()
    if level not in LEVELS:
        raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LEVELS)}, not {level!r}")
    if fmt not in FORMATS:
        raise ConfigError(f"LOG_FORMAT must be one of {', '.join(FORMATS)}, not {fmt!r}")
    stream = stream or sys.stderr
    if fmt == "auto":
        fmt = "text" if stream.isatty() else "json"
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Libraries that talk at INFO about every request or task: only their warnings, unless
    # we are debugging.
    quiet = logging.DEBUG if level == "debug" else logging.WARNING
    for name in ("httpx", "httpcore", "apify_client", "impit"):
        logging.getLogger(name).setLevel(max(quiet, root.level))
    logging.captureWarnings(True)
    return handler
