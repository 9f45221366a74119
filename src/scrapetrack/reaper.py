"""The reaper: queue again every job that no live worker is running.

Huey delivers at most once: a worker killed mid-job takes its task with it, and a process
that dies between saving a job and queueing it leaves the job unqueued. The job row knows
better: a `processing` job whose heartbeat went stale, or a `pending` job that is not in the
queue, is an orphan. Queueing one twice is harmless, since only one worker can claim it.
Every worker runs this when it starts and then periodically; several at once do no harm.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from datetime import timedelta

from scrapetrack.store.models import utcnow
from scrapetrack.store.repository import Store

log = logging.getLogger(__name__)

# A pending job younger than this may have its queue entry on the way: leave it be.
PENDING_GRACE = timedelta(seconds=10)


def reap(store: Store, queued: Callable[[], Collection[str]], enqueue: Callable[[str], None],
         heartbeat_timeout: float) -> list[str]:
    """Queue every orphan that is not already queued; the ids queued."""
    now = utcnow()
    orphans = store.orphans(now - timedelta(seconds=heartbeat_timeout), now - PENDING_GRACE,
                            now)
    if not orphans:
        log.debug("reaper: no orphaned jobs")  # every period: routine, at debug
        return []
    waiting = set(queued())
    revived = [job_id for job_id in orphans if job_id not in waiting]
    for job_id in revived:
        enqueue(job_id)
    if revived:
        log.warning("queued %d orphaned job(s) again: %s", len(revived), ", ".join(revived))
    return revived
