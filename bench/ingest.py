"""Ingest: a search's results must reach the store at about the pace the database itself
allows, in a worker whose memory does not grow with the size of the search; and the small
pages of hundreds of running jobs must cost a worker little CPU each, so one worker core
carries them (the jobs dimension)."""

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

from bench._proc import Proc, alone, database, parser, record, runtime, status
from scrapetrack.creators import Creator
from scrapetrack.page_writes import MOST_PAGES
from scrapetrack.providers.platforms import get_platform
from scrapetrack.sandbox import create_sandbox_app
from scrapetrack.serving import serve_in_thread
from scrapetrack.store.models import utcnow
from scrapetrack.store.repository import CREATOR_COLUMNS, PageWrite, creator_rows

PAGE, RATIO_TARGET, RSS_TARGET_MB, KEYWORDS = 500, 0.5, 200, ["fitness coach"]
COLUMNS = CREATOR_COLUMNS[:CREATOR_COLUMNS.index("terms")]  # less terms and outreach fields
LISTED = ("campaign_id", *COLUMNS[1:6], "engagement_rate", *COLUMNS[8:12], "status",
          "first_seen_at", "last_seen_at")
PROFILE = ("display_name", "followers", "bio", "profile_url", "avatar_url")  # newest non-null
# A worker at a few hundred running jobs: pages of one creator, about 20 gathered in each
# group commit (page_writes.py) while the previous ones are written.
SMALL_JOBS, SMALL_ROUNDS, GATHERED, SMALL_TARGET_MS = 60, 20, 20, 1.0


def store_and_raw(rt: Any, url: str, job_id: str, other: Any, items: int) -> dict[str, float]:
    """The job's pages, read and normalised first; then timed into the store, the worker's
    write (counters, offset guard and campaign list included), and by the driver into another
    campaign's job: the same rows, the creators, their list rows and links."""
    platform = get_platform("tiktok")
    run = rt.provider.start(platform.actor_id(rt.settings),
                            platform.build_keyword_input(KEYWORDS, items, rt.settings))
    pages: list[tuple[int, list[Any]]] = []
    while not pages or pages[-1][0] == PAGE:
        page = rt.provider.items_page(run.dataset_id, sum(n for n, _ in pages), PAGE).items
        pages.append((len(page), [c for item in page
                                  if (c := platform.normalize(item, KEYWORDS)) is not None]))
    assert rt.store.claim(job_id, "bench", utcnow(), utcnow()) is not None
    began, offset = time.perf_counter(), 0
    for size, creators in pages:
        assert rt.store.ingest(job_id, "bench", from_offset=offset, to_offset=offset + size,
                               creators=creators, skipped=size - len(creators), progress=0,
                               rate_per_second=None) is not None
        offset += size
    store_seconds = time.perf_counter() - began
    mark, added = "?" if url.startswith("sqlite") else "%s", ("items_count", "engagement_sum",
                                                                "engagement_samples")
    sql = (upsert(mark, "creators", COLUMNS, "job_id, platform, handle_key", ", ".join([
        *(f"{c} = creators.{c} + excluded.{c}" for c in added),
        "matched_keyword = coalesce(creators.matched_keyword, excluded.matched_keyword)"])),
        upsert(mark, "campaign_creators", LISTED, "campaign_id, platform, handle_key",
               "engagement_rate = coalesce(excluded.engagement_rate, campaign_creators."
               "engagement_rate), handle = excluded.handle, last_seen_at = excluded.last_seen_at"),
        f"INSERT INTO campaign_creator_jobs (creator_id, job_id) SELECT id, {mark} FROM "
        f"campaign_creators WHERE campaign_id = {mark} AND platform = {mark} AND handle_key = "
        f"{mark} ON CONFLICT DO NOTHING")
    listed, rows = {"campaign_id": other.campaign_id, "status": "new", "first_seen_at": utcnow(),
                    "last_seen_at": utcnow()}, []
    for page in (creator_rows(other.id, creators) for _, creators in pages):
        rows.append(([tuple(row[c] for c in COLUMNS) for row in page], [tuple((row | listed | {
            "engagement_rate": row["engagement_sum"] / row["engagement_samples"] if row[
                "engagement_samples"] else None})[c] for c in LISTED) for row in page],
            [(other.id, other.campaign_id, row["platform"], row["handle_key"]) for row in page]))
    conn = rt.store.engine.raw_connection()  # the driver's, set up as the store's are
    cursor, began = conn.cursor(), time.perf_counter()
    for page_rows in rows:
        if mark == "?":  # SQLite's driver is left in autocommit: a page is a transaction
            cursor.execute("BEGIN")
        for statement, values in zip(sql, page_rows, strict=True):
            cursor.executemany(statement, values)
        conn.commit()
    raw_seconds = time.perf_counter() - began
    conn.close()
    return {"raw_seconds": raw_seconds, "store_seconds": store_seconds, "items": offset}


def small_pages(rt: Any, user_id: str) -> dict[str, float]:
    """The worker process's CPU per one-creator page, in ms: written alone (`Store.ingest`, a
    transaction each, as an idle worker writes) and gathered `GATHERED` pages of as many jobs
    to a transaction (`Store.ingest_pages`, as a busy one does). Each way on jobs of its own,
    each job in a campaign of its own."""
    assert GATHERED <= MOST_PAGES

    def claimed() -> list[str]:
        ids = [rt.store.create_job(
            campaign_id=rt.store.create_campaign(user_id, "bench", None).id, user_id=user_id,
            platform="tiktok", kind="keyword", keywords=KEYWORDS, target_results=100).id
            for _ in range(SMALL_JOBS)]
        for job_id in ids:
            assert rt.store.claim(job_id, "bench", utcnow(), utcnow()) is not None
        return ids

    def rounds(ids: list[str]) -> list[PageWrite]:
        return [PageWrite(job_id, "bench", n, n + 1, (Creator(
            "tiktok", f"c{n}_{k}", display_name=f"Coach {n}", followers=1000 + n),),
            skipped=0, progress=n + 1, rate_per_second=1.0)
            for n in range(SMALL_ROUNDS) for k, job_id in enumerate(ids)]

    alone_pages, gathered_pages = rounds(claimed()), rounds(claimed())
    began = time.process_time()
    for page in alone_pages:
        assert rt.store.ingest_pages([page])[0] is not None
    alone_ms = (time.process_time() - began) * 1000 / len(alone_pages)
    began = time.process_time()
    for at in range(0, len(gathered_pages), GATHERED):
        assert None not in rt.store.ingest_pages(gathered_pages[at:at + GATHERED])
    gathered_ms = (time.process_time() - began) * 1000 / len(gathered_pages)
    return {"alone_ms": alone_ms, "gathered_ms": gathered_ms}


def upsert(mark: str, table: str, columns: tuple[str, ...], key: str, sets: str) -> str:
    """One of the store's upserts, written by hand."""
    newest = ", ".join(f"{c} = coalesce(excluded.{c}, {table}.{c})" for c in PROFILE)
    return (f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
            f"({', '.join([mark] * len(columns))}) ON CONFLICT ({key}) DO UPDATE SET "
            f"{newest}, verified = {table}.verified OR excluded.verified, {sets}")


def measure(mode: str, url: str, sandbox: str, tmp: str, items: int) -> dict[str, float]:
    """In a process of its own: the worker loop, or ("raw") the store and the raw driver."""
    rt = runtime(DATABASE_URL=url, QUEUE_URL=f"sqlite:///{tmp}/q.db", APIFY_API_URL=sandbox,
                 APIFY_TOKEN="bench", SCRAPETRACK_DATA_DIR=tmp, EVENT_BUS="poll",
                 MAX_TARGET_RESULTS=max(items, 1))
    try:
        user = rt.store.create_user("bench@localhost")
        jobs = [rt.store.create_job(
            campaign_id=rt.store.create_campaign(user.id, "bench", None).id, user_id=user.id,
            platform="tiktok", kind="keyword", keywords=KEYWORDS, target_results=items)
            for _ in range(1 if mode == "worker" else 2)]
        if mode == "pages":
            return small_pages(rt, user.id)
        if mode == "raw":
            return store_and_raw(rt, url, jobs[0].id, jobs[1], items)
        began = time.perf_counter()
        rt.runner.run(jobs[0].id)
        seconds, done = time.perf_counter() - began, rt.store.get_job(jobs[0].id)
        if done.status != "completed":
            raise RuntimeError(f"the job ended {done.status}: {done.last_error}")
        return {"seconds": seconds, "items": done.items_offset,
                "rss_mb": status("self", "VmHWM") / 2**20}
    finally:
        rt.close()


def main(argv: list[str]) -> None:
    args = parser(__doc__, "10,000 items; the RSS job 50,000").parse_args(argv)
    items, big = (10_000, 50_000) if args.quick else (50_000, 200_000)
    # Every item exists as soon as a run starts: the reader alone is timed.
    app = create_sandbox_app(items_per_second=1e9, start_delay_seconds=0.0)
    with tempfile.TemporaryDirectory(prefix="ingest-") as tmp, \
            serve_in_thread(app, lifespan=False) as sandbox:

        def child(mode: str, kind: str, n: int) -> dict[str, float]:
            with database(kind, Path(tmp)) as url, Proc(
                    ["-m", "bench.ingest", mode, url, sandbox, tmp, str(n)],
                    Path(tmp) / f"{mode}-{kind}-{n}.log") as proc:
                return cast(dict[str, float], json.loads(proc.expect("RESULT", 1800)))

        runs = [(kind + "ql" * (kind == "postgres"), child("worker", kind, items),
                 child("raw", kind, items), child("pages", kind, 0))
                for kind in ("sqlite", "postgres")]
        large = child("worker", "sqlite", big)
    for kind, worker, raw, small in runs:
        w_rate, s_rate = worker["items"] / worker["seconds"], raw["items"] / raw["store_seconds"]
        r_rate = raw["items"] / raw["raw_seconds"]
        record("ingest", f"{kind}: Store.ingest items/s, same rows", f"{s_rate:,.0f}/s",
               f"{r_rate:,.0f}/s (raw executemany)", s_rate / r_rate, f"≥ {RATIO_TARGET}x",
               s_rate / r_rate >= RATIO_TARGET)
        record("ingest", f"{kind}: worker loop items/s (HTTP reads included)",
               f"{w_rate:,.0f}/s", f"{r_rate:,.0f}/s (raw executemany)", w_rate / r_rate)
        record("ingest", f"{kind}: worker CPU per 1-creator page, {GATHERED} to a transaction",
               f"{small['gathered_ms']:.2f} ms", f"{small['alone_ms']:.2f} ms (a page alone)",
               small["gathered_ms"] / small["alone_ms"], f"≤ {SMALL_TARGET_MS} ms",
               small["gathered_ms"] <= SMALL_TARGET_MS)
    first = runs[0][1]
    record("ingest", f"worker peak RSS at {large['items']:,.0f} items", f"{large['rss_mb']:.0f} MB",
           f"{first['rss_mb']:.0f} MB at {first['items']:,.0f} items", large["rss_mb"]
           / first["rss_mb"], f"≤ {RSS_TARGET_MB} MB", large["rss_mb"] <= RSS_TARGET_MB)


if __name__ == "__main__":
    if sys.argv[1:2] in (["worker"], ["raw"], ["pages"]):
        mode, url, sandbox, tmp, items = sys.argv[1:]
        print("RESULT " + json.dumps(measure(mode, url, sandbox, tmp, int(items))), flush=True)
    else:
        alone(main)
