"""What `/docs` shows beyond the routes themselves: an example answer for each, and the
`{"error": "..."}` body of every error status, so a client knows what to expect."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

JOB_ID = "3f6c1a52-8d1e-4f2b-9a57-1c2d3e4f5a6b"
CAMPAIGN_ID = "9b2e7c10-4a3d-4e5f-8a6b-7c8d9e0f1a2b"

JOB: dict[str, Any] = {
    "id": JOB_ID, "status": "processing", "progress": 42, "processedResults": 84,
    "targetResults": 200, "error": None, "platform": "tiktok", "kind": "keyword",
    "campaignId": CAMPAIGN_ID, "keywords": ["fitness coach"], "targetUsername": None,
    "stage": "searching", "creatorsCount": 61, "skippedItems": 2, "ratePerSecond": 12.5,
    "etaSeconds": 9.3, "version": 17, "createdAt": "2025-03-01T10:00:00.120Z",
    "updatedAt": "2025-03-01T10:00:09.480Z", "startedAt": "2025-03-01T10:00:00.310Z",
    "finishedAt": None,
}
PENDING_JOB = {**JOB, "status": "pending", "progress": 0, "processedResults": 0,
               "stage": "initializing", "creatorsCount": 0, "skippedItems": 0,
               "ratePerSecond": None, "etaSeconds": None, "version": 1,
               "updatedAt": JOB["createdAt"], "startedAt": None}
CANCELLED_JOB = {**JOB, "status": "cancelled", "error": "Cancelled by the user",
                 "ratePerSecond": None, "etaSeconds": None, "version": 18,
                 "finishedAt": "2025-03-01T10:00:10.002Z"}
CAMPAIGN: dict[str, Any] = {"id": CAMPAIGN_ID, "name": "Spring fitness launch",
                            "description": "Coaches for the new app",
                            "createdAt": "2025-03-01T09:58:12.004Z"}
CREATOR: dict[str, Any] = {
    "id": 1, "platform": "tiktok", "handle": "coach.maria", "displayName": "Maria | Coach",
    "followers": 182000, "engagementRate": 0.0734, "bio": "Online fitness coach",
    "profileUrl": "https://www.tiktok.com/@coach.maria",
    "avatarUrl": "https://p16-sign.tiktokcdn.com/avatar.jpeg",
    "matchedKeyword": "fitness coach", "verified": False, "videos": 3}
CSV = ("platform,handle,displayName,followers,engagementRate,bio,profileUrl,avatarUrl,"
       "matchedKeyword\r\ntiktok,coach.maria,Maria | Coach,182000,0.0734,Online fitness coach,"
       "https://www.tiktok.com/@coach.maria,https://p16-sign.tiktokcdn.com/avatar.jpeg,"
       "fitness coach\r\n")
EVENTS = (f"retry: 2000\n\nid: 17\nevent: progress\ndata: "
          f'{{"id":"{JOB_ID}","status":"processing","progress":42,...}}\n\n')


class ErrorOut(BaseModel):
    """Every error answer: one sentence a person understands."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"error": "Job not found"}]})
    error: str = Field(description="What went wrong, and often what to do about it")


# What each status means here, and a typical message.
ERROR_TEXTS: dict[int, tuple[str, str]] = {
    400: ("Bad input: the message says what to correct",
          "targetResults must be a whole number from 1 to 10000"),
    401: ("No valid credentials: send `Authorization: Bearer TOKEN` (QStash: a valid "
          "`Upstash-Signature`)", "Authentication required"),
    403: ("Signed in by cookie, but without the page's CSRF token (X-CSRF-Token)",
          "The page's CSRF token is missing or wrong: reload the page"),
    404: ("Not found, or someone else's (the answer is the same)", "Job not found"),
    409: ("The resource is in a state that does not allow this",
          "The job has already ended as completed"),
    413: ("The request body is larger than the server accepts",
          "The request body is too large"),
    422: ("A body of the wrong shape (not JSON, a field of the wrong type)",
          "keywords: Input should be a valid list"),
    429: ("Too many requests for now: wait, then try again", "Too many requests"),
    502: ("The scraping platform failed", "Apify answered 500 while aborting the run"),
    503: ("A backend (database or queue) is briefly unavailable: try again shortly",
          "The database is unavailable; try again shortly"),
}


RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses, each with the ErrorOut body (429 with
    its Retry-After)."""
    return {code: {"model": ErrorOut, "description": ERROR_TEXTS[code][0],
                   "content": {"application/json": {"example": {"error": ERROR_TEXTS[code][1]}}},
                   **({"headers": RETRY_AFTER} if code == 429 else {})}
            for code in codes}


def answer(status: int, example: Any, description: str = "Successful Response",
           media_type: str = "application/json") -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entry with an example of the success answer."""
    return {status: {"description": description,
                     "content": {media_type: {"example": example}}}}


# Every /api route can answer these: credentials, a parameter of the wrong shape, a per-user
# limit, a backend briefly down.
ANY = (401, 422, 429, 503)
