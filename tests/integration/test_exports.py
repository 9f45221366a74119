"""Exports where marketers work: a search's creators and a campaign's list as CSV, JSON and
XLSX, every field the JSON has or those `fields=` picks, read back and compared with the
API's own answers; the CLI writes the same files."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from scrapetrack.schemas import CampaignCreatorOut, CreatorOut
from tests.integration.conftest import App, wait_for_job
from tests.integration.test_cli import run
from tests.integration.test_cli_client import client_env


def as_text(value: Any) -> str:
    """A JSON value as a CSV cell holds it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, list):
        return "; ".join(map(str, value))
    return str(value)


def read_csv(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode())))


def read_xlsx(body: bytes) -> list[dict[str, Any]]:
    sheet = load_workbook(io.BytesIO(body)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    header = [str(name) for name in rows[0]]
    return [dict(zip(header, row, strict=True)) for row in rows[1:]]


def same(cell: Any, value: Any) -> bool:
    """An XLSX cell against the JSON value (numbers stay numbers, lists are joined)."""
    if isinstance(value, list):
        return bool(cell == ("; ".join(value) or None))
    return bool(cell == value)


@pytest.fixture
def campaign(app: App) -> tuple[httpx.Client, str, str]:
    alice = app.user("alice@example.com")
    campaign_id = alice.post("/api/campaigns", json={"name": "Export"}).json()["id"]
    jobs = [alice.post("/api/scraping/tiktok", json={
        "campaignId": campaign_id, "keywords": [keyword], "targetResults": 1800}).json()
        for keyword in ("yoga", "hiit")]  # together more creators than a page of the list
    for job in jobs:
        assert wait_for_job(alice, job, timeout=120)[0]["status"] == "completed"
    return alice, campaign_id, jobs[0]["id"]


def test_a_search_exports_every_field_in_every_format(campaign: Any) -> None:
    alice, _, job_id = campaign
    path = f"/api/jobs/{job_id}/results"
    wanted = alice.get(path).json()
    fields = list(CreatorOut.model_fields)

    answer = alice.get(path, params={"format": "csv"})
    assert answer.headers["content-type"].startswith("text/csv")
    assert f'filename="creators-{job_id}.csv"' in answer.headers["content-disposition"]
    rows = read_csv(answer.content)
    assert list(rows[0]) == fields
    assert rows == [{f: as_text(c[f]) for f in fields} for c in wanted]

    assert alice.get(path, params={"format": "json", "fields": "followers,handle"}).json() \
        == [{"followers": c["followers"], "handle": c["handle"]} for c in wanted]
    book = read_xlsx(alice.get(path, params={"format": "xlsx"}).content)
    assert len(book) == len(wanted)
    assert all(same(row[f], c[f]) for row, c in zip(book, wanted, strict=True) for f in fields)


def test_the_campaign_list_exports_with_its_filters_and_sort(campaign: Any) -> None:
    alice, campaign_id, _ = campaign
    listed = f"/api/campaigns/{campaign_id}/creators"
    everyone = alice.get(listed, params={"limit": 500, "sort": "newest"}).json()
    assert everyone["total"] > 500, "the export must span several pages"
    ids = [c["id"] for c in everyone["items"][:40]]
    assert alice.post(f"{listed}/bulk", json={"ids": ids, "status": "shortlisted",
                                              "addTags": ["=1+1"]}).json() == {"updated": 40}
    params = {"status": "shortlisted", "sort": "-followers"}
    wanted = alice.get(listed, params={**params, "limit": 500}).json()["items"]
    fields = list(CampaignCreatorOut.model_fields)

    rows = read_csv(alice.get(f"{listed}/export", params={**params, "format": "csv"}).content)
    assert rows == [{f: as_text(c[f]).replace("=1+1", "'=1+1") for f in fields} for c in wanted]
    book = read_xlsx(alice.get(f"{listed}/export", params={
        **params, "format": "xlsx", "fields": "handle,tags,followers"}).content)
    assert book == [{"handle": c["handle"], "tags": "'=1+1", "followers": c["followers"]}
                    for c in wanted]
    whole = json.loads(alice.get(f"{listed}/export", params={"format": "json",
                                                             "sort": "newest"}).content)
    assert len(whole) == everyone["total"]
    assert [c["id"] for c in whole] == sorted(c["id"] for c in whole)

    for params, status in (({"format": "pdf"}, 400), ({"fields": "handle,password"}, 400),
                           ({"sort": "likes"}, 400), ({"status": "gone"}, 422)):
        answer = alice.get(f"{listed}/export", params=params)
        assert answer.status_code == status, (params, answer.text)
        assert set(answer.json()) == {"error"}


def test_the_cli_writes_the_same_files(campaign: Any, app: App, tmp_path: Path) -> None:
    alice, campaign_id, job_id = campaign
    env, _ = client_env(app, "bob@example.com")
    env["SCRAPETRACK_TOKEN"] = alice.headers["authorization"].removeprefix("Bearer ")
    out = tmp_path / "list.xlsx"
    written = run(["export", "--campaign", campaign_id, "--format", "xlsx", "-o", str(out)], env)
    assert written.returncode == 0, written.stderr
    everyone = alice.get(f"/api/campaigns/{campaign_id}/creators", params={"limit": 1}).json()
    assert len(read_xlsx(out.read_bytes())) == everyone["total"]
    csv_out = run(["export", job_id, "--fields", "handle,followers"], env)
    assert read_csv(csv_out.stdout.encode()) == [
        {"handle": c["handle"], "followers": as_text(c["followers"])}
        for c in alice.get(f"/api/jobs/{job_id}/results").json()]
    for args in (["export"], ["export", job_id, "--campaign", campaign_id],
                 ["export", job_id, "--format", "pdf"]):
        assert run(args, env).returncode == 1
