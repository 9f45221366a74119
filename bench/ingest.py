"""Ingest: items per second from a finished sandbox run into the store, against the raw driver.

For each store (SQLite, then PostgreSQL when it answers), side by side in one run:
  * product: a fresh process runs the worker's own loop (`JobRunner.run`) on a keyword job of
    N items: it starts the sandbox run, then reads pages of 500 with apify-client over HTTP,
    normalises, deduplicates and upserts each page in one transaction with the job's counters;
    the sandbox serves every item at once, so the figure is the worker's, not Apify's pace;
  * raw driver: a fresh process reads and normalises the same pages first (not timed), then
    times sqlite3 / psycopg `executemany` of the same creator rows, the same upsert, one
    transaction per page: what the database itself allows, the limit.
Then the worker's loop on a job of 200,000 items (SQLite), its peak RSS beside the small job's:
streamed page by page, it must stay flat (≤ 200 MB).

    .venv/bin/python -m bench.ingest [--items N] [--big N] [--quick]
Targets (issue 10): product ≥ 0.5x the raw driver; peak RSS ≤ 200 MB at 200,000 items.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

from bench._summary import record  # noqa: E402
from bench.fanout import Child  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PAGE = 500
RATIO_TARGET = 0.5
RSS_TARGET_MB = 200
COLUMNS = ("job_id", "platform", "handle_key", "handle", "display_name", "followers",
           "engagement_sum", "engagement_samples", "bio", "profile_url", "avatar_url",
           "verified", "matched_keyword", "items_count", "created_at")


# children --------------------------------------------------------------------------------
def serve_sandbox() -> None:
    import socket

    import uvicorn

    from scrapetrack.sandbox import create_sandbox_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(f"READY {sock.getsockname()[1]}", flush=True)
    # Every item exists as soon as the run starts: the benchmark times the reader alone.
    app = create_sandbox_app(items_per_second=1e9, start_delay_seconds=0.0)
    uvicorn.run(app, fd=sock.fileno(), log_level="warning", access_log=False)


def prepared(database_url: str, sandbox_url: str, tmp: Path, items: int) -> Any:
    """A migrated store with one user, campaign and pending keyword job of `items` items."""
    from scrapetrack.config import load_settings
    from scrapetrack.events.poll import PollBus
    from scrapetrack.runtime import build_runtime

    settings = load_settings(database_url=database_url, queue_url=f"sqlite:///{tmp}/q.db",
                             apify_api_url=sandbox_url, apify_token="bench", data_dir=tmp,
                             event_bus="poll", MAX_TARGET_RESULTS=max(items, 1))
    runtime = build_runtime(settings, migrate=True, embedded_worker=False, bus=PollBus())
    user = runtime.store.create_user(f"bench-{uuid.uuid4().hex[:6]}@localhost")
    campaign = runtime.store.create_campaign(user.id, "bench", None)
    job = runtime.store.create_job(campaign_id=campaign.id, user_id=user.id, platform="tiktok",
                                   kind="keyword", keywords=["fitness coach"],
                                   target_results=items)
    return runtime, job


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM). Not ru_maxrss: Linux carries that over from the
    parent across fork and exec, so a child of a big benchmark would report its parent's."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def run_product(database_url: str, sandbox_url: str, tmp: Path, items: int) -> dict[str, Any]:
    runtime, job = prepared(database_url, sandbox_url, tmp, items)
    job_id = job.id
    try:
        started = time.perf_counter()
        runtime.runner.run(job_id)
        seconds = time.perf_counter() - started
        done = runtime.store.get_job(job_id)
        assert done is not None
        if done.status != "completed":
            raise RuntimeError(f"the job ended {done.status}: {done.last_error}")
        return {"seconds": seconds, "items": done.items_offset, "creators": done.creators_count,
                "rss_mb": peak_rss_mb()}
    finally:
        runtime.close()


def run_raw(database_url: str, sandbox_url: str, tmp: Path, items: int) -> dict[str, Any]:
    """The same pages fetched and normalised first; then timed, into two jobs of one store:
    `Store.ingest` (the worker's write, counters and offset guard included), and the raw
    driver's executemany of the same rows."""
    from scrapetrack.providers.platforms import get_platform
    from scrapetrack.store.models import utcnow
    from scrapetrack.store.repository import creator_rows

    runtime, job = prepared(database_url, sandbox_url, tmp, items)
    job_id = job.id
    try:
        store, keywords = runtime.store, ["fitness coach"]
        platform = get_platform("tiktok")
        run = runtime.provider.start(platform.actor_id(runtime.settings),
                                     platform.build_keyword_input(keywords, items,
                                                                  runtime.settings))
        pages: list[tuple[int, list[Any]]] = []
        offset = 0
        while True:
            page = runtime.provider.items_page(run.dataset_id, offset, PAGE)
            pages.append((len(page.items), [c for item in page.items if (
                c := platform.normalize(item, keywords)) is not None]))
            offset += len(page.items)
            if len(page.items) < PAGE:
                break
        assert store.claim(job_id, "bench", utcnow(), utcnow()) is not None
        started, done = time.perf_counter(), 0
        for size, creators in pages:
            assert store.ingest(job_id, "bench", from_offset=done, to_offset=done + size,
                                creators=creators, skipped=size - len(creators), progress=0,
                                rate_per_second=None) is not None
            done += size
        store_seconds = time.perf_counter() - started
        other = store.create_job(campaign_id=job.campaign_id, user_id=job.user_id,
                                 platform="tiktok", kind="keyword", keywords=keywords,
                                 target_results=items)
        rows = [creator_rows(other.id, creators) for _, creators in pages]
        with raw_connection(database_url) as (conn, mark):
            sql = upsert_sql(mark)
            cursor = conn.cursor()
            started = time.perf_counter()
            for page_rows in rows:
                cursor.executemany(sql, [tuple(row[c] for c in COLUMNS) for row in page_rows])
                conn.commit()
            raw_seconds = time.perf_counter() - started
        return {"seconds": raw_seconds, "store_seconds": store_seconds, "items": offset}
    finally:
        runtime.close()


@contextmanager
def raw_connection(database_url: str) -> Iterator[tuple[Any, str]]:
    if database_url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(database_url.removeprefix("sqlite:///"))
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        try:
            yield conn, "?"
        finally:
            conn.close()
    else:
        import psycopg

        with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://")) \
                as pg:
            yield pg, "%s"


def upsert_sql(mark: str) -> str:
    """The store's upsert, written by hand."""
    keep = ", ".join(f"{c} = coalesce(excluded.{c}, creators.{c})"
                     for c in ("display_name", "followers", "bio", "profile_url", "avatar_url"))
    return (f"INSERT INTO creators ({', '.join(COLUMNS)}) "
            f"VALUES ({', '.join([mark] * len(COLUMNS))}) "
            "ON CONFLICT (job_id, platform, handle_key) DO UPDATE SET "
            f"{keep}, matched_keyword = coalesce(creators.matched_keyword, "
            "excluded.matched_keyword), items_count = creators.items_count + "
            "excluded.items_count, engagement_sum = creators.engagement_sum + "
            "excluded.engagement_sum, engagement_samples = creators.engagement_samples + "
            "excluded.engagement_samples, verified = creators.verified OR excluded.verified")


def child_main(args: argparse.Namespace) -> int:
    if args.child == "sandbox":
        serve_sandbox()
        return 0
    run = run_product if args.child == "product" else run_raw
    result = run(args.database_url, args.sandbox_url, Path(args.tmp), args.items)
    print("RESULT " + json.dumps(result), flush=True)
    return 0


# the parent ------------------------------------------------------------------------------
def pg_answers() -> bool:
    try:
        import psycopg

        psycopg.connect(PG_ADMIN, connect_timeout=2).close()
    except Exception:
        return False
    return True


@contextmanager
def database(kind: str, tmp: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp}/app-{uuid.uuid4().hex[:6]}.db"
        return
    import psycopg

    name = f"bench_ingest_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def child(mode: str, database_url: str, sandbox_url: str, tmp: Path,
          items: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.ingest", "--child", mode, "--database-url", database_url,
         "--sandbox-url", sandbox_url, "--tmp", str(tmp), "--items", str(items)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
        timeout=1800)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
            return result
    raise RuntimeError(f"{mode} child failed ({out.returncode}): {out.stderr[-2000:]}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=50_000, help="items per side-by-side job")
    parser.add_argument("--big", type=int, default=200_000, help="items of the RSS job")
    parser.add_argument("--quick", action="store_true", help="10,000 items; big job 50,000")
    parser.add_argument("--child", choices=["sandbox", "product", "raw"], help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--sandbox-url", help=argparse.SUPPRESS)
    parser.add_argument("--tmp", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child_main(args)
    if args.quick:
        args.items, args.big = 10_000, 50_000
    stores = ["sqlite", *(["postgresql"] if pg_answers() else [])]
    rows: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="ingest-") as tmp_name:
        tmp = Path(tmp_name)
        sandbox = Child("sandbox", ["-m", "bench.ingest", "--child", "sandbox"],
                        tmp / "sandbox.log")
        try:
            sandbox_url = f"http://127.0.0.1:{sandbox.expect('READY', 60)[0]}"
            for kind in stores:
                with database(kind, tmp) as url:
                    product = child("product", url, sandbox_url, tmp, args.items)
                with database(kind, tmp) as url:
                    raw = child("raw", url, sandbox_url, tmp, args.items)
                rows.append((kind, product, raw))
            with database("sqlite", tmp) as url:
                big = child("product", url, sandbox_url, tmp, args.big)
        finally:
            sandbox.stop()
    print(f"\ningest: a finished TikTok sandbox run, pages of {PAGE}, one transaction per "
          f"page; {os.cpu_count()} CPUs\n")
    print("| store | items | creators | worker loop items/s | Store.ingest items/s | "
          "raw executemany items/s | worker / raw | Store.ingest / raw | worker peak RSS |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    failed = False
    verdicts = []
    for kind, product, raw in rows:
        p_rate = product["items"] / product["seconds"]
        s_rate = raw["items"] / raw["store_seconds"]
        r_rate = raw["items"] / raw["seconds"]
        ratio = s_rate / r_rate
        print(f"| {kind} | {product['items']:,} | {product['creators']:,} | {p_rate:,.0f} | "
              f"{s_rate:,.0f} | {r_rate:,.0f} | {p_rate / r_rate:.2f}x | {ratio:.2f}x | "
              f"{product['rss_mb']:.0f} MB |")
        ok = ratio >= RATIO_TARGET
        failed = failed or not ok
        verdicts.append(f"- {'PASS' if ok else 'FAIL'}  {kind}: the store's ingest ≥ "
                        f"{RATIO_TARGET}x the raw driver, same rows: {ratio:.2f}x")
        record("ingest", f"{kind}: Store.ingest items/s, same rows", f"{s_rate:,.0f}/s",
               f"{r_rate:,.0f}/s (raw executemany)", ratio, f"≥ {RATIO_TARGET}x", ok)
        record("ingest", f"{kind}: worker loop items/s (HTTP reads included)",
               f"{p_rate:,.0f}/s", f"{r_rate:,.0f}/s (raw executemany)", p_rate / r_rate)
    small_rss = rows[0][1]["rss_mb"]
    big_ok = big["rss_mb"] <= RSS_TARGET_MB
    failed = failed or not big_ok
    print(f"| sqlite (RSS job) | {big['items']:,} | {big['creators']:,} | "
          f"{big['items'] / big['seconds']:,.0f} | | | | | {big['rss_mb']:.0f} MB |")
    print()
    print("\n".join(verdicts))
    print(f"- {'PASS' if big_ok else 'FAIL'}  peak RSS at {big['items']:,} items "
          f"≤ {RSS_TARGET_MB} MB: {big['rss_mb']:.0f} MB ({small_rss:.0f} MB at "
          f"{rows[0][1]['items']:,})")
    record("ingest", f"worker peak RSS at {big['items']:,} items", f"{big['rss_mb']:.0f} MB",
           f"{small_rss:.0f} MB at {rows[0][1]['items']:,} items",
           big["rss_mb"] / small_rss if small_rss else None, f"≤ {RSS_TARGET_MB} MB", big_ok)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
