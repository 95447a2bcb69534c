"""Alembic, the same way for every service: each service has its own history in
`services/<svc>/migrations`, its own schema, and its own version table inside it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config


def alembic_config(alembic_ini: Path, database_url: str) -> Config:
    config = Config(str(alembic_ini))
    config.set_main_option("script_location", str(alembic_ini.parent / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade_to_head(alembic_ini: Path, database_url: str) -> None:
    command.upgrade(alembic_config(alembic_ini, database_url), "head")


async def upgrade_to_head_async(alembic_ini: Path, database_url: str) -> None:
    # Alembic's env.py runs its own event loop: keep it off ours.
    await asyncio.to_thread(upgrade_to_head, alembic_ini, database_url)


def run_env(context, target_metadata: MetaData, schema: str) -> None:
    """The body of every service's migrations/env.py (online mode, asyncpg)."""

    def do_run(connection: Connection) -> None:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        context.configure(connection=connection, target_metadata=target_metadata,
                          version_table_schema=schema, include_schemas=True,
                          include_name=lambda name, type_, _p: type_ != "schema" or name == schema)
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = async_engine_from_config(
            context.config.get_section(context.config.config_ini_section, {}),
            prefix="sqlalchemy.", poolclass=pool.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(do_run)
            await connection.commit()
        await engine.dispose()

    if context.is_offline_mode():
        context.configure(url=context.config.get_main_option("sqlalchemy.url"),
                          target_metadata=target_metadata, version_table_schema=schema,
                          literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
    else:
        asyncio.run(run_async())
