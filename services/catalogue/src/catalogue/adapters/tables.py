"""The catalogue schema (owned by this service alone)."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Computed,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR

from shared.messaging.tables import messaging_tables

SCHEMA = "catalogue"
metadata = MetaData(schema=SCHEMA)

institutions = Table(
    "institutions", metadata,
    Column("institution_id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("country", Text, nullable=False),
    Column("framework", Text, nullable=False),
    Column("awarding_framework", Text, nullable=False),
    Column("awarding_max_level", Integer, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

course_versions = Table(
    "course_versions", metadata,
    Column("institution_id", Text, nullable=False),
    Column("code", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("effective_from", Date, nullable=False),
    Column("title", Text, nullable=False),
    Column("credit_value", Numeric, nullable=False),
    Column("credit_scheme", Text, nullable=False),
    Column("level_framework", Text, nullable=False),
    Column("level_value", Integer, nullable=False),
    Column("micro_credential", Boolean, nullable=False),
    Column("eu_micro_credential", Boolean, nullable=False),
    Column("hecos", ARRAY(Text), nullable=False),
    Column("cah", ARRAY(Text), nullable=False),
    Column("content", JSONB, nullable=False),
    Column("content_hash", Text, nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("search", TSVECTOR, Computed(
        "to_tsvector('simple', code || ' ' || title || ' ' || "
        "coalesce(jsonb_path_query_array(content, '$.learning_outcomes[*]')::text, ''))",
        persisted=True)),
    PrimaryKeyConstraint("institution_id", "code", "version"),
)
Index("course_versions_in_force", course_versions.c.institution_id, course_versions.c.code,
      course_versions.c.effective_from.desc(), course_versions.c.version.desc())
Index("course_versions_search", course_versions.c.search, postgresql_using="gin")

equivalences = Table(
    "equivalences", metadata,
    Column("institution_id", Text, nullable=False),
    Column("equivalence_id", Text, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("source", JSONB, nullable=False),
    Column("target_code", Text, nullable=False),
    Column("effective_from", Date, nullable=False),
    Column("effective_to", Date),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("institution_id", "equivalence_id"),
)

outbox, inbox, dead_letter = messaging_tables(metadata)
