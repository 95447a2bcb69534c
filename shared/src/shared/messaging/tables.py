"""The outbox and inbox tables every service keeps in its own schema.

`messaging_tables(metadata)` describes them as they are now, for runtime queries; the
`create_messaging_tables_v1` helper is what a service's first Alembic migration calls,
and `outbox_by_position_v2` the later one that turned the outbox into a log published by
position (shared.messaging.relay), so each service's history owns its copy.

The outbox since v2: each row carries `xid`, the id of the transaction that wrote it
(`pg_current_xact_id()`, the column's default), and the relay publishes rows in (xid, id)
order after a watermark it keeps in `relay_positions`, as the ledger's entries are
(shared.messaging.log_relay). Rows are never updated: v1 marked each published row
(`published_at`), an UPDATE that wrote a new version of every ~700-byte row, its index
entries and their WAL, and cost PostgreSQL more than reading and publishing them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.types import UserDefinedType


class Xid8(UserDefinedType):
    """PostgreSQL's 64-bit transaction id (`xid8`, never wraps around)."""

    cache_ok = True

    def get_col_spec(self, **_: object) -> str:
        return "xid8"


def _outbox_columns() -> list:
    return [
        Column("id", BigInteger, Identity(always=False), primary_key=True),
        Column("event_id", Text, nullable=False, unique=True),
        Column("event_type", Text, nullable=False),
        Column("topic", Text, nullable=False),
        Column("key", Text, nullable=False),
        Column("payload", LargeBinary, nullable=False),  # the encoded CloudEvent, shipped as is
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True)),
    ]


def _inbox_columns() -> list:
    return [
        Column("consumer", Text, primary_key=True),
        Column("event_id", Text, primary_key=True),
        Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    ]


def _dead_letter_columns() -> list:
    return [
        Column("id", BigInteger, Identity(always=False), primary_key=True),
        Column("consumer", Text, nullable=False),
        Column("event_id", Text),
        Column("topic", Text, nullable=False),
        Column("partition", Integer, nullable=False),
        Column("offset", BigInteger, nullable=False),
        Column("error", Text, nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    ]


def _outbox_columns_v2() -> list:
    return [column for column in _outbox_columns() if column.name != "published_at"] + [
        Column("xid", Xid8, nullable=False, server_default=text("pg_current_xact_id()")),
    ]


def messaging_tables(metadata: MetaData) -> tuple[Table, Table, Table]:
    outbox = Table("outbox", metadata, *_outbox_columns_v2())
    Index(f"{metadata.schema}_outbox_position", outbox.c.xid, outbox.c.id)
    Table("relay_positions", metadata, *_relay_positions_columns())
    inbox = Table("inbox", metadata, *_inbox_columns())
    dead = Table("inbox_dead_letter", metadata, *_dead_letter_columns())
    return outbox, inbox, dead


def create_messaging_tables_v1(op, schema: str) -> None:
    """Called from a service's first migration."""
    op.create_table("outbox", *_outbox_columns(), schema=schema)
    op.create_index(f"{schema}_outbox_unpublished", "outbox", ["id"], schema=schema,
                    postgresql_where=text("published_at IS NULL"))
    op.create_table("inbox", *_inbox_columns(), schema=schema)
    op.create_table("inbox_dead_letter", *_dead_letter_columns(), schema=schema)


def _relay_positions_columns() -> list:
    return [
        Column("name", Text, primary_key=True),
        Column("xid", Xid8, nullable=False),
        Column("seq", BigInteger, nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    ]


def create_relay_positions_v1(op, schema: str) -> None:
    """The watermarks of the relays that publish by position (log_relay.py)."""
    op.execute(f"""
        CREATE TABLE "{schema}".relay_positions (
          name        text PRIMARY KEY,
          xid         xid8 NOT NULL,
          seq         bigint NOT NULL,
          updated_at  timestamptz NOT NULL DEFAULT now()
        )""")


OUTBOX_LOG = "outbox"  # the outbox's watermark in relay_positions


def outbox_by_position_v2(op, schema: str) -> None:
    """The outbox becomes a log published by position (module docstring); the service's
    `relay_positions` must exist. Rows already there read as written by transaction 0,
    older than any other, so they keep their id order; the watermark is set just before
    the oldest row not yet marked published (every row after it is published, again for
    the few already sent: at least once, and consumers' inboxes absorb repeats)."""
    outbox = f'"{schema}".outbox'
    # A constant default fills the old rows without rewriting the table; new rows get
    # their transaction's id from the default set after it.
    op.execute(f"ALTER TABLE {outbox} ADD COLUMN xid xid8 NOT NULL DEFAULT '0'::xid8")
    op.execute(f"ALTER TABLE {outbox} ALTER COLUMN xid SET DEFAULT pg_current_xact_id()")
    op.execute(f"""
        INSERT INTO "{schema}".relay_positions (name, xid, seq)
        SELECT '{OUTBOX_LOG}', '0'::xid8,
               coalesce((SELECT min(id) - 1 FROM {outbox} WHERE published_at IS NULL),
                        (SELECT max(id) FROM {outbox}), 0)""")
    op.drop_index(f"{schema}_outbox_unpublished", "outbox", schema=schema)
    op.drop_column("outbox", "published_at", schema=schema)
    op.create_index(f"{schema}_outbox_position", "outbox", ["xid", "id"], schema=schema)


def outbox_by_position_v2_downgrade(op, schema: str) -> None:
    """Back to rows marked published: those at or before the watermark are marked."""
    outbox = f'"{schema}".outbox'
    op.drop_index(f"{schema}_outbox_position", "outbox", schema=schema)
    op.execute(f"ALTER TABLE {outbox} ADD COLUMN published_at timestamptz")
    op.execute(f"""
        UPDATE {outbox} o SET published_at = now() FROM "{schema}".relay_positions p
        WHERE p.name = '{OUTBOX_LOG}' AND (o.xid, o.id) <= (p.xid, p.seq)""")
    op.execute(f"""DELETE FROM "{schema}".relay_positions WHERE name = '{OUTBOX_LOG}'""")
    op.drop_column("outbox", "xid", schema=schema)
    op.create_index(f"{schema}_outbox_unpublished", "outbox", ["id"], schema=schema,
                    postgresql_where=text("published_at IS NULL"))
