"""PostgreSQL LISTEN/NOTIFY bus: no broker beyond the database.

NOTIFY takes a database-wide lock at commit, so workers publish rarely (coalesced) and small
(job id, campaign id, version), outside their data transactions; LISTEN has its own connection.
"""

from __future__ import annotations

import asyncio
import logging

import psycopg
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from scrapetrack.events.base import RESYNC, Bus, Deliver, Notice
from scrapetrack.exceptions import Unavailable

log = logging.getLogger(__name__)
CHANNEL = "scrapetrack_jobs"
MAX_BACKOFF = 5.0


def libpq_dsn(sqlalchemy_url: str) -> str:
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(
        hide_password=False)


class PostgresBus(Bus):
    name = "postgres"

    def __init__(self, engine: Engine, channel: str = CHANNEL) -> None:
        self.engine = engine
        self.channel = channel
        self.dsn = libpq_dsn(engine.url.render_as_string(hide_password=False))

    def publish(self, notice: Notice) -> None:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT pg_notify(:channel, :payload)"),
                             {"channel": self.channel, "payload": notice.encode()})
                conn.commit()
        except SQLAlchemyError as exc:
            log.warning("could not NOTIFY: %s", exc)

    def ping(self) -> None:
        """A round trip on the engine's pool: LISTEN's own connection comes and goes, and a
        new connection per probe would cost PostgreSQL a process each time."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise Unavailable(f"PostgreSQL did not answer: {getattr(exc, 'orig', None) or exc}") \
                from exc

    async def listen(self, deliver: Deliver) -> None:
        backoff = 0.1
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True,
                                                             connect_timeout=5)
                async with conn:
                    await conn.execute(f'LISTEN "{self.channel}"')
                    backoff = 0.1
                    deliver(RESYNC)
                    async for notify in conn.notifies():
                        if (notice := Notice.decode(notify.payload)) is not None:
                            deliver(notice)
            except (psycopg.Error, OSError) as exc:
                log.warning("LISTEN connection lost (%s); reconnecting in %.1f s", exc, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
