"""PostgreSQL LISTEN/NOTIFY bus: no broker beyond the database.

NOTIFY takes a database-wide lock at commit, so workers publish rarely (coalesced) and small
(job id, campaign id, version), outside their data transactions; LISTEN has its own connection.
Each campaign has a channel of its own, and a web process LISTENs to those of the campaigns it
has watchers for: a notice of a job nobody there watches never reaches it.

psycopg's `notifies()` holds the connection while it waits, so a change of the campaigns
followed stops that wait, sends LISTEN and UNLISTEN, and waits again: psycopg keeps what
arrives in between for the next `notifies()`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence

import psycopg
from psycopg import sql
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from scrapetrack.events.base import RESYNC, Bus, Deliver, Notice, Resync
from scrapetrack.events.follows import Follows, Subscriptions
from scrapetrack.exceptions import ConfigError, Unavailable

log = logging.getLogger(__name__)
CHANNEL = "scrapetrack_jobs"  # a campaign's channel is CHANNEL_<campaign id>
MAX_BACKOFF = 5.0
# PostgreSQL cuts longer identifiers (NAMEDATALEN - 1), and pg_notify refuses them.
MAX_CHANNEL_BYTES = 63
DIGEST_CHARS = 32  # names a campaign whose id would make its channel too long
LISTEN = sql.SQL("LISTEN {}")
UNLISTEN = sql.SQL("UNLISTEN {}")


def libpq_dsn(sqlalchemy_url: str) -> str:
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(
        hide_password=False)


class PostgresBus(Bus):
    name = "postgres"
    routes_by_campaign = True

    def __init__(self, engine: Engine, channel: str = CHANNEL) -> None:
        if len(channel.encode()) + 1 + DIGEST_CHARS > MAX_CHANNEL_BYTES:
            raise ConfigError(f"channel prefix {channel!r} leaves no room for a campaign")
        self.engine = engine
        self.channel = channel  # the prefix of every campaign's channel
        self.dsn = libpq_dsn(engine.url.render_as_string(hide_password=False))
        self._follows = Follows()

    def channel_of(self, campaign_id: str) -> str:
        """The campaign's channel; the same in every process, within PostgreSQL's limit (a
        campaign id is a UUID, which fits; any longer id is named by its digest)."""
        name = f"{self.channel}_{campaign_id}"
        if len(name.encode()) > MAX_CHANNEL_BYTES:
            digest = hashlib.sha256(campaign_id.encode()).hexdigest()[:DIGEST_CHARS]
            name = f"{self.channel}_{digest}"
        return name

    def publish(self, notice: Notice) -> None:
        self.publish_many((notice,))

    def publish_many(self, notices: Sequence[Notice]) -> None:
        """One transaction for them all: PostgreSQL delivers a transaction's notifications at
        its commit, in the order they were sent."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT pg_notify(:channel, :payload)"),
                             [{"channel": self.channel_of(notice.campaign_id),
                               "payload": notice.encode()} for notice in notices])
                conn.commit()
        except SQLAlchemyError as exc:
            log.warning("could not NOTIFY: %s", exc)

    def follow(self, campaign_id: str) -> None:
        self._follows.add(campaign_id)

    def unfollow(self, campaign_id: str) -> None:
        self._follows.discard(campaign_id)

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
        with self._follows.subscriptions() as subscriptions:
            while True:
                try:
                    conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True,
                                                                 connect_timeout=5)
                    async with conn:
                        await self._listen_to(conn, LISTEN, subscriptions.everything())
                        backoff = 0.1
                        deliver(RESYNC)
                        await self._serve(conn, subscriptions, deliver)
                except (psycopg.Error, OSError) as exc:
                    log.warning("LISTEN connection lost (%s); reconnecting in %.1f s", exc,
                                backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)

    async def _serve(self, conn: psycopg.AsyncConnection[object],
                     subscriptions: Subscriptions, deliver: Deliver) -> None:
        """Notices until the campaigns followed change, then the LISTENs that change calls
        for, a Resync for each campaign newly listened to (its LISTEN has returned: what is
        committed from then on is notified), and notices again."""
        while True:
            await self._receive(conn, deliver, until=subscriptions.wake)
            added, dropped = subscriptions.changes()
            await self._listen_to(conn, UNLISTEN, dropped)
            await self._listen_to(conn, LISTEN, added)
            for campaign_id in added:
                deliver(Resync(campaign_id))

    @staticmethod
    async def _receive(conn: psycopg.AsyncConnection[object], deliver: Deliver,
                       until: asyncio.Event) -> None:
        """Hand each notice to `deliver` until `until` is set; raise if the connection
        fails."""
        if until.is_set():
            return

        async def receive() -> None:
            async for notify in conn.notifies():
                if (notice := Notice.decode(notify.payload)) is not None:
                    deliver(notice)

        receiving = asyncio.ensure_future(receive())
        woken = asyncio.ensure_future(until.wait())
        try:
            await asyncio.wait((receiving, woken), return_when=asyncio.FIRST_COMPLETED)
        finally:
            # Cancelled only while waiting for the socket: no notice is lost, and the
            # connection is free again.
            receiving.cancel()
            woken.cancel()
            await asyncio.gather(receiving, woken, return_exceptions=True)
        if not receiving.cancelled() and (error := receiving.exception()) is not None:
            raise error

    async def _listen_to(self, conn: psycopg.AsyncConnection[object], command: sql.SQL,
                         campaigns: list[str]) -> None:
        """LISTEN or UNLISTEN each campaign's channel (quoted as an identifier), in one
        round trip."""
        if campaigns:
            await conn.execute(sql.SQL("; ").join(
                command.format(sql.Identifier(self.channel_of(campaign_id)))
                for campaign_id in campaigns))
