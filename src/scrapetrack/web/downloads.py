"""File answers: an export streamed as it is written, as an attachment."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from starlette.responses import StreamingResponse

from scrapetrack import exports

# The OpenAPI description of a route that answers with a file.
FILE_CONTENT: dict[str, Any] = {exports.MEDIA_TYPES[fmt]: {"schema": {
    "type": "string", "format": "binary"}} for fmt in ("csv", "xlsx")}
FILE: dict[str, Any] = {"description": "The creators as CSV, JSON or XLSX (`format`), with "
                                       "the columns `fields` picks", "content": FILE_CONTENT}


def export_response(fmt: str, records: Iterable[exports.Record], fields: Sequence[str],
                    name: str) -> StreamingResponse:
    """`records` written as `fmt` while they stream out (a plain iterator: it runs on a
    threadpool thread, so its reads never hold the event loop)."""
    headers: dict[str, Any] = {"Content-Disposition": f'attachment; filename="{name}.{fmt}"'}
    return StreamingResponse(exports.chunks(fmt, records, fields), headers=headers,
                             media_type=exports.MEDIA_TYPES[fmt])
