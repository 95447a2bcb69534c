"""The natively started PostgreSQL (cairn.devservers, used by `make run`, CI and the
benchmarks) is configured for the ledger: connections, lock slots for 10,000-learner
batches, and shared buffers that hold the statement reads' working set. A data dir made
with initdb's defaults (an older checkout's) is raised, once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from cairn.devservers import ensure_max_connections, start_postgres, stop_postgres
from cairn.devservers.postgres import (
    MAX_LOCKS_PER_TRANSACTION,
    SHARED_BUFFERS_PAGES,
    _server_for,
    asyncpg_dsn,
)

pytestmark = pytest.mark.integration
SETTINGS = ("max_connections", "max_locks_per_transaction", "shared_buffers")


def settings(url: str) -> dict[str, int]:
    async def read() -> dict[str, int]:
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            rows = await conn.fetch("SELECT name, setting::bigint FROM pg_settings"
                                    " WHERE name = any($1::text[])", list(SETTINGS))
            return dict(rows)
        finally:
            await conn.close()
    return asyncio.run(read())


def test_a_data_dir_with_initdb_defaults_is_raised_once(tmp_path: Path) -> None:
    pgdata = tmp_path / "pg"
    url = start_postgres(pgdata, max_connections=None, cleanup_mode="delete")
    try:
        assert settings(url)["shared_buffers"] < SHARED_BUFFERS_PAGES  # initdb: 128 MB
        assert ensure_max_connections(pgdata) is True  # raised: a restart
        raised = settings(_server_for(pgdata.resolve()).get_uri(driver="asyncpg"))
        assert raised == {"max_connections": 200,
                          "max_locks_per_transaction": MAX_LOCKS_PER_TRANSACTION,
                          "shared_buffers": SHARED_BUFFERS_PAGES}
        assert ensure_max_connections(pgdata) is False  # already so: no restart
    finally:
        stop_postgres(pgdata, delete=True)


def test_a_fresh_data_dir_starts_configured(tmp_path: Path) -> None:
    pgdata = tmp_path / "pg"
    url = start_postgres(pgdata, cleanup_mode="delete")
    try:
        assert settings(url)["shared_buffers"] == SHARED_BUFFERS_PAGES
    finally:
        stop_postgres(pgdata, delete=True)
