"""How the CLI shows things: a live progress bar, tables, and JSON lines for scripts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
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

from scrapetrack.schemas import CampaignOut, CreatorOut, JobOut, ScheduleOut
from scrapetrack.shortids import short


def status_text(job: JobOut) -> str:
    """The page's words for where a job is (the original design's texts)."""
    status = job.status
    if status == "pending":
        return "Starting search..."
    if status == "processing":
        return "Saving results..." if job.progress >= 99 else "Processing your search..."
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


def ago(when: str | None, now: datetime | None = None) -> str:
    """An ISO time relative to now, in a table's few characters: "just now", "3 min ago",
    "5 h ago", "2 d ago", "in 4 h"."""
    if not when:
        return "-"
    then = datetime.fromisoformat(when.replace("Z", "+00:00"))
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    seconds = ((now or datetime.now(UTC)) - then).total_seconds()
    size = abs(seconds)
    if size < 60:
        return "just now" if seconds >= 0 else "in < 1 min"
    for unit, length in (("d", 86400), ("h", 3600), ("min", 60)):
        if size >= length:
            amount = f"{int(size // length)} {unit}"
            break
    return f"{amount} ago" if seconds > 0 else f"in {amount}"


def list_table(*columns: tuple[str, dict[str, Any]]) -> Table:
    """A table that fits 80 columns: no borders, two spaces between columns; short columns
    never wrap (so never cut), the rest fold when the terminal is narrow."""
    table = Table(box=None, padding=(0, 1), pad_edge=False, header_style="bold")
    for name, options in columns:
        wraps = options.pop("wrap", False)
        table.add_column(name, no_wrap=not wraps, overflow="fold" if wraps else "ellipsis",
                         min_width=len(name) if not wraps else min(len(name), 8), **options)
    return table


def counts(job: JobOut) -> str:
    text = f"{job.processedResults}/{job.targetResults} items"
    if job.creatorsCount:
        text += f" · {job.creatorsCount} creators"
    return text


def speed(job: JobOut) -> str:
    rate = job.ratePerSecond
    if not rate:
        return ""
    return f"{rate:.1f}/s · ETA {duration(job.etaSeconds)}"


class View(Protocol):
    """Where a followed job's statuses go."""

    def __enter__(self) -> View: ...

    def __exit__(self, *exc: object) -> None: ...

    def update(self, job: JobOut) -> None: ...

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

    def update(self, job: JobOut) -> None:
        assert self.task is not None
        self.progress.update(self.task, completed=job.progress,
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

    def update(self, job: JobOut) -> None:
        self.out.file.write(job.model_dump_json() + "\n")
        self.out.file.flush()

    def note(self, text: str) -> None:
        self.err.print(Text(text))


def _add(table: Table, *cells: str) -> None:
    """A row of plain text: scraped names like "[/bold]" are shown, never read as markup."""
    table.add_row(*(Text(cell) for cell in cells))


def creators_table(rows: Sequence[CreatorOut], top: int) -> Table:
    table = Table(title=f"Top {min(top, len(rows))} of {len(rows)} creators", title_justify="left")
    for name, justify in (("#", "right"), ("handle", "left"), ("name", "left"),
                          ("followers", "right"), ("engagement", "right"),
                          ("videos", "right"), ("keyword", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for rank, row in enumerate(rows[:top], 1):
        rate = row.engagementRate
        _add(table, str(rank), f"@{row.handle}", row.displayName or "",
             f"{row.followers:,}" if row.followers is not None else "-",
             f"{rate * 100:.2f}%" if rate is not None else "-",
             str(row.videos or ""), row.matchedKeyword or "")
    return table


def search_of(job: JobOut) -> str:
    return ", ".join(job.keywords or []) or f"@{job.targetUsername}"


def jobs_table(jobs: Sequence[JobOut], now: datetime | None = None) -> Table:
    """id (its first 8 characters), platform, status, items, creators, search, created."""
    table = list_table(("id", {}), ("platform", {}), ("status", {}),
                       ("items", {"justify": "right"}), ("creators", {"justify": "right"}),
                       ("search", {"wrap": True, "ratio": 1}), ("created", {}))
    for job in jobs:
        _add(table, short(job.id), job.platform, job.status,
             f"{job.processedResults}/{job.targetResults}", str(job.creatorsCount),
             search_of(job), ago(job.createdAt, now))
    return table


def usd(value: object) -> str | None:
    """$0.0123 (four places under a cent, else two); None when there is no figure."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    return f"${value:.4f}" if 0 < value < 0.01 else f"${value:.2f}"


def job_details(job: JobOut) -> Table:
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    for label, value in (
            ("id", job.id), ("status", f"{job.status} ({status_text(job)})"),
            ("platform", job.platform), ("campaign", job.campaignId),
            ("search", search_of(job)),
            ("progress", f"{job.progress}%"), ("items", counts(job)),
            ("skipped items", job.skippedItems), ("rate", speed(job) or "-"),
            ("stage", job.stage), ("apify run", job.apifyRunId),
            ("run says", job.statusMessage), ("console", job.consoleUrl),
            ("cost", usd(job.costUsd)), ("budget", usd(job.budgetUsd)),
            ("created", job.createdAt),
            ("started", job.startedAt), ("finished", job.finishedAt),
            ("error", job.error)):
        if value not in (None, ""):
            _add(table, label, str(value))
    return table


def campaigns_table(campaigns: Sequence[CampaignOut], now: datetime | None = None) -> Table:
    table = list_table(("id", {}), ("name", {"wrap": True, "ratio": 1}), ("created", {}),
                       ("description", {"wrap": True, "ratio": 2}))
    for campaign in campaigns:
        _add(table, short(campaign.id), campaign.name, ago(campaign.createdAt, now),
             campaign.description or "")
    return table


def schedules_table(schedules: Sequence[ScheduleOut], now: datetime | None = None) -> Table:
    table = list_table(("id", {}), ("state", {}), ("next", {}),
                       ("cron", {"wrap": True, "ratio": 1}),
                       ("search", {"wrap": True, "ratio": 2}))
    for s in schedules:
        search = ", ".join(s.keywords or []) or f"like @{s.targetUsername}"
        state = "paused" if s.paused else ("failed" if s.lastError else "active")
        cron = s.cron if s.timezone == "UTC" else f"{s.cron} ({s.timezone})"
        _add(table, short(s.id), state, ago(s.nextFireAt, now) if s.nextFireAt else "-",
             cron, f"{s.platform}: {search}")
    return table
