from alembic import context

from award.adapters.tables import SCHEMA, metadata
from shared.migrations import run_env

run_env(context, metadata, SCHEMA)
