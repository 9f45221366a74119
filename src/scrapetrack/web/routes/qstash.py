"""QStash deliveries: verified before anything is read, then run off the event loop."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Request

from scrapetrack.exceptions import Unauthorized
from scrapetrack.qstash import PATH, QStashQueue
from scrapetrack.schemas import DeliveryOut
from scrapetrack.web.deps import QueueDep, ReaperDep, StoreDep
from scrapetrack.web.openapi import errors

router = APIRouter(tags=["qstash"])


@router.post(PATH, response_model=DeliveryOut, response_model_exclude_none=True,
             responses=errors(400, 401, 413, 422, 503))
async def process_scraping(request: Request, queue: QueueDep, reap: ReaperDep,
                           store: StoreDep) -> dict[str, Any]:
    """Advance the job a QStash message names, for at most QSTASH_BUDGET_SECONDS."""
    if not isinstance(queue, QStashQueue):
        raise Unauthorized("QStash delivery is not enabled: QUEUE_URL is not qstash")
    message = queue.verify(request.headers.get("upstash-signature"), await request.body(),
                           request.headers.get("upstash-message-id"))
    # Their own thread pool: deliveries that wait on Apify never starve the API's threads.
    result: dict[str, Any] = await anyio.to_thread.run_sync(
        queue.deliver, message, reap, store,
        limiter=request.app.state.qstash_limiter)
    return result
