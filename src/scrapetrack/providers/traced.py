"""TracedProvider: another provider, with a span around each call it makes to the platform.

Built by build_runtime only when tracing is on, so a deployment without it pays nothing. The
spans name the actor, run and dataset, never the token; a failed call's span carries our
error (ProviderError messages never hold the token either).
"""

from __future__ import annotations

from typing import Any

from scrapetrack.providers.base import NO_CAPS, ItemsPage, Provider, RunCaps, RunInfo
from scrapetrack.tracing import Span, Tracing


class TracedProvider(Provider):
    def __init__(self, provider: Provider, tracing: Tracing) -> None:
        self._provider = provider
        self._tracing = tracing

    def start(self, actor_id: str, run_input: dict[str, Any],
              caps: RunCaps = NO_CAPS) -> RunInfo:
        with self._tracing.span("apify.start", {"apify.actor.id": actor_id}) as span:
            if caps.max_items is not None:
                span.set("apify.run.max_items", caps.max_items)
            run = self._provider.start(actor_id, run_input, caps)
            _saw(span, run)
            return run

    def get_run(self, run_id: str, wait_seconds: float = 0) -> RunInfo:
        with self._tracing.span("apify.get_run", {"apify.run.id": run_id}) as span:
            run = self._provider.get_run(run_id, wait_seconds)
            _saw(span, run)
            return run

    def items_page(self, dataset_id: str, offset: int, limit: int) -> ItemsPage:
        with self._tracing.span("apify.items_page", {
                "apify.dataset.id": dataset_id, "apify.items.offset": offset,
                "apify.items.limit": limit}) as span:
            page = self._provider.items_page(dataset_id, offset, limit)
            span.set("apify.items.count", len(page.items))
            return page

    def abort(self, run_id: str) -> None:
        with self._tracing.span("apify.abort", {"apify.run.id": run_id}):
            self._provider.abort(run_id)

    async def start_async(self, actor_id: str, run_input: dict[str, Any],
                          caps: RunCaps = NO_CAPS) -> RunInfo:
        with self._tracing.span("apify.start", {"apify.actor.id": actor_id}) as span:
            if caps.max_items is not None:
                span.set("apify.run.max_items", caps.max_items)
            run = await self._provider.start_async(actor_id, run_input, caps)
            _saw(span, run)
            return run

    async def get_run_async(self, run_id: str) -> RunInfo:
        with self._tracing.span("apify.get_run", {"apify.run.id": run_id}) as span:
            run = await self._provider.get_run_async(run_id)
            _saw(span, run)
            return run

    async def items_page_async(self, dataset_id: str, offset: int, limit: int) -> ItemsPage:
        with self._tracing.span("apify.items_page", {
                "apify.dataset.id": dataset_id, "apify.items.offset": offset,
                "apify.items.limit": limit}) as span:
            page = await self._provider.items_page_async(dataset_id, offset, limit)
            span.set("apify.items.count", len(page.items))
            return page

    async def abort_async(self, run_id: str) -> None:
        with self._tracing.span("apify.abort", {"apify.run.id": run_id}):
            await self._provider.abort_async(run_id)

    def close(self) -> None:
        self._provider.close()

    async def aclose(self) -> None:
        await self._provider.aclose()


def _saw(span: Span, run: RunInfo) -> None:
    span.set("apify.run.id", run.run_id)
    span.set("apify.dataset.id", run.dataset_id)
    span.set("apify.run.status", run.status.value)
