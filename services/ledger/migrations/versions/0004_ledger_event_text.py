"""ledger: entries keep each event as the exact canonical text that was hashed

Revision ID: 0004_ledger_event_text
Revises: 0003_ledger_relay_positions
Create Date: 2026-11-23

- `event` becomes text: the RFC 8785 bytes that were hashed (R-LG-4), stored as they
  are. jsonb re-encoded them (key order, spacing), made COPY parse every event and the
  relay print it back; measured on 5,000-row COPYs here: ~54k rows/s with jsonb,
  ~63k/s with text. Rows written before keep jsonb's spelling of the same JSON: the
  chain is verified over the parsed event, so they verify as before.
- The UNIQUE constraint on `event_id` goes (a further ~63k -> ~73k rows/s): ids are
  random UUIDs made by the writer, never looked up here, and consumers' inboxes
  already treat a repeated id as a repeat.
"""
from alembic import op

revision = "0004_ledger_event_text"
down_revision = "0003_ledger_relay_positions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE ledger.entries DROP CONSTRAINT entries_event_id_key")
    op.execute("ALTER TABLE ledger.entries ALTER COLUMN event TYPE text USING event::text")


def downgrade() -> None:
    op.execute("ALTER TABLE ledger.entries ALTER COLUMN event TYPE jsonb USING event::jsonb")
    op.execute("ALTER TABLE ledger.entries ADD CONSTRAINT entries_event_id_key UNIQUE (event_id)")
