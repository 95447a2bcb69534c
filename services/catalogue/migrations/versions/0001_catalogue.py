"""catalogue: institutions, course versions, equivalences, outbox/inbox

Revision ID: 0001_catalogue
Revises:
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from shared.messaging.tables import create_messaging_tables_v1

revision = "0001_catalogue"
down_revision = None
branch_labels = None
depends_on = None
S = "catalogue"


def upgrade() -> None:
    op.create_table(
        "institutions",
        sa.Column("institution_id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("country", sa.Text, nullable=False),
        sa.Column("framework", sa.Text, nullable=False),
        sa.Column("awarding_framework", sa.Text, nullable=False),
        sa.Column("awarding_max_level", sa.Integer, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        schema=S,
    )
    op.create_table(
        "course_versions",
        sa.Column("institution_id", sa.Text, nullable=False),
        sa.Column("code", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("effective_from", sa.Date, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("credit_value", sa.Numeric, nullable=False),
        sa.Column("credit_scheme", sa.Text, nullable=False),
        sa.Column("level_framework", sa.Text, nullable=False),
        sa.Column("level_value", sa.Integer, nullable=False),
        sa.Column("micro_credential", sa.Boolean, nullable=False),
        sa.Column("eu_micro_credential", sa.Boolean, nullable=False),
        sa.Column("hecos", postgresql.ARRAY(sa.Text), nullable=False),
        sa.Column("cah", postgresql.ARRAY(sa.Text), nullable=False),
        sa.Column("content", postgresql.JSONB, nullable=False),
        sa.Column("content_hash", sa.Text, nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("search", postgresql.TSVECTOR, sa.Computed(
            "to_tsvector('simple', code || ' ' || title || ' ' || "
            "coalesce(jsonb_path_query_array(content, '$.learning_outcomes[*]')::text, ''))",
            persisted=True)),
        sa.PrimaryKeyConstraint("institution_id", "code", "version"),
        schema=S,
    )
    op.create_index("course_versions_in_force", "course_versions",
                    ["institution_id", "code", sa.text("effective_from DESC"),
                     sa.text("version DESC")], schema=S)
    op.create_index("course_versions_search", "course_versions", ["search"],
                    postgresql_using="gin", schema=S)
    op.create_table(
        "equivalences",
        sa.Column("institution_id", sa.Text, nullable=False),
        sa.Column("equivalence_id", sa.Text, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("source", postgresql.JSONB, nullable=False),
        sa.Column("target_code", sa.Text, nullable=False),
        sa.Column("effective_from", sa.Date, nullable=False),
        sa.Column("effective_to", sa.Date),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("institution_id", "equivalence_id"),
        schema=S,
    )
    create_messaging_tables_v1(op, S)


def downgrade() -> None:
    for table in ("inbox_dead_letter", "inbox", "outbox", "equivalences", "course_versions",
                  "institutions"):
        op.drop_table(table, schema=S)
