from alembic import context

from shared.migrations import run_env
from transfer.adapters.tables import SCHEMA, metadata

run_env(context, metadata, SCHEMA)
