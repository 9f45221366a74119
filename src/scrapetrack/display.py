"""How the CLI shows things: a live progress bar, tables, and JSON lines for scripts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text


def status_text(job: dict[str, Any]) -> str:
    """The page's words for where a job is (the original design's texts)."""
    status = job["status"]
    if status == "pending":
        return "Starting search..."
    if status == "processing":
        return "Saving results..." if job["progress"] >= 99 else "Processing your search..."
    if status == "completed":
        return "100% completed"
    words = {"error": "Failed", "timeout": "Timed out", "cancelled": "Cancelled"}
    return words.get(status, str(status))


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    hours, rest = divmod(round(seconds), 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else \
        f"{rest // 60}:{rest % 60:02d}"


def counts(job: dict[str, Any]) -> str:
    text = f"{job['processedResults']}/{job['targetResults']} items"
    if job.get("creatorsCount"):
        text += f" · {job['creatorsCount']} creators"
    return text


def speed(job: dict[str, Any]) -> str:
    rate = job.get("ratePerSecond")
    if not rate:
        return ""
    return f"{rate:.1f}/s · ETA {duration(job.get('etaSeconds'))}"


class View(Protocol):
    """Where a followed job's statuses go."""

    def __enter__(self) -> View: ...

    def __exit__(self, *exc: object) -> None: ...

    def update(self, job: dict[str, Any]) -> None: ...

    def note(self, text: str) -> None: ...


class ProgressView:
    """A Rich progress bar on stderr: words, bar, percent, counts, rate, ETA, time taken."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
            TextColumn("{task.fields[counts]}"), TextColumn("[cyan]{task.fields[speed]}"),
            TimeElapsedColumn(), console=console)
        self.task: TaskID | None = None

    def __enter__(self) -> ProgressView:
        self.progress.start()
        self.task = self.progress.add_task("Starting search...", total=100, counts="",
                                           speed="")
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def update(self, job: dict[str, Any]) -> None:
        assert self.task is not None
        self.progress.update(self.task, completed=job["progress"],
                             description=escape(status_text(job)), counts=counts(job),
                             speed=speed(job))

    def note(self, text: str) -> None:
        self.progress.console.print(Text(text, style="yellow"))


class JsonLines:
    """One JSON line per status on stdout, for scripts; notes go to stderr."""

    def __init__(self, out: Console, err: Console) -> None:
        self.out = out
        self.err = err

    def __enter__(self) -> JsonLines:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def update(self, job: dict[str, Any]) -> None:
        self.out.file.write(json.dumps(job, separators=(",", ":")) + "\n")
        self.out.file.flush()

    def note(self, text: str) -> None:
        self.err.print(Text(text))


def _add(table: Table, *cells: str) -> None:
    """A row of plain text: scraped names like "[/bold]" are shown, never read as markup."""
    table.add_row(*(Text(cell) for cell in cells))


def creators_table(rows: Sequence[dict[str, Any]], top: int) -> Table:
    table = Table(title=f"Top {min(top, len(rows))} of {len(rows)} creators", title_justify="left")
    for name, justify in (("#", "right"), ("handle", "left"), ("name", "left"),
                          ("followers", "right"), ("engagement", "right"),
                          ("videos", "right"), ("keyword", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for rank, row in enumerate(rows[:top], 1):
        rate = row.get("engagementRate")
        _add(table, str(rank), f"@{row['handle']}", row.get("displayName") or "",
                      f"{row['followers']:,}" if row.get("followers") is not None else "-",
                      f"{rate * 100:.2f}%" if rate is not None else "-",
                      str(row.get("videos") or ""), row.get("matchedKeyword") or "")
    return table


def jobs_table(jobs: Sequence[dict[str, Any]]) -> Table:
    table = Table()
    for name in ("id", "platform", "status", "progress", "items", "creators", "search",
                 "created"):
        table.add_column(name, no_wrap=name == "id")
    for job in jobs:
        search = ", ".join(job.get("keywords") or []) or f"@{job.get('targetUsername')}"
        _add(table, job["id"], job["platform"], job["status"], f"{job['progress']}%",
                      f"{job['processedResults']}/{job['targetResults']}",
                      str(job.get("creatorsCount", 0)), search,
                      (job.get("createdAt") or "")[:19].replace("T", " "))
    return table


def usd(value: object) -> str | None:
    """$0.0123 (four places under a cent, else two); None when there is no figure."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    return f"${value:.4f}" if 0 < value < 0.01 else f"${value:.2f}"


def job_details(job: dict[str, Any]) -> Table:
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    for label, value in (
            ("id", job["id"]), ("status", f"{job['status']} ({status_text(job)})"),
            ("platform", job["platform"]), ("campaign", job.get("campaignId")),
            ("search", ", ".join(job.get("keywords") or [])
             or f"@{job.get('targetUsername')}"),
            ("progress", f"{job['progress']}%"), ("items", counts(job)),
            ("skipped items", job.get("skippedItems")), ("rate", speed(job) or "-"),
            ("stage", job.get("stage")), ("apify run", job.get("apifyRunId")),
            ("run says", job.get("statusMessage")), ("console", job.get("consoleUrl")),
            ("cost", usd(job.get("costUsd"))), ("budget", usd(job.get("budgetUsd"))),
            ("created", job.get("createdAt")),
            ("started", job.get("startedAt")), ("finished", job.get("finishedAt")),
            ("error", job.get("error"))):
        if value not in (None, ""):
            _add(table, label, str(value))
    return table


def campaigns_table(campaigns: Sequence[dict[str, Any]]) -> Table:
    table = Table()
    for name in ("id", "name", "created", "description"):
        table.add_column(name, no_wrap=name == "id")
    for campaign in campaigns:
        _add(table, campaign["id"], campaign["name"],
                      (campaign.get("createdAt") or "")[:19].replace("T", " "),
                      campaign.get("description") or "")
    return table
