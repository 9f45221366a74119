"""When each API token was last used: noted in memory by every request, written by the web
process in one statement every WRITE_EVERY_SECONDS and when it stops.

Every request authenticates; a write per request (or per token and minute, as before) turned
a reconnect storm into a storm of writes. What `users list` shows as last used is therefore
at most WRITE_EVERY_SECONDS behind, per web process.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import datetime
from typing import Protocol

log = logging.getLogger(__name__)

WRITE_EVERY_SECONDS = 5.0


class Writes(Protocol):
    def note_token_uses(self, uses: dict[str, datetime]) -> None: ...


class TokenUses:
    def __init__(self, store: Writes) -> None:
        self.store = store
        self._noted: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def note(self, token_id: str, at: datetime) -> None:
        with self._lock:
            self._noted[token_id] = at

    def last(self, token_id: str) -> datetime | None:
        """The token's last use noted here and not written yet."""
        return self._noted.get(token_id)

    def write(self) -> None:
        """Write what was noted since the last write; if that fails, it is tried again with
        the next one."""
        with self._lock:
            noted, self._noted = self._noted, {}
        if not noted:
            return
        try:
            self.store.note_token_uses(noted)
        except BaseException:
            with self._lock:
                self._noted = {**noted, **self._noted}  # a use noted meanwhile is newer
            raise

    async def keep_writing(self, every: float | None = None) -> None:
        """write() every `every` seconds (WRITE_EVERY_SECONDS), on a thread, until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(WRITE_EVERY_SECONDS if every is None else every)
            try:
                await loop.run_in_executor(None, self.write)
            except Exception:  # the database may be restarting: the next write tries again
                log.exception("could not write the API tokens' last uses")
