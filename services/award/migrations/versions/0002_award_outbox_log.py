"""award: the outbox published by position (a watermark), its rows no longer marked

Revision ID: 0002_award_outbox_log
Revises: 0001_award
Create Date: 2026-12-03
"""
from alembic import op

from shared.messaging.tables import (
    create_relay_positions_v1,
    outbox_by_position_v2,
    outbox_by_position_v2_downgrade,
)

revision = "0002_award_outbox_log"
down_revision = "0001_award"
branch_labels = None
depends_on = None
S = "award"


def upgrade() -> None:
    create_relay_positions_v1(op, S)
    outbox_by_position_v2(op, S)


def downgrade() -> None:
    outbox_by_position_v2_downgrade(op, S)
    op.drop_table("relay_positions", schema=S)
