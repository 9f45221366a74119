"""What `/docs` shows beyond the routes' own models (schemas.py): the `{"error": "..."}` body
of every error status, and the answers that are not JSON (CSV, event streams)."""

from __future__ import annotations

from typing import Any

from scrapetrack.schemas import JOB_ID, ErrorOut

CSV = ("platform,handle,displayName,followers,engagementRate,bio,profileUrl,avatarUrl,"
       "matchedKeyword\r\ntiktok,coach.maria,Maria | Coach,182000,0.0734,Online fitness coach,"
       "https://www.tiktok.com/@coach.maria,https://p16-sign.tiktokcdn.com/avatar.jpeg,"
       "fitness coach\r\n")
EVENTS = (f"retry: 2000\n\nid: 17\nevent: progress\ndata: "
          f'{{"id":"{JOB_ID}","status":"processing","progress":42,...}}\n\n')


# What each status means here, and a typical message.
ERROR_TEXTS: dict[int, tuple[str, str]] = {
    400: ("Bad input: the message says what to correct",
          "targetResults must be a whole number from 1 to 10000"),
    401: ("No valid credentials: send `Authorization: Bearer TOKEN` (QStash: a valid "
          "`Upstash-Signature`)", "Authentication required"),
    402: ("The workspace's monthly budget cannot cover another search this month",
          "This workspace's monthly budget of $50 is spent: $49.80 this month"),
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
UNSAFE = (403, 413)  # what a POST may add: no CSRF token with a cookie, a body too large
