"""The JSON the sandbox answers with, shaped like Apify's API v2 objects.

Field names and required fields follow apify-client's own pydantic models (`Run`,
`DatasetResource`), so the real client validates what we send.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from scrapetrack.providers.base import RunStatus
from scrapetrack.sandbox.state import SandboxRun

_USER_ID = "sAnDbOxUsEr00001"
_EXIT_CODES = {RunStatus.SUCCEEDED: 0, RunStatus.FAILED: 1, RunStatus.TIMED_OUT: 1}


def iso(moment: datetime) -> str:
    """Apify's timestamp format: UTC, milliseconds, a trailing Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def stable_id(*parts: str) -> str:
    """A 17-character id derived from `parts`: the same actor always has the same actId."""
    digest = hashlib.sha256("|".join(parts).encode()).hexdigest()
    alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    number = int(digest, 16)
    out = []
    for _ in range(17):
        number, rest = divmod(number, len(alphabet))
        out.append(alphabet[rest])
    return "".join(out)


_PRICED_SINCE = "2025-01-01T00:00:00.000Z"


def run_json(run: SandboxRun, now: float) -> dict[str, Any]:
    status = run.status(now)
    end = run.ended_at()
    elapsed = max(0.0, min(now, end) - run.started)
    produced = run.produced(now)
    return {
        "id": run.id,
        "actId": stable_id("actor", run.actor_id),
        "userId": _USER_ID,
        "actorTaskId": None,
        "startedAt": iso(run.started_at),
        "finishedAt": iso(run.wall(end)) if status.finished else None,
        "status": status.value,
        "statusMessage": run.status_message(now),
        "isStatusMessageTerminal": status.finished,
        "meta": {"origin": "API", "userAgent": "scrapetrack-sandbox"},
        "stats": {
            "inputBodyLen": run.input_len, "restartCount": 0, "resurrectCount": 0,
            "durationMillis": int(elapsed * 1000), "runTimeSecs": round(elapsed, 3),
            "computeUnits": round(elapsed / 3600, 6),
        },
        "options": {"build": "latest", "timeoutSecs": 3600, "memoryMbytes": 1024,
                    "diskMbytes": 2048, "maxItems": run.plan.caps.max_items,
                    "maxTotalChargeUsd": run.plan.caps.max_total_charge_usd},
        "pricingInfo": {"pricingModel": "PRICE_PER_DATASET_ITEM", "unitName": "result",
                        "pricePerUnitUsd": run.plan.price_per_item_usd,
                        "apifyMarginPercentage": 0.2, "createdAt": _PRICED_SINCE,
                        "startedAt": _PRICED_SINCE},
        "buildId": stable_id("build", run.actor_id),
        "buildNumber": "0.1.17",
        "exitCode": _EXIT_CODES.get(status),
        "defaultKeyValueStoreId": stable_id("kvs", run.id),
        "defaultDatasetId": run.dataset_id,
        "defaultRequestQueueId": stable_id("rq", run.id),
        "containerUrl": f"https://{run.id.lower()}.runs.apify.net",
        "usageTotalUsd": run.plan.usage_usd(produced),
    }


def dataset_json(run: SandboxRun, now: float) -> dict[str, Any]:
    count = run.item_count(now)
    written_until = (run.started + run.plan.start_delay
                     + count / run.plan.items_per_second if count else run.started)
    return {
        "id": run.dataset_id,
        "name": None,
        "userId": _USER_ID,
        "createdAt": iso(run.started_at),
        "modifiedAt": iso(run.wall(written_until)),
        "accessedAt": iso(run.wall(now)),
        "itemCount": count,
        "cleanItemCount": count,
        "actId": stable_id("actor", run.actor_id),
        "actRunId": run.id,
        "consoleUrl": f"https://console.apify.com/storage/datasets/{run.dataset_id}",
        "stats": {"readCount": 0, "writeCount": count, "storageBytes": count * 1800},
    }


def error_json(type_: str, message: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """Apify's error body: {"error": {"type", "message", "data"?}}."""
    error: dict[str, Any] = {"type": type_, "message": message}
    if data is not None:
        error["data"] = data
    return {"error": error}
