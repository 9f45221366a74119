"""Status API: a page polling a search's status must cost the server about what its health
check costs."""

import tempfile
from pathlib import Path

import httpx

from bench._fanout_server import setup
from bench._proc import alone, parser, record
from bench.fanout import CLIENT_CORE, load, server, watched_job

TARGET, CONNECTIONS = 0.7, 16


def main(argv: list[str]) -> None:
    quick = parser(__doc__, "1 round of 3 s (default 3 of 5 s)").parse_args(argv).quick
    seconds, rounds = (3.0, 1) if quick else (5.0, 3)
    setup(CLIENT_CORE)
    with tempfile.TemporaryDirectory(prefix="status-api-") as name, watched_job(
            Path(name), drive=False) as fx, server({**fx["server"], "stats": f"{name}/stats"},
                                                   Path(name) / "server.log") as (port, pid):
        path, token = f"/api/scraping/tiktok?jobId={fx['job_id']}", fx["token"]
        etag = httpx.get(f"http://127.0.0.1:{port}{path}", headers={
            "Authorization": f"Bearer {token}"}).headers.get("ETag", "(none sent)")
        routes = {"/healthz": {"path": "/healthz", "token": ""},
                  "status 200": {"path": path, "token": token},
                  "status 304 (If-None-Match)": {"path": path, "token": token, "expect": "304",
                                                 "headers": {"If-None-Match": etag}}}
        runs: dict[str, list[dict[str, float]]] = {route: [] for route in routes}
        for turn in range(rounds):
            for i, route in list(enumerate(routes))[::1 if turn % 2 == 0 else -1]:
                runs[route].append(load(pid, Path(name) / "stats", {
                    "mode": "loop", "port": port, "n": CONNECTIONS, "warmup": 1.0, "tail": 0,
                    "seconds": seconds, "connect_deadline": 30, "sample": 0, **routes[route]},
                    Path(name) / f"client-{turn}-{i}.log"))
    total = {route: {k: sum(r[k] for r in done) for k in ("events", "wrong", "span", "cpu")}
             for route, done in runs.items()}
    floor = total["/healthz"]["events"] / total["/healthz"]["span"]
    for route, t in total.items():
        rate = t["events"] / t["span"]
        print(f"  {route}: {rate:,.0f} requests/s, {t['cpu'] / t['events'] * 1e6:,.0f} µs of "
              f"server CPU a request, {t['wrong']:.0f} unexpected answers")
        if route != "/healthz":
            record("status_api", f"{route}: requests/s", f"{rate:,.0f}/s",
                   f"{floor:,.0f}/s (/healthz)", rate / floor,
                   f"≥ {TARGET}x, 0 unexpected answers", rate >= TARGET * floor and not t["wrong"])


if __name__ == "__main__":
    alone(main)
