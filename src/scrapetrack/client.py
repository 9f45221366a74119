"""A client of a running scrapetrack server's HTTP API, for the CLI and scripts.

This is the boundary for httpx: what it raises, and every error answer, become our
exceptions (an answer's `{"error": ...}` is the message):

    connection refused, timeout, reset   → ServerUnreachable
    400, 413, 422                         → InputError        401 → Unauthorized
    404 "Unknown platform"                → UnknownPlatform   404 → NotFound
    409                                   → Conflict          429, 5xx → Unavailable

Every answer is read into its model (schemas.py), the same the server answers with.
Every method that takes a job, campaign or schedule id also takes its first characters, as
the CLI's tables show them (shortids.py); a whole id costs no extra request.
`follow()` yields a job's status on every change: from the event stream
(`GET /api/jobs/{id}/events`, resumed with Last-Event-ID after a drop), or, if the stream
cannot be had, by polling the status once a second.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, TypeVar

import httpx
from pydantic import TypeAdapter, ValidationError

from scrapetrack.exceptions import (
    Conflict,
    InputError,
    NotFound,
    ScrapetrackError,
    Unauthorized,
    Unavailable,
    UnknownPlatform,
)
from scrapetrack.schemas import CampaignOut, CreatorOut, JobOut, JobPageOut, ScheduleOut
from scrapetrack.shortids import resolve

log = logging.getLogger(__name__)
T = TypeVar("T")

TERMINAL = frozenset({"completed", "error", "timeout", "cancelled"})
DEFAULT_URL = "http://127.0.0.1:8000"
POLL_SECONDS = 1.0
# The server pings every 15 s; a stream silent for longer than this is dead.
STREAM_READ_TIMEOUT = 45.0


class ServerUnreachable(Unavailable):
    """The scrapetrack server could not be reached."""


def _error_for(status: int, message: str) -> ScrapetrackError:
    if status in (400, 413, 422):
        return InputError(message)
    if status == 401:
        return Unauthorized(message)
    if status == 404:
        return UnknownPlatform(message) if message == "Unknown platform" else NotFound(message)
    if status == 409:
        return Conflict(message)
    if status == 429 or status >= 500:
        return Unavailable(f"The server answered {status}: {message}")
    return ScrapetrackError(f"The server answered {status}: {message}")


class Client:
    def __init__(self, url: str, token: str, *, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout, transport=transport,
                                  headers={"Authorization": f"Bearer {token}",
                                           "User-Agent": "scrapetrack-cli"})

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # the API --------------------------------------------------------------------------------
    def campaigns(self) -> list[CampaignOut]:
        return self._answer(list[CampaignOut], "GET", "/api/campaigns")

    def delete_campaign(self, campaign_id: str) -> None:
        self._request("DELETE", f"/api/campaigns/{self.campaign_id(campaign_id)}")

    def delete_job(self, job_id: str) -> None:
        self._request("DELETE", f"/api/jobs/{self.job_id(job_id)}")

    # ids, whole or their first characters ------------------------------------------------
    def job_id(self, ref: str) -> str:
        """The id of the user's job that `ref` is or starts with."""
        return resolve(ref, self._all_job_ids, "job")

    def campaign_id(self, ref: str) -> str:
        return resolve(ref, lambda: (c.id for c in self.campaigns()), "campaign")

    def schedule_id(self, ref: str) -> str:
        return resolve(ref, lambda: (s.id for s in self.schedules()), "schedule")

    def _all_job_ids(self) -> Iterator[str]:
        cursor: str | None = None
        while True:
            page = self.jobs(limit=1000, cursor=cursor)
            yield from (job.id for job in page.items)
            if not page.nextCursor:
                return
            cursor = page.nextCursor

    def campaign_named(self, name: str) -> CampaignOut:
        """The user's campaign with this name; created if there is none."""
        for campaign in self.campaigns():
            if campaign.name == name:
                return campaign
        return self._answer(CampaignOut, "POST", "/api/campaigns", json={"name": name})

    def start_search(self, platform: str, campaign_id: str, *, keywords: list[str] | None,
                     similar_to: str | None, target: int | None) -> JobOut:
        body: dict[str, Any] = {"campaignId": campaign_id, "targetResults": target}
        if similar_to is not None:
            body["targetUsername"] = similar_to.lstrip("@")
        else:
            body["keywords"] = keywords
        return self._answer(JobOut, "POST", f"/api/scraping/{platform}", json=body)

    def job(self, job_id: str) -> JobOut:
        return self._answer(JobOut, "GET", f"/api/jobs/{self.job_id(job_id)}")

    def jobs(self, *, limit: int = 50, **filters: str | None) -> JobPageOut:
        """A page of the user's searches; `filters` are /api/jobs's query parameters
        (status, platform, kind, campaignId, createdFrom, createdTo, q, cursor)."""
        if filters.get("campaignId"):
            filters["campaignId"] = self.campaign_id(str(filters["campaignId"]))
        params = {"limit": limit, **{k: v for k, v in filters.items() if v}}
        return self._answer(JobPageOut, "GET", "/api/jobs", params=params)

    def cancel(self, job_id: str) -> JobOut:
        return self._answer(JobOut, "POST", f"/api/jobs/{self.job_id(job_id)}/cancel")

    def rerun(self, job_id: str, target: int | None = None) -> JobOut:
        return self._answer(JobOut, "POST", f"/api/jobs/{self.job_id(job_id)}/rerun",
                            json={"targetResults": target})

    def schedules(self, campaign_id: str | None = None) -> list[ScheduleOut]:
        params = {"campaignId": self.campaign_id(campaign_id)} if campaign_id else {}
        return self._answer(list[ScheduleOut], "GET", "/api/schedules", params=params)

    def create_schedule(self, body: dict[str, Any]) -> ScheduleOut:
        """`body` as POST /api/schedules takes it (schemas.ScheduleIn)."""
        return self._answer(ScheduleOut, "POST", "/api/schedules", json=body)

    def change_schedule(self, schedule_id: str, **changes: Any) -> ScheduleOut:
        """Only the fields given change (schemas.ScheduleChangeIn): paused=True pauses."""
        return self._answer(ScheduleOut, "PATCH",
                            f"/api/schedules/{self.schedule_id(schedule_id)}",
                            json=changes)

    def delete_schedule(self, schedule_id: str) -> None:
        self._request("DELETE", f"/api/schedules/{self.schedule_id(schedule_id)}")

    def results(self, job_id: str) -> list[CreatorOut]:
        return self._answer(list[CreatorOut], "GET",
                            f"/api/jobs/{self.job_id(job_id)}/results")

    def export(self, out: BinaryIO, fmt: str, *, job_id: str | None = None,
               campaign_id: str | None = None, fields: str | None = None) -> None:
        """A job's creators, or a campaign's list, written to `out` as it downloads."""
        path = f"/api/jobs/{self.job_id(job_id)}/results" if job_id is not None \
            else f"/api/campaigns/{self.campaign_id(campaign_id or '')}/creators/export"
        params = {"format": fmt, **({"fields": fields} if fields else {})}
        try:
            with self._http.stream("GET", path, params=params) as response:
                if response.status_code >= 400:
                    response.read()
                    raise self._answer_error(response)
                for chunk in response.iter_bytes():
                    out.write(chunk)
        except httpx.HTTPError as exc:
            raise ServerUnreachable(f"Cannot reach scrapetrack at {self.url}: "
                                    f"{type(exc).__name__}: {exc}") from None

    # following a job ------------------------------------------------------------------------
    def follow(self, job: JobOut, *, stream: bool = True,
               on_fallback: Callable[[str], None] | None = None,
               sleep: Callable[[float], None] = time.sleep) -> Iterator[JobOut]:
        """The job's status on every change, ending with its terminal status."""
        last = job
        if stream:
            try:
                for status in self._stream(job.id):
                    last = status
                    yield status
                    if status.status in TERMINAL:
                        return
            except (Unavailable, InputError) as exc:
                # A proxy that buffers or cuts streams, an old server: polling still works.
                if on_fallback is not None:
                    on_fallback(exc.message)
        while last.status not in TERMINAL:
            sleep(POLL_SECONDS)
            status = self.job(job.id)
            if status.version != last.version or status.status in TERMINAL:
                yield status
            last = status

    def _stream(self, job_id: str) -> Iterator[JobOut]:
        """Statuses from the event stream; reconnects (resuming after the last event) a few
        times before giving up with Unavailable."""
        last_id: str | None = None
        drops = 0
        while True:
            headers = {"Accept": "text/event-stream"}
            if last_id:
                headers["Last-Event-ID"] = last_id
            try:
                with self._http.stream("GET", f"/api/jobs/{job_id}/events", headers=headers,
                                       timeout=httpx.Timeout(30.0, read=STREAM_READ_TIMEOUT)
                                       ) as response:
                    if response.status_code >= 400:
                        response.read()
                        raise self._answer_error(response)
                    if not response.headers.get("content-type", "").startswith(
                            "text/event-stream"):
                        raise Unavailable("The server did not answer with an event stream")
                    for event_id, data in parse_events(response.iter_lines()):
                        last_id = event_id or last_id
                        drops = 0
                        status = self._parse(JobOut, data)
                        yield status
                        if status.status in TERMINAL:
                            return
            except httpx.HTTPError as exc:
                drops += 1
                if drops > 3:
                    raise ServerUnreachable(f"The event stream from {self.url} kept failing: "
                                            f"{type(exc).__name__}: {exc}") from None
                log.info("the event stream dropped (%s); reconnecting", exc)
                continue
            # The server ended the stream before the terminal status (it is stopping).
            drops += 1
            if drops > 3:
                raise Unavailable("The event stream kept ending early")

    # plumbing -------------------------------------------------------------------------------
    def _answer(self, shape: type[T], method: str, path: str, **kwargs: Any) -> T:
        """The answer to a request, read into its model."""
        return self._parse(shape, self._request(method, path, **kwargs).content)

    def _parse(self, shape: type[T], body: str | bytes) -> T:
        try:
            return TypeAdapter(shape).validate_json(body)
        except ValidationError as exc:
            raise ScrapetrackError(f"The server at {self.url} sent an answer this client "
                                   f"cannot read: {exc.errors()[0]['msg']}") from None

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ServerUnreachable(f"Cannot reach scrapetrack at {self.url}: "
                                    f"{type(exc).__name__}: {exc}") from None
        if response.status_code >= 400:
            raise self._answer_error(response)
        return response

    @staticmethod
    def _answer_error(response: httpx.Response) -> ScrapetrackError:
        try:
            body = response.json()
            message = str(body["error"]) if isinstance(body, dict) and "error" in body \
                else response.text
        except ValueError:
            message = response.text.strip()[:200] or response.reason_phrase
        return _error_for(response.status_code, message)


def parse_events(lines: Iterator[str]) -> Iterator[tuple[str | None, str]]:
    """(id, data) of each `progress` event of a text/event-stream."""
    event_id: str | None = None
    event = "message"
    data: list[str] = []
    for line in lines:
        if not line:
            if data and event == "progress":
                yield event_id, "\n".join(data)
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue  # a comment: the server's keep-alive ping
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "id":
            event_id = value
        elif name == "event":
            event = value
        elif name == "data":
            data.append(value)
