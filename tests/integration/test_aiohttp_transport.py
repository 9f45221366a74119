"""apify-client's async client over our aiohttp transport, against the sandbox over HTTP: what
the provider tests do not reach (a streamed answer, a 404 read as "none", the pool's end)."""

from __future__ import annotations

import asyncio
import gc
import json

from apify_client import ApifyClientAsync

from scrapetrack.providers.aiohttp_transport import AiohttpClientAsync
from scrapetrack.sandbox import create_sandbox_app
from scrapetrack.serving import serve_in_thread
from tests.conftest import run_async
from tests.integration.test_sandbox_faults import ACTOR, tiktok_input


def test_streamed_and_whole_answers_agree_and_the_pool_closes() -> None:
    clock = [0.0]
    app = create_sandbox_app(clock=lambda: clock[0], start_delay_seconds=0,
                             items_per_second=100)
    with serve_in_thread(app, lifespan=False) as url:

        async def use_and_close() -> None:
            http = AiohttpClientAsync(token="any")
            client = ApifyClientAsync.with_custom_http_client("any", api_url=url,
                                                              http_client=http)
            run = await client.actor(ACTOR).start(run_input=tiktok_input("yoga", max_items=12))
            clock[0] += 1000
            dataset = client.dataset(run.default_dataset_id)
            page = await dataset.list_items(offset=2, limit=5)
            async with dataset.stream_items(offset=2, limit=5) as streamed:
                chunks = [chunk async for chunk in streamed.aiter_bytes()]
            assert len(page.items) == 5
            assert json.loads(b"".join(chunks)) == page.items
            # A 404 becomes apify-client's "none" through the error the transport's answer
            # raised, as with the bundled transports.
            assert await client.run("noSuchRun").get() is None
            await http.aclose()
            # Closed, the client still works: the next request opens a pool of its own.
            assert (await dataset.list_items(offset=2, limit=5)).items == page.items
            await http.aclose()

        async def scenario() -> list[str]:
            # aiohttp reports a session dropped unclosed through the loop's exception handler.
            reports: list[str] = []
            asyncio.get_running_loop().set_exception_handler(
                lambda _, context: reports.append(str(context.get("message"))))
            await use_and_close()
            gc.collect()
            return reports

        assert run_async(scenario) == []
