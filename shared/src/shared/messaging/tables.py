"""The outbox and inbox tables every service keeps in its own schema.

`messaging_tables(metadata)` describes them for runtime queries; the
`create_messaging_tables_v1` helper is what a service's first Alembic migration calls,
so each service's history owns its copy (a later change gets a `_v2` helper)."""

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


def messaging_tables(metadata: MetaData) -> tuple[Table, Table, Table]:
    outbox = Table("outbox", metadata, *_outbox_columns())
    Index(f"{metadata.schema}_outbox_unpublished", outbox.c.id,
          postgresql_where=outbox.c.published_at.is_(None))
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


def create_relay_positions_v1(op, schema: str) -> None:
    """For a service whose own table is its outbox (published by position, log_relay.py)."""
    op.execute(f"""
        CREATE TABLE "{schema}".relay_positions (
          name        text PRIMARY KEY,
          xid         xid8 NOT NULL,
          seq         bigint NOT NULL,
          updated_at  timestamptz NOT NULL DEFAULT now()
        )""")
