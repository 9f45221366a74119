"""HTTP hardening around the whole app: security headers, `Secure` cookies over HTTPS, and a
cap on request bodies. Pure ASGI, so event streams pass through untouched after their start."""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scrapetrack.exceptions import PayloadTooLarge
from scrapetrack.web.errors import error

# No inline script anywhere: every script is a file under /static, every value reaches the
# page through textContent. Avatars are not shown, so images are ours only.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),  # frame-ancestors for browsers that predate it
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)


class SecurityHeaders:
    """Adds HEADERS to every answer (a route may set its own CSP, as /docs does),
    `Cache-Control: no-store` to the API's, and marks
    cookies `Secure` when the request came over HTTPS: directly, through a proxy uvicorn
    trusts (X-Forwarded-Proto, FORWARDED_ALLOW_IPS), or whenever PUBLIC_URL is https."""

    def __init__(self, app: ASGIApp, *, always_https: bool = False) -> None:
        self.app = app
        self.always_https = always_https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = self.always_https or scope.get("scheme") == "https"
        # What the API answers is someone's data: no cache keeps it (a route may say how
        # its own answer is kept, as the event streams do).
        private = str(scope.get("path", "")).startswith("/api/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS:
                    if name not in headers:
                        headers[name] = value
                if private and "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
                if https:
                    _secure_cookies(headers)
            await send(message)

        await self.app(scope, receive, with_headers)


def _secure_cookies(headers: MutableHeaders) -> None:
    cookies = headers.getlist("set-cookie")
    if not cookies:
        return
    del headers["set-cookie"]
    for cookie in cookies:
        flags = {part.strip().lower() for part in cookie.split(";")[1:]}
        headers.append("set-cookie", cookie if "secure" in flags else f"{cookie}; Secure")


class BodyLimit:
    """Refuses a request body over `max_bytes` with 413 `{"error": ...}`, before the app
    reads any of it: at once when Content-Length says so, else (chunked) by counting the
    bytes as they come, holding at most `max_bytes` of them."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.max_bytes <= 0:
            await self.app(scope, receive, send)
            return
        headers = Headers(raw=list(scope.get("headers", ())))
        length = headers.get("content-length")
        if length is not None:
            # The server holds the body to its Content-Length, so the header is the truth.
            if length.strip().isdigit() and int(length) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        if "transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body at all
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([], message, receive), send)
                return
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([body], None, receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = PayloadTooLarge(f"The request body is larger than {self.max_bytes} bytes")
        response = error(413, message.message)
        response.headers["Connection"] = "close"  # the unread body ends with the connection
        await response(scope, receive, send)


def _replay(messages: list[Message], last: Message | None, receive: Receive) -> Receive:
    """A receive that first gives back what was already read, then the real one."""
    pending = [*messages, *([last] if last is not None else [])]

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
