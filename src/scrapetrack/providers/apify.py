"""`Provider` over apify-client: the real Apify API, or our sandbox at another `api_url`.

This is the boundary: no apify-client type or exception leaves this module (not even as the
`__cause__`/`__context__` of ours). The client's own retries (429, 5xx, network errors, with
exponential backoff) run first; what still fails becomes one of ours:

    network error, timeout, 429, 5xx, unreadable answer → ProviderUnavailable
    404 on a run or its dataset, or a run the API does not return → RunNotFound
    any other 4xx (bad token, unknown actor, invalid input) → ProviderRejected

Messages say what we were doing, the HTTP status and Apify's own message, never the token.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

from apify_client import ApifyClient
from apify_client.errors import ApifyApiError, ApifyClientError

from scrapetrack.exceptions import (
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
    RunNotFound,
)
from scrapetrack.providers.base import ItemsPage, Provider, RunInfo, RunStatus

T = TypeVar("T")
MAX_WAIT_SECONDS = 60  # Apify holds a waitForFinish request at most this long
# Answers to an abort that mean there is nothing left to abort: the run is gone (404) or has
# already finished (Apify usually answers a finished run with the run itself, else 400/409).
_NOTHING_TO_ABORT = (400, 404, 409)
# Exceptions from these libraries are the HTTP transport under apify-client failing.
_TRANSPORT_MODULES = ("impit", "httpx", "httpx2", "httpcore", "h11", "ssl", "socket")
logger = logging.getLogger(__name__)


class ApifyProvider(Provider):
    def __init__(self, token: str | None, api_url: str, *, max_retries: int = 4,
                 min_delay_between_retries: timedelta = timedelta(milliseconds=500),
                 request_timeout: timedelta = timedelta(seconds=30)) -> None:
        self._token = token
        self._where = urlsplit(api_url).netloc or api_url  # for messages: host, never token
        self._client = ApifyClient(
            token, api_url=api_url, max_retries=max_retries,
            min_delay_between_retries=min_delay_between_retries,
            timeout_short=request_timeout, timeout_medium=request_timeout,
            timeout_long=request_timeout)

    def start(self, actor_id: str, run_input: dict[str, Any]) -> RunInfo:
        run = self._call(f"starting actor {actor_id}",
                         lambda: self._client.actor(actor_id).start(run_input=run_input))
        return _run_info(run.id, run.default_dataset_id, run.status, run.status_message)

    def get_run(self, run_id: str, wait_seconds: float = 0) -> RunInfo:
        """The run now, or once it finishes within `wait_seconds` (Apify caps a wait at 60 s).

        The server holds the wait (`waitForFinish`), so waiting costs a request, not a poll.
        """
        client = self._client.run(run_id)
        if wait_seconds > 0:
            wait = min(wait_seconds, MAX_WAIT_SECONDS)
            run = self._call(f"reading run {run_id}", lambda: client.wait_for_finish(
                wait_duration=timedelta(seconds=wait), timeout=timedelta(seconds=wait + 30)),
                not_found=RunNotFound)
        else:
            run = self._call(f"reading run {run_id}", client.get, not_found=RunNotFound)
        if run is None:
            raise RunNotFound(f"Apify run {run_id} was not found at {self._where}")
        return _run_info(run.id, run.default_dataset_id, run.status, run.status_message)

    def items_page(self, dataset_id: str, offset: int, limit: int) -> ItemsPage:
        """Items [offset, offset + limit) in write order; fewer (or none) at the current end.

        No `clean`: it drops rows server-side, and then offsets would no longer count rows.
        `total` is Apify's itemCount, which lags the items, raised to at least what this page
        proves exists; never use it to decide that the dataset is fully read.
        """
        page = self._call(
            f"reading items {offset}..{offset + limit} of dataset {dataset_id}",
            lambda: self._client.dataset(dataset_id).list_items(offset=offset, limit=limit),
            not_found=RunNotFound)
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

        self._call(f"aborting run {run_id}", abort)

    def close(self) -> None:
        self._call("closing connections", self._client.http_client.close)

    def _call(self, doing: str, call: Callable[[], T],
              not_found: type[ProviderError] = ProviderRejected) -> T:
        """`call()`, with whatever apify-client or its HTTP library raises turned into ours.

        The error is raised after the `except` block, so it carries no chained client error.
        """
        try:
            return call()
        except ApifyApiError as exc:
            error = self._api_error(exc, doing, not_found)
        except (ApifyClientError, ValueError) as exc:  # unparsable or invalid JSON answer
            error = self._error(ProviderUnavailable, f"Apify at {self._where} sent an "
                                f"unreadable answer while {doing}: {exc}", exc)
        except Exception as exc:
            # The HTTP library under apify-client (impit or httpx): timeouts, refused
            # connections, DNS, TLS. The client has already retried the transient ones.
            http = self._client.http_client
            if not (http.is_timeout_error(exc) or http.is_retryable_transport_error(exc)
                    or isinstance(exc, OSError)
                    or type(exc).__module__.split(".")[0] in _TRANSPORT_MODULES):
                raise  # not the network: a bug of ours, which must not pass for an outage
            kind = ("timed out" if http.is_timeout_error(exc)
                    else f"failed ({type(exc).__name__}: {exc})")
            error = self._error(ProviderUnavailable,
                                f"Could not reach Apify at {self._where} while {doing}: {kind}",
                                exc)
        raise error

    def _api_error(self, exc: ApifyApiError, doing: str,
                   not_found: type[ProviderError]) -> ProviderError:
        status = exc.status_code
        detail = f"HTTP {status}" + (f" {exc.type}" if exc.type else "")

        def said(verb: str) -> str:
            return f"Apify {verb} while {doing} ({detail}): {exc.message or 'no message'}"

        if status == 429:
            return self._error(ProviderUnavailable, said("kept rate-limiting us"), exc)
        if status >= 500:
            return self._error(ProviderUnavailable, said("kept failing"), exc)
        if status == 404:
            return self._error(not_found, said("found nothing"), exc)
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


def _run_info(run_id: str, dataset_id: str, status: str, message: str | None) -> RunInfo:
    try:
        run_status = RunStatus(status)
    except ValueError:  # a status newer than this code: treat the run as still going
        run_status = RunStatus.RUNNING
    return RunInfo(run_id=run_id, dataset_id=dataset_id, status=run_status,
                   status_message=message)
