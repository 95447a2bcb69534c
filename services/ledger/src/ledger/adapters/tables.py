"""The ledger schema (owned by this service alone). The DDL is in the migrations; these
are the runtime definitions of the same tables."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
)
from sqlalchemy.types import TypeDecorator, UserDefinedType

from shared.catalogue_replica import CatalogueReplicaTables
from shared.messaging.tables import messaging_tables

SCHEMA = "ledger"
metadata = MetaData(schema=SCHEMA)


class CanonicalJsonText(TypeDecorator):
    """An event stored as the exact JSON text that was hashed (R-LG-4); read back as
    a dict. Written by COPY on the ingest path (adapters.entries), as text."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        return value if value is None or isinstance(value, str) else orjson.dumps(value).decode()

    def process_result_value(self, value: str | None, dialect: Any) -> Any:
        return None if value is None else orjson.loads(value)


class XID8(UserDefinedType):
    """PostgreSQL's 64-bit transaction id; the relay orders by (xid, seq)."""

    cache_ok = True

    def get_col_spec(self, **kw) -> str:
        return "xid8"


learners = Table(
    "learners", metadata,
    Column("learner_id", Text, primary_key=True),
    Column("home_member", Text, nullable=False),
    Column("associate", Boolean, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Append-only (a trigger refuses UPDATE/DELETE, R-LG-3) and the ledger's own outbox
# (DESIGN §3): `event` is the chained event exactly as hashed (R-LG-4).
entries = Table(
    "entries", metadata,
    Column("seq", BigInteger, nullable=False),
    Column("xid", XID8, nullable=False, server_default=func.pg_current_xact_id()),
    Column("learner_id", Text, nullable=False),
    Column("ledger_seq", Integer, nullable=False),
    Column("kind", Text, nullable=False),
    Column("achievement_id", Text),
    Column("institution_id", Text),
    Column("result_id", Text),
    Column("fingerprint", Text),
    Column("event_id", Text, nullable=False),  # a random UUID (migration 0004)
    Column("event", CanonicalJsonText, nullable=False),
    Column("prev_hash", Text, nullable=False),
    Column("hash", Text, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("learner_id", "ledger_seq"),
)

# The statements read model (migration 0005): derived, replaced in place, never stale
# when read (adapters.statements).
statements = Table(
    "statements", metadata,
    Column("learner_id", Text, primary_key=True),
    Column("ledger_seq", Integer, nullable=False),
    Column("registration", Integer, nullable=False),
    Column("framework", Text),
    Column("format", Integer, nullable=False),
    Column("body", Text, nullable=False),
    Column("rendered_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

outbox, inbox, dead_letter = messaging_tables(metadata)
catalogue_replica = CatalogueReplicaTables(metadata)
