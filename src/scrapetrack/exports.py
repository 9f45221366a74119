"""Creators as files people open: CSV, JSON and XLSX, written as a stream of chunks.

Every format carries the same fields as the API's JSON, or those `fields=` picks, in the
order picked. A text cell a spreadsheet would read as a formula is neutralised the same way
in CSV and XLSX (OWASP's CSV injection advice): a leading quote, and in XLSX a cell typed as
text, never as a formula.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from scrapetrack.exceptions import InputError

MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
FORMATS = tuple(MEDIA_TYPES)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
ROWS_PER_CHUNK = 500
FILE_CHUNK = 64 * 1024

Record = Mapping[str, Any]


def check_format(raw: str) -> str:
    if raw not in MEDIA_TYPES:
        raise InputError(f"format must be one of {', '.join(FORMATS)}")
    return raw


def pick_fields(raw: str | None, available: Sequence[str]) -> list[str]:
    """The fields `raw` names (comma-separated), in its order; every field when empty."""
    picked = list(dict.fromkeys(f.strip() for f in (raw or "").split(",") if f.strip()))
    unknown = [f for f in picked if f not in available]
    if unknown:
        raise InputError(f"fields has unknown names ({', '.join(unknown)[:200]}); pick from "
                         f"{', '.join(available)}")
    return picked or list(available)


def safe_cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _flat(value: object) -> object:
    """A list (tags, foundBy) as one cell."""
    return "; ".join(map(str, value)) if isinstance(value, list) else value


def chunks(fmt: str, records: Iterable[Record], fields: Sequence[str],
           title: str = "Creators") -> Iterator[bytes]:
    """The file, a chunk at a time: CSV and JSON as the records come; XLSX written to a
    temporary file first (a zip's directory comes last), then read out."""
    if fmt == "csv":
        return _csv(records, fields)
    if fmt == "json":
        return _json(records, fields)
    return _xlsx(records, fields, title)


def _csv(records: Iterable[Record], fields: Sequence[str]) -> Iterator[bytes]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(fields)
    for i, record in enumerate(records, 1):
        writer.writerow([safe_cell(_flat(record[f])) for f in fields])
        if i % ROWS_PER_CHUNK == 0:
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode()


def _json(records: Iterable[Record], fields: Sequence[str]) -> Iterator[bytes]:
    yield b"["
    for i, record in enumerate(records):
        yield (b"," if i else b"") + json.dumps({f: record[f] for f in fields},
                                                ensure_ascii=False).encode()
    yield b"]"


def _xlsx(records: Iterable[Record], fields: Sequence[str], title: str) -> Iterator[bytes]:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31] or "Creators")
    sheet.append(list(fields))
    for record in records:
        sheet.append([_text_cell(sheet, _flat(record[f])) for f in fields])
    with tempfile.TemporaryFile() as file:
        book.save(file)
        file.seek(0)
        while chunk := file.read(FILE_CHUNK):
            yield chunk


def _text_cell(sheet: Any, value: object) -> object:
    if not isinstance(value, str):
        return value
    cell = WriteOnlyCell(sheet, value=str(safe_cell(value)))
    cell.data_type = "s"  # text, whatever it starts with: never a formula
    return cell
