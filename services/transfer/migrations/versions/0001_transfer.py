"""transfer: outbox/inbox and the catalogue replica

Revision ID: 0001_transfer
Revises:
Create Date: 2026-11-23
"""
from alembic import op

from shared.catalogue_replica import create_catalogue_replica_v1
from shared.messaging.tables import create_messaging_tables_v1

revision = "0001_transfer"
down_revision = None
branch_labels = None
depends_on = None
S = "transfer"


def upgrade() -> None:
    create_messaging_tables_v1(op, S)
    create_catalogue_replica_v1(op, S)


def downgrade() -> None:
    for table in ("catalogue_equivalences", "catalogue_courses", "catalogue_institutions",
                  "inbox_dead_letter", "inbox", "outbox"):
        op.drop_table(table, schema=S)
