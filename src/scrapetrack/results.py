"""A job's creators as the API and exports show them: JSON objects and CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from scrapetrack.store.models import CreatorRow

COLUMNS = ("platform", "handle", "displayName", "followers", "engagementRate", "bio",
           "profileUrl", "avatarUrl", "matchedKeyword")
# A cell a spreadsheet would read as a formula is prefixed with a quote (OWASP CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def creator_json(row: CreatorRow) -> dict[str, Any]:
    rate = row.engagement_rate
    return {"platform": row.platform, "handle": row.handle, "displayName": row.display_name,
            "followers": row.followers,
            "engagementRate": round(rate, 4) if rate is not None else None,
            "bio": row.bio, "profileUrl": row.profile_url, "avatarUrl": row.avatar_url,
            "matchedKeyword": row.matched_keyword, "verified": row.verified,
            "videos": row.items_count}


def safe_cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def results_csv(rows: Iterable[CreatorRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for row in rows:
        data = creator_json(row)
        writer.writerow([safe_cell(data[c]) for c in COLUMNS])
    return out.getvalue()
