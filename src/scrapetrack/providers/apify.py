"""`Provider` over apify-client: the real Apify API, or our sandbox at another `api_url`.

This is the boundary: no apify-client type or exception leaves this module (not even as the
`__cause__`/`__context__` of ours). The client's own retries (429, 5xx, network errors, with
exponential backoff) run first; what still fails becomes one of ours:

    429, 5xx after the retries                      → ProviderUnavailable "... (HTTP 503 ... after
                                                      4 retries): Apify's message"
    connection reset / refused / closed, timeout    → ProviderUnavailable "The connection to
                                                      host was reset while ... (after 4 retries)"
    malformed answer (not JSON, truncated JSON,     → ProviderUnavailable "Apify at host sent a
      pagination headers that contradict the page)    truncated items page while ..."
    404 on a run (still so a few seconds after the first), on its dataset → RunNotFound
    402: the account's memory or concurrent-runs limit → ProviderBusy
    403 full-permission-actor-not-approved           → ProviderRejected, with the approval URL
    any other 4xx (bad token, unknown actor, invalid input) → ProviderRejected

A malformed page is an error, never an empty page: it is ProviderUnavailable because asking
again may well get a good one (apify-client does not retry a body it could not parse; the
worker does, until its stall limit). Items that are not objects are a different matter: the
page itself is sound, so they come back as placeholders (`{"error": "not an object", ...}`)
that keep offsets counting rows, and the normaliser skips them.

Messages say what we were doing, the HTTP status and Apify's own message, never the token.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from apify_client import ApifyClient, ApifyClientAsync
from apify_client.errors import ApifyApiError, ApifyClientError, InvalidResponseBodyError
from apify_client.http_clients import HttpClient, HttpClientAsync

from scrapetrack.exceptions import (
    ProviderBusy,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
    RunNotFound,
)
from scrapetrack.providers.aiohttp_transport import AiohttpClientAsync
from scrapetrack.providers.base import (
    NO_CAPS,
    ItemsPage,
    Provider,
    RunCaps,
    RunInfo,
    RunStatus,
)

if TYPE_CHECKING:
    from apify_client._models import Run
    from apify_client._resource_clients import RunClient
    from apify_client._resource_clients.dataset import DatasetItemsPage

    from scrapetrack.metrics import Metrics

T = TypeVar("T")
MAX_WAIT_SECONDS = 60  # Apify holds a waitForFinish request at most this long
# A run unknown right after its start is asked about again for this long (apify-client's
# own waiter allows the same), this often.
NOT_FOUND_GRACE_SECONDS = 3.0
NOT_FOUND_RETRY_SECONDS = 0.25
# The error type of an actor that needs full permissions its owner has not approved.
APPROVAL_NEEDED = "full-permission-actor-not-approved"
# Answers to an abort that mean there is nothing left to abort: the run is gone (404) or has
# already finished (Apify usually answers a finished run with the run itself, else 400/409).
_NOTHING_TO_ABORT = (400, 404, 409)
# Exceptions from these libraries are the HTTP transport under apify-client failing.
_TRANSPORT_MODULES = ("impit", "aiohttp", "ssl", "socket")
# How transport errors say what happened; impit wraps the OS error in one long text.
_NETWORK_KINDS = (
    ("was reset", re.compile(r"connection ?reset|reset by peer|ECONNRESET|errno 104", re.I)),
    ("was refused", re.compile(r"connection ?refused|ECONNREFUSED|errno 111", re.I)),
    ("closed before a full answer", re.compile(
        r"incomplete ?message|closed before|peer closed|server disconnected|unexpected ?eof|"
        r"remote ?protocol|payload is not completed", re.I)),
)
logger = logging.getLogger(__name__)


class ApifyProvider(Provider):
    def __init__(self, token: str | None, api_url: str, *, max_retries: int = 4,
                 min_delay_between_retries: timedelta = timedelta(milliseconds=500),
                 request_timeout: timedelta = timedelta(seconds=30),
                 metrics: Metrics | None = None) -> None:
        self._token = token
        self._metrics = metrics  # calls and errors are counted here, at the boundary
        self._where = urlsplit(api_url).netloc or api_url  # for messages: host, never token
        self._max_retries = max_retries
        self._client = ApifyClient(
            token, api_url=api_url, max_retries=max_retries,
            min_delay_between_retries=min_delay_between_retries,
            timeout_short=request_timeout, timeout_medium=request_timeout,
            timeout_long=request_timeout)
        # The worker's event loop drives its runs with this one, over aiohttp: requests in
        # flight cost no thread (impit's native runtime adds threads as they grow), at about
        # half HTTPX2's CPU a request (see aiohttp_transport.py).
        self._aclient = ApifyClientAsync.with_custom_http_client(
            token, api_url=api_url, http_client=AiohttpClientAsync(
                token=token, max_retries=max_retries,
                min_delay_between_retries=min_delay_between_retries,
                timeout_short=request_timeout, timeout_medium=request_timeout,
                timeout_long=request_timeout))

    def start(self, actor_id: str, run_input: dict[str, Any],
              caps: RunCaps = NO_CAPS) -> RunInfo:
        """Start a run, capped: `maxItems` (the results charged for) and `maxTotalChargeUsd`."""
        charge = None if caps.max_charge_usd is None else Decimal(str(caps.max_charge_usd))
        run = self._call(f"starting actor {actor_id}",
                         lambda: self._client.actor(actor_id).start(
                             run_input=run_input, max_items=caps.max_items,
                             max_total_charge_usd=charge),
                         operation="start", actor_id=actor_id)
        return _run_info(run)

    async def start_async(self, actor_id: str, run_input: dict[str, Any],
                          caps: RunCaps = NO_CAPS) -> RunInfo:
        charge = None if caps.max_charge_usd is None else Decimal(str(caps.max_charge_usd))
        run = await self._acall(f"starting actor {actor_id}",
                                lambda: self._aclient.actor(actor_id).start(
                                    run_input=run_input, max_items=caps.max_items,
                                    max_total_charge_usd=charge),
                                operation="start", actor_id=actor_id)
        return _run_info(run)

    def get_run(self, run_id: str, wait_seconds: float = 0) -> RunInfo:
        """The run now, or once it finishes within `wait_seconds` (Apify caps a wait at 60 s).

        The server holds the wait (`waitForFinish`), so waiting costs a request, not a poll.
        Right after a start the API may not know the run for a moment (its database
        replicas catch up): a 404 is asked again for a few seconds, as apify-client's own
        waiter does, before it means the run is gone.
        """
        client = self._client.run(run_id)
        deadline = time.monotonic() + NOT_FOUND_GRACE_SECONDS
        while True:
            try:
                run = self._read_run(client, run_id, wait_seconds)
            except RunNotFound:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(NOT_FOUND_RETRY_SECONDS)
                continue
            return _run_info(run)

    async def get_run_async(self, run_id: str) -> RunInfo:
        client = self._aclient.run(run_id)
        deadline = time.monotonic() + NOT_FOUND_GRACE_SECONDS
        while True:
            try:
                run = await self._acall(f"reading run {run_id}", client.get,
                                        not_found=RunNotFound, operation="get_run")
                if run is None:
                    raise RunNotFound(f"Apify run {run_id} was not found at {self._where}")
                return _run_info(run)
            except RunNotFound:
                if time.monotonic() >= deadline:
                    raise
            await asyncio.sleep(NOT_FOUND_RETRY_SECONDS)

    def _read_run(self, client: RunClient, run_id: str, wait_seconds: float) -> Run:
        if wait_seconds > 0:
            wait = min(wait_seconds, MAX_WAIT_SECONDS)
            run = self._call(f"reading run {run_id}", lambda: client.wait_for_finish(
                wait_duration=timedelta(seconds=wait), timeout=timedelta(seconds=wait + 30)),
                not_found=RunNotFound, operation="get_run")
        else:
            run = self._call(f"reading run {run_id}", client.get, not_found=RunNotFound,
                             operation="get_run")
        if run is None:
            raise RunNotFound(f"Apify run {run_id} was not found at {self._where}")
        return run

    def items_page(self, dataset_id: str, offset: int, limit: int) -> ItemsPage:
        """Items [offset, offset + limit) in write order; fewer (or none) at the current end.

        No `clean`: it drops rows server-side, and then offsets would no longer count rows.
        `total` is Apify's itemCount, which lags the items, raised to at least what this page
        proves exists; never use it to decide that the dataset is fully read.
        """
        doing = _reading(dataset_id, offset, limit)
        try:
            page = self._call(
                doing, lambda: self._client.dataset(dataset_id).list_items(offset=offset,
                                                                           limit=limit),
                not_found=RunNotFound, answer="items page", operation="items")
        except KeyError as exc:  # apify-client reads the pagination headers unchecked
            raise self._headerless(exc, doing) from None
        return self._checked_page(page, offset, limit, doing)

    async def items_page_async(self, dataset_id: str, offset: int, limit: int) -> ItemsPage:
        doing = _reading(dataset_id, offset, limit)
        try:
            page = await self._acall(
                doing, lambda: self._aclient.dataset(dataset_id).list_items(offset=offset,
                                                                            limit=limit),
                not_found=RunNotFound, answer="items page", operation="items")
        except KeyError as exc:
            raise self._headerless(exc, doing) from None
        return self._checked_page(page, offset, limit, doing)

    def _headerless(self, exc: KeyError, doing: str) -> ProviderUnavailable:
        missing = str(exc.args[0]) if exc.args else "pagination"
        self._count_error("items", "malformed")
        return ProviderUnavailable(f"Apify at {self._where} sent a malformed items page "
                                   f"while {doing} (no {missing} header)")

    def _checked_page(self, page: DatasetItemsPage, offset: int, limit: int,
                      doing: str) -> ItemsPage:
        # A page from elsewhere in the dataset would be saved at the wrong offset: refuse it.
        wrong = (f"its X-Apify-Pagination-Offset says {page.offset}, not {offset}"
                 if page.offset != offset else
                 f"it holds {len(page.items)} items, over the limit of {limit}"
                 if len(page.items) > limit else None)
        if wrong:
            self._count_error("items", "malformed")
            raise ProviderUnavailable(f"Apify at {self._where} sent an inconsistent items page "
                                      f"while {doing} ({wrong})")
        # Dataset items are objects; anything else is kept as a placeholder so that offsets
        # still count rows, and the normaliser skips it.
        items = [item if isinstance(item, dict) else {"error": "not an object", "value": item}
                 for item in page.items]
        return ItemsPage(items=items, offset=offset, total=max(page.total, offset + len(items)))

    def abort(self, run_id: str) -> None:
        """Abort the run. A run that has finished, or that Apify no longer knows, is left be."""

        def abort() -> None:
            try:
                self._client.run(run_id).abort()
            except ApifyApiError as exc:
                if exc.status_code not in _NOTHING_TO_ABORT:
                    raise

        self._call(f"aborting run {run_id}", abort, operation="abort")

    async def abort_async(self, run_id: str) -> None:
        async def abort() -> None:
            try:
                await self._aclient.run(run_id).abort()
            except ApifyApiError as exc:
                if exc.status_code not in _NOTHING_TO_ABORT:
                    raise

        await self._acall(f"aborting run {run_id}", abort, operation="abort")

    def account(self) -> str:
        """The username the token belongs to: one authenticated call (`scrapetrack doctor`).
        ProviderRejected when the token is refused."""
        user = self._call("checking the token", lambda: self._client.user().get(),
                          operation="user")
        if user is None:
            raise ProviderRejected(f"Apify at {self._where} knows no user for this token "
                                   "(check APIFY_TOKEN)")
        return user.username

    def close(self) -> None:
        self._call("closing connections", self._client.http_client.close, operation=None)

    async def aclose(self) -> None:
        await self._acall("closing connections", self._aclient.http_client.aclose,
                          operation=None)

    def _call(self, doing: str, call: Callable[[], T],
              not_found: type[ProviderError] = ProviderRejected, answer: str = "answer",
              operation: str | None = "other", actor_id: str | None = None) -> T:
        """`call()`, with whatever apify-client or its HTTP library raises turned into ours.

        `answer` names what a malformed body was ("items page"); `operation` is the label the
        call and its failure are counted under (None: not an API call). The error is raised
        after the `except` block, so it carries no chained client error.
        """
        self._count_call(operation)
        try:
            return call()
        except Exception as exc:
            error = self._converted(exc, self._client.http_client, doing, not_found, answer,
                                    operation, actor_id)
            if error is None:
                raise
        raise error

    async def _acall(self, doing: str, call: Callable[[], Awaitable[T]],
                     not_found: type[ProviderError] = ProviderRejected, answer: str = "answer",
                     operation: str | None = "other", actor_id: str | None = None) -> T:
        """`_call` for the async client: the same conversions, counted the same way."""
        self._count_call(operation)
        try:
            return await call()
        except Exception as exc:
            error = self._converted(exc, self._aclient.http_client, doing, not_found, answer,
                                    operation, actor_id)
            if error is None:
                raise
        raise error

    def _count_call(self, operation: str | None) -> None:
        if operation is not None and self._metrics is not None:
            self._metrics.apify_request(operation)

    def _converted(self, exc: Exception, http: HttpClient | HttpClientAsync, doing: str,
                   not_found: type[ProviderError], answer: str, operation: str | None,
                   actor_id: str | None) -> ProviderError | None:
        """Ours for what apify-client or its HTTP library raised (counted as a failure of
        `operation`); None for anything else, which is a bug of ours to let through."""
        if isinstance(exc, ApifyApiError):
            error = self._api_error(exc, doing, not_found, actor_id)
            kind = _api_error_kind(exc.status_code)
        elif isinstance(exc, InvalidResponseBodyError):  # not retried by apify-client
            error = self._error(ProviderUnavailable, f"Apify at {self._where} sent "
                                f"{_unparsable(exc, answer)} while {doing}", exc)
            kind = "malformed"
        elif isinstance(exc, ApifyClientError | ValueError):  # JSON of the wrong shape
            error = self._error(ProviderUnavailable, f"Apify at {self._where} sent an "
                                f"unreadable {answer} while {doing}: {_first_line(exc)}", exc)
            kind = "malformed"
        elif (http.is_timeout_error(exc) or http.is_retryable_transport_error(exc)
              or isinstance(exc, OSError)
              or type(exc).__module__.split(".")[0] in _TRANSPORT_MODULES):
            # The HTTP library under apify-client (impit or httpx): timeouts, resets, refused
            # connections, DNS, TLS. The client has already retried the transient ones.
            error = self._error(ProviderUnavailable, self._network_message(exc, http, doing),
                                exc)
            kind = "timeout" if http.is_timeout_error(exc) else "network"
        else:
            return None
        if operation is not None:
            self._count_error(operation, kind)
        return error

    def _count_error(self, operation: str, kind: str) -> None:
        if self._metrics is not None:
            self._metrics.apify_error(operation, kind)

    def _network_message(self, exc: Exception, http: HttpClient | HttpClientAsync,
                         doing: str) -> str:
        retried = http.is_timeout_error(exc) or http.is_retryable_transport_error(exc)
        after = f" (after {_retries(self._max_retries)})" if retried and self._max_retries else ""
        if http.is_timeout_error(exc):
            return f"Apify at {self._where} did not answer in time while {doing}{after}"
        text = _chain_text(exc)
        for kind, pattern in _NETWORK_KINDS:
            if pattern.search(text):
                return f"The connection to {self._where} {kind} while {doing}{after}"
        return (f"Could not reach Apify at {self._where} while {doing}{after}: "
                f"{type(exc).__name__}: {_first_line(exc)}")

    def _api_error(self, exc: ApifyApiError, doing: str, not_found: type[ProviderError],
                   actor_id: str | None = None) -> ProviderError:
        status = exc.status_code
        detail = f"HTTP {status}" + (f" {exc.type}" if exc.type else "")
        if (status == 429 or status >= 500) and exc.attempt > 1:
            detail += f" after {_retries(exc.attempt - 1)}"

        def said(verb: str) -> str:
            return f"Apify {verb} while {doing} ({detail}): {exc.message or 'no message'}"

        if status == 429:
            return self._error(ProviderUnavailable, said("kept rate-limiting us"), exc)
        if status >= 500:
            return self._error(ProviderUnavailable, said("kept failing"), exc)
        if status == 404:
            return self._error(not_found, said("found nothing"), exc)
        if status == 402:
            return self._error(ProviderBusy, said("has no capacity for another run"), exc)
        if exc.type == APPROVAL_NEEDED:
            url = (exc.data or {}).get("approvalUrl")
            where = f"open {url}" if isinstance(url, str) and url.startswith("https://") \
                else "open the actor in Apify Console"
            return self._error(ProviderRejected, f"The actor {actor_id or ''} needs your "
                               f"approval before it can run on your account: {where}, "
                               "approve its permissions, then run the search again", exc)
        if status in (401, 403):
            return self._error(ProviderRejected,
                               said("refused the token") + " (check APIFY_TOKEN)", exc)
        return self._error(ProviderRejected, said("rejected the request"), exc)

    def _error(self, kind: type[ProviderError], message: str,
               cause: BaseException) -> ProviderError:
        if self._token:  # defence in depth: a token must never reach a log or the UI
            message = message.replace(self._token, "***")
        logger.debug("apify-client error converted to %s: %s", kind.__name__, message,
                     exc_info=cause)
        return kind(message)


def _unparsable(exc: InvalidResponseBodyError, answer: str) -> str:
    """"a truncated items page", "a malformed answer (not JSON: '<html>...')", ..."""
    try:
        body = exc.response.content
    except Exception:  # a body that cannot even be read: say no more than that
        return f"a malformed {answer} (unreadable body)"
    text = body.decode("utf-8", "replace")
    start = text.lstrip()[:1]
    try:
        json.loads(text)
    except json.JSONDecodeError as error:
        if start in ("[", "{") and (error.pos >= len(text.rstrip())
                                    or error.msg.startswith("Unterminated")):
            return f"a truncated {answer} (its JSON ends early, after {len(body)} bytes)"
        if start in ("[", "{"):
            return f"a malformed {answer} (invalid JSON: {error.msg} at byte {error.pos})"
    return f"a malformed {answer} (not JSON: {text[:40]!r})"


def _api_error_kind(status: int) -> str:
    """The `kind` label of an API error: what an operator would do about it differs."""
    if status == 429:
        return "rate_limited"
    if status == 402:
        return "busy"
    if status >= 500:
        return "server_error"
    if status == 404:
        return "not_found"
    if status in (401, 403):
        return "unauthorized"
    return "rejected"


def _reading(dataset_id: str, offset: int, limit: int) -> str:
    return f"reading items {offset}..{offset + limit} of dataset {dataset_id}"


def _retries(count: int) -> str:
    return f"{count} retry" if count == 1 else f"{count} retries"


def _first_line(exc: BaseException) -> str:
    line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return line[:200]


def _chain_text(exc: BaseException) -> str:
    """The error and its causes as text: the OS error often sits a few causes down."""
    parts: list[str] = []
    seen: BaseException | None = exc
    while seen is not None and len(parts) < 5:
        parts.append(f"{type(seen).__name__}: {seen}")
        seen = seen.__cause__ or seen.__context__
    return " | ".join(parts)


def _run_info(run: Run) -> RunInfo:
    try:
        run_status = RunStatus(run.status)
    except ValueError:  # a status newer than this code: treat the run as still going
        run_status = RunStatus.RUNNING
    usage = run.usage_total_usd
    return RunInfo(run_id=run.id, dataset_id=run.default_dataset_id, status=run_status,
                   status_message=run.status_message,
                   usage_usd=float(usage) if usage is not None else None)
