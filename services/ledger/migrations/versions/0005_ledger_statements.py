"""ledger: the statements read model

Revision ID: 0005_ledger_statements
Revises: 0004_ledger_event_text
Create Date: 2026-11-23

Each learner's consolidated statement, rendered (the JSON the API serves), with what it
was rendered from: the chain's last `ledger_seq`, the registration's revision, the home
member's framework, and the rendering's format. A read serves it only if all four are
still current (adapters.statements), so the table is a cache that can never be read
stale: a row behind is rendered again. It is derived, not the record: unlike
`entries`, its rows are replaced, and a rebuild may empty it.
"""
from alembic import op

revision = "0005_ledger_statements"
down_revision = "0004_ledger_event_text"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE ledger.statements (
            learner_id text PRIMARY KEY,
            ledger_seq integer NOT NULL,
            registration integer NOT NULL,
            framework text,
            format integer NOT NULL,
            body text NOT NULL,
            rendered_at timestamptz NOT NULL DEFAULT now()
        )""")


def downgrade() -> None:
    op.execute("DROP TABLE ledger.statements")
