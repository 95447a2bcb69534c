"""ledger: the relay's watermark over entries (the ledger is its own outbox)

Revision ID: 0003_ledger_relay_positions
Revises: 0002_ledger_entries
Create Date: 2026-11-23
"""
from alembic import op

from shared.messaging.tables import create_relay_positions_v1

revision = "0003_ledger_relay_positions"
down_revision = "0002_ledger_entries"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_relay_positions_v1(op, "ledger")


def downgrade() -> None:
    op.drop_table("relay_positions", schema="ledger")
