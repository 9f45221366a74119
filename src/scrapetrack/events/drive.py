"""Run a coroutine now, inside the caller's turn of the event loop; a Task only if it waits.

Writing one SSE frame to a connection that keeps up never waits, so the hub can hand the same
bytes to thousands of connections from one loop without a task or a future per delivery. A
slow connection's write does wait (uvicorn's `send` blocks while the socket buffer is full):
only then is the rest of that one write wrapped in a Task.

The usual shape, a task per stream taking frames from a mailbox, was measured instead (with
`StreamingResponse`): each frame then wakes a task, and uvicorn tells a stream that its client
left only through `receive`, so each stream needs a second waiter; it missed the CPU and
memory limits (docs/performance.md, "Streams on standard parts").
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Coroutine
from types import CoroutineType
from typing import Any, cast


def drive(awaitable: Awaitable[None]) -> asyncio.Future[None] | None:
    """None if `awaitable` finished at once; otherwise a future for the rest of it."""
    # A native coroutine (every `async def` send) skips the ABC's slower isinstance.
    if type(awaitable) is not CoroutineType and not isinstance(awaitable, Coroutine):
        return asyncio.ensure_future(awaitable)
    coro = cast(Coroutine[Any, Any, None], awaitable)
    try:
        yielded = coro.send(None)
    except StopIteration:
        return None
    except BaseException as exc:
        failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        failed.set_exception(exc)
        return failed
    return asyncio.ensure_future(_resume(coro, yielded))


async def _resume(coro: Coroutine[Any, Any, None], yielded: Any) -> None:
    """What asyncio's Task does for a coroutine: wait for what it yielded, then step it."""
    while True:
        try:
            if yielded is None:
                await asyncio.sleep(0)  # a bare yield: give the loop one turn
            else:
                await yielded
        except BaseException as exc:  # cancellation included: pass it into the coroutine
            try:
                yielded = coro.throw(exc)
            except StopIteration:
                return
            continue
        try:
            yielded = coro.send(None)
        except StopIteration:
            return
