"""A job's creators as CSV, for the API and the CLI's export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from scrapetrack.serializers import creator_json
from scrapetrack.store.models import CreatorRow

COLUMNS = ("platform", "handle", "displayName", "followers", "engagementRate", "bio",
           "profileUrl", "avatarUrl", "matchedKeyword", "similarityScore", "similarityReason")
# A cell a spreadsheet would read as a formula is prefixed with a quote (OWASP CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


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
