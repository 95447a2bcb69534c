"""ledger: identifiers compare byte-wise (COLLATE "C"); no index on achievement_id

Revision ID: 0006_ledger_identifier_collation
Revises: 0005_ledger_statements
Create Date: 2026-11-23

- Learner, institution, result and achievement ids are identifiers, not words: their
  order is never shown to anyone, so they need no linguistic collation. Under the
  database's default (a libc locale: `C.UTF-8` with the pip wheel, `en_US.utf8` in the
  postgres image) every comparison in their b-tree indexes goes through strcoll; with
  "C" it is a memcmp. Every ingested row inserts into three of these indexes and is
  looked up in two (R-LG-2, the chain head). All the ledger's columns that are compared
  with one another change together, so no comparison mixes two explicit collations.
- The index on `achievement_id` goes (one index insert less per row): an achievement is
  found from its `recorded` entry, by (institution_id, result_id) in the R-LG-2 index,
  and then within its learner's chain, by the primary key (adapters.entries).
"""
from alembic import op

revision = "0006_ledger_identifier_collation"
down_revision = "0005_ledger_statements"
branch_labels = None
depends_on = None

_COLUMNS = {"entries": ("learner_id", "achievement_id", "institution_id", "result_id"),
            "learners": ("learner_id", "home_member"),
            "statements": ("learner_id",)}


def _collate(collation: str) -> None:
    for table, columns in _COLUMNS.items():
        op.execute(f"ALTER TABLE ledger.{table} " + ", ".join(
            f"ALTER COLUMN {c} TYPE text COLLATE {collation}" for c in columns))


def upgrade() -> None:
    op.execute("DROP INDEX ledger.entries_achievement")
    _collate('"C"')


def downgrade() -> None:
    _collate('pg_catalog."default"')
    op.execute("CREATE INDEX entries_achievement ON ledger.entries (achievement_id)")
