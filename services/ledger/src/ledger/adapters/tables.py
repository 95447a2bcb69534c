"""The ledger schema (owned by this service alone). The DDL is in the migrations; these
are the runtime definitions of the same tables."""

from __future__ import annotations

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
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import UserDefinedType

from shared.catalogue_replica import CatalogueReplicaTables
from shared.messaging.tables import messaging_tables

SCHEMA = "ledger"
metadata = MetaData(schema=SCHEMA)


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
    Column("event_id", Text, nullable=False, unique=True),
    Column("event", JSONB, nullable=False),
    Column("prev_hash", Text, nullable=False),
    Column("hash", Text, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("learner_id", "ledger_seq"),
)

outbox, inbox, dead_letter = messaging_tables(metadata)
catalogue_replica = CatalogueReplicaTables(metadata)
