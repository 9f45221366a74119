"""Requests scrapetrack sends to addresses its users typed in (webhooks, Slack), kept off the
deployment's own network: a server-side request forgery guard.

A target must be http(s). Unless WEBHOOK_ALLOW_PRIVATE is set, it may not be, or resolve to,
a loopback, private, link-local, shared or otherwise non-global address. The check runs when
the address is saved and again before every send, after DNS, so a name that later resolves
inwards is refused too. Redirects are never followed: one could point inwards.

No httpx type or error leaves this module.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import httpx

from scrapetrack.exceptions import DeliveryFailed, InputError

MAX_URL_LENGTH = 2000
USER_AGENT = "scrapetrack-webhooks"


def check_url(url: object, field: str, *, allow_private: bool) -> str:
    """The URL, if it is one scrapetrack may send to; InputError saying why not."""
    if not isinstance(url, str) or not url.strip() or len(url) > MAX_URL_LENGTH:
        raise InputError(f"{field} must be an http(s) URL of at most {MAX_URL_LENGTH} "
                         "characters")
    url = url.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        raise InputError(f"{field} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"{field} must be an http or https URL")
    if not allow_private:
        try:
            refused = _refused_address(parts.hostname, parts.port)
        except OSError:
            refused = None  # not resolvable now: checked again before each send
        if refused is not None:
            raise InputError(f"{field} points to a private, loopback or link-local address "
                             f"({refused}); set WEBHOOK_ALLOW_PRIVATE=true to allow that")
    return url


def _refused_address(host: str, port: int | None) -> str | None:
    """The first address `host` is or resolves to that is not public; None if all are.
    OSError when the name does not resolve."""
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(
            host, port or 443, proto=socket.IPPROTO_TCP)}
    else:
        addresses = {str(literal)}
    for address in sorted(addresses):
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if not ip.is_global or ip.is_multicast:
            return address
    return None


class Sender:
    """POSTs a body to a checked URL; the answer's status, or DeliveryFailed when it was
    refused, not answered, or answered with anything but 2xx."""

    def __init__(self, *, allow_private: bool, timeout_seconds: float) -> None:
        self.allow_private = allow_private
        self.client = httpx.Client(timeout=timeout_seconds, follow_redirects=False,
                                   headers={"user-agent": USER_AGENT})

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise DeliveryFailed(f"refused: {url!r} is not an http(s) URL")
        if not self.allow_private:
            try:
                refused = _refused_address(parts.hostname, parts.port)
            except OSError as exc:
                raise DeliveryFailed(f"{parts.hostname} does not resolve: {exc}") from None
            if refused is not None:
                raise DeliveryFailed(f"refused: {parts.hostname} resolves to {refused}, a "
                                     "private, loopback or link-local address")
        try:
            response = self.client.post(url, content=body, headers={
                "content-type": "application/json", **headers})
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"no answer: {type(exc).__name__}: {exc}") from None
        if not 200 <= response.status_code < 300:
            raise DeliveryFailed(f"answered {response.status_code}: {response.text[:200]}",
                                 status_code=response.status_code)
        return response.status_code

    def close(self) -> None:
        self.client.close()
