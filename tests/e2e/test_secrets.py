"""Secrets never leave: `scrapetrack serve` runs with SECRET_KEY, APIFY_TOKEN and the QStash
keys set to values found nowhere else; a full session (sign in, pages, searches that succeed,
fail and meet Apify faults, exports, streams, and every kind of error, including the secrets
themselves pasted where tokens go) must not show one of them in an answer or in the logs."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import threading
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import Sandbox, free_port, sign_in_by_link, sign_in_url_in, wait_until
from tests.e2e.conftest import OURS, SCRAPETRACK, stop

SECRETS = {
    "SECRET_KEY": "sk-7f3a91c2-never-print-me",
    "APIFY_TOKEN": "apify_api_Zq8Xv2LmNp4Rt6Ws",
    "QSTASH_TOKEN": "qstash-tok-4b8c15d2e6f7",
    "QSTASH_CURRENT_SIGNING_KEY": "sig_current_9d1e2f3a4b5c",
    "QSTASH_NEXT_SIGNING_KEY": "sig_next_6a7b8c9d0e1f",
}


def test_no_secret_in_any_answer_or_log_line(tmp_path: Path, sandbox: Sandbox) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in OURS}
    # The real apify-client with a real token, against the sandbox (which takes any token).
    env.update(SECRETS, APIFY_API_URL=sandbox.url, WORKER_POLL_INTERVAL_SECONDS="0.1",
               APIFY_MAX_RETRIES="1", PYTHONUNBUFFERED="1")
    process = subprocess.Popen([str(SCRAPETRACK), "serve", "--port", str(port)], cwd=tmp_path,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    logs: list[str] = []

    def pump(stream: Any) -> None:
        for line in stream:
            logs.append(line)

    pumps = [threading.Thread(target=pump, args=(s,), daemon=True)
             for s in (process.stdout, process.stderr)]
    for thread in pumps:
        thread.start()
    seen: list[str] = []  # every answer: status line, headers, body
    url = f"http://127.0.0.1:{port}"
    try:
        sign_in = wait_until(lambda: sign_in_url_in("".join(logs), tmp_path), 60,
                             "the sign-in URL")
        session(url, sign_in, seen)
    finally:
        stop(process)
        for thread in pumps:
            thread.join(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
    output = "".join(logs)
    assert "Application startup complete" in output  # the logs are really here
    assert "POST /api/scraping/tiktok" in output
    everything = output + "\n".join(seen)
    for name, value in SECRETS.items():
        for form in (value, base64.b64encode(value.encode()).decode(), value[4:20]):
            assert form not in everything, f"{name} leaked"


def session(url: str, sign_in: str, seen: list[str]) -> None:
    def keep(response: httpx.Response) -> httpx.Response:
        seen.append(f"{response.status_code} {dict(response.headers)}\n{response.text}")
        return response

    def wait_for(job_id: str) -> dict[str, Any]:
        def ended() -> dict[str, Any] | None:
            status = dict(keep(client.get("/api/scraping/tiktok",
                                          params={"jobId": job_id})).json())
            terminal = status["status"] in ("completed", "error", "timeout", "cancelled")
            return status if terminal else None

        return wait_until(ended, 90, f"job {job_id} to end")

    with httpx.Client(base_url=url, timeout=30) as client:
        def up() -> bool:  # the sign-in URL is printed before the server listens
            try:
                return keep(client.get("/healthz")).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(up, 30, "the server to answer /healthz")
        keep(sign_in_by_link(client, sign_in))
        home = keep(client.get("/"))
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', home.text)
        assert csrf, home.text
        headers = {"X-CSRF-Token": csrf.group(1)}
        made = keep(client.post("/campaigns", data={"name": "Secrets", "csrf_token":
                                                    csrf.group(1)}))
        assert made.status_code == 303
        campaign_id = made.headers["location"].rsplit("/", 1)[1]
        for path in ("/", f"/campaigns/{campaign_id}", "/login", "/docs", "/openapi.json",
                     "/static/app.js", "/nope", f"/campaigns/{'0' * 36}"):
            keep(client.get(path))
        jobs = {}
        for keyword in ("fitness", "sandbox:failed", "sandbox:fault=items:503x2",
                        "sandbox:fault=runs:401x9"):
            started = keep(client.post("/api/scraping/tiktok", headers=headers, json={
                "campaignId": campaign_id, "keywords": [keyword], "targetResults": 40}))
            assert started.status_code == 202, started.text
            jobs[keyword] = started.json()["id"]
        with client.stream("GET", f"/api/jobs/{jobs['fitness']}/events") as stream:
            seen.append("".join(stream.iter_text()))
        finals = {keyword: wait_for(job_id) for keyword, job_id in jobs.items()}
        assert finals["fitness"]["status"] == "completed"
        assert finals["sandbox:failed"]["status"] == "error"
        keep(client.get(f"/api/jobs/{jobs['fitness']}/results", params={"format": "csv"}))
        keep(client.get(f"/api/jobs/{jobs['fitness']}/results"))
        keep(client.get(f"/api/campaigns/{campaign_id}"))
        # Errors of every kind, the secrets themselves among the bad input.
        for name, value in SECRETS.items():
            keep(client.get("/api/campaigns", headers={"Authorization": f"Bearer {value}"}))
            keep(client.post("/login", data={"token": value, "csrf_token": csrf.group(1)}))
            keep(client.get(f"/login?code={value}"))
            keep(client.post("/api/scraping/tiktok", headers=headers, json={
                "campaignId": value, "keywords": [value], "targetResults": 1}))
            keep(client.post("/api/scraping/tiktok", headers=headers, content=json.dumps(
                {"campaignId": campaign_id, "keywords": name}).encode()))
        keep(client.post("/api/campaigns", json={"name": "no csrf"}))
        keep(client.post("/api/campaigns", headers=headers, content=b"{oops"))
        keep(client.post("/api/campaigns", headers=headers, content=b"x" * 200_000))
        keep(client.post(f"/api/jobs/{jobs['fitness']}/cancel", headers=headers))
        keep(client.get("/api/scraping/myspace?jobId=x"))
