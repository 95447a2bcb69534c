"""ledger: the outbox published by position (a watermark), its rows no longer marked

Revision ID: 0007_ledger_outbox_log
Revises: 0006_ledger_identifier_collation
Create Date: 2026-12-03
"""
from alembic import op

from shared.messaging.tables import outbox_by_position_v2, outbox_by_position_v2_downgrade

revision = "0007_ledger_outbox_log"
down_revision = "0006_ledger_identifier_collation"
branch_labels = None
depends_on = None
S = "ledger"


def upgrade() -> None:
    outbox_by_position_v2(op, S)


def downgrade() -> None:
    outbox_by_position_v2_downgrade(op, S)
