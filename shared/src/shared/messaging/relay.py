"""The outbox relay: publishes a service's outbox to the bus, by position.

The outbox is a log (shared.messaging.tables, since v2): each row carries the id of the
transaction that wrote it, and the relay publishes rows in (xid, id) order after the
watermark it saves in `relay_positions`, the way the ledger's entries are published
(shared.messaging.log_relay: leadership, batching, pipelining, at least once). Rows are
never updated once written.

Order: the rows of one transaction in id order, and transactions in xid order, so one
key's events keep the order their writers committed them in as long as the writers take
the key's lock before their first write (the catalogue's `lock_key`, the ledger's
`lock_learners`, both advisory locks, which assign no xid)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.contracts.envelope import STRUCTURED_CONTENT_TYPE
from shared.messaging.bus import OutgoingRecord, Publisher
from shared.messaging.log_relay import LogRelay, LogSource
from shared.messaging.tables import OUTBOX_LOG

HEADERS = (("content-type", STRUCTURED_CONTENT_TYPE),)


def outbox_source(outbox: Table) -> LogSource:
    """The outbox as a log: `id` orders one transaction's rows. Its leader holds the lock
    the relay of outbox v1 held, so while replicas of both run (a rolling upgrade) only
    one of them publishes (v1's fails on the dropped `published_at` until it is gone)."""
    schema = outbox.schema
    assert schema, "a service's outbox lives in its own schema"
    return LogSource(name=OUTBOX_LOG, schema=schema, table=f'"{schema}".{outbox.name}',
                     columns=("topic", "key", "payload"), to_records=_records,
                     written_at="created_at", seq="id",
                     lock_name=f"cairn-relay:{outbox.fullname}")


def outbox_relay(engine: AsyncEngine, outbox: Table, publisher: Publisher, *, service: str,
                 **options: Any) -> LogRelay:
    """The relay of `outbox`; `options` are LogRelay's (batch_size, idle_seconds, ...)."""
    return LogRelay(engine, outbox_source(outbox), publisher, service=service, **options)


def _records(rows: Sequence[Any]) -> list[OutgoingRecord]:
    """asyncpg records (topic, key, payload, xid, seq) as bus records."""
    return [OutgoingRecord(topic, key.encode(), payload, HEADERS)
            for topic, key, payload, _xid, _seq in rows]
