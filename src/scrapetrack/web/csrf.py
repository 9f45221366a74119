"""CSRF protection for what a browser sends with its session cookie.

The session (signed, HttpOnly) holds a random token. Pages carry it in a `<meta>` tag and in
every form: forms post it as `csrf_token`, the page's script sends it as `X-CSRF-Token`. A
cross-site page can make the browser send the cookie, but cannot read the token, so an unsafe
request without it is refused. Requests with `Authorization: Bearer` need none: a browser
never adds that header by itself.
"""

from __future__ import annotations

import hmac
import secrets

from starlette.requests import Request

from scrapetrack.exceptions import CsrfFailed

SESSION_KEY = "csrf"
HEADER = "X-CSRF-Token"
FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token(request: Request) -> str:
    """This session's token, made on first need."""
    token = request.session.get(SESSION_KEY)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        request.session[SESSION_KEY] = token
    return token


def check(request: Request, submitted: object) -> None:
    """Refuse unless `submitted` is this session's token."""
    expected = request.session.get(SESSION_KEY)
    if not (isinstance(expected, str) and expected and isinstance(submitted, str)
            and hmac.compare_digest(expected.encode(), submitted.encode())):
        raise CsrfFailed()
