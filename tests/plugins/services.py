"""Fixtures for tests that run Cairn's services on the real servers (the servers
themselves come from tests/conftest.py: `database_url`, `kafka_bootstrap`)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import MetaData, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

import award.bootstrap
import catalogue.bootstrap
import ledger.bootstrap
import transfer.bootstrap
from shared.auth import Role, mint_token
from shared.messaging.bus import Bus
from shared.messaging.memory_bus import InProcessBus
from shared.messaging.tables import messaging_tables
from shared.migrations import upgrade_to_head_async
from shared.settings import DEMO_AUTH_SECRET, ServiceSettings

SETTINGS = {"catalogue": catalogue.config.CatalogueSettings, "ledger": ledger.config.LedgerSettings,
            "transfer": transfer.config.TransferSettings, "award": award.config.AwardSettings}
SERVICE_MODULES = {"catalogue": catalogue.bootstrap, "ledger": ledger.bootstrap,
                   "transfer": transfer.bootstrap, "award": award.bootstrap}


def auth(role: Role, subject: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(DEMO_AUTH_SECRET, subject, role)}"}


ADMIN = auth("admin", "test-admin")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 30.0,
                     what: str = "condition") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.1)


@pytest.fixture(scope="session")
async def migrated_database(database_url: str) -> str:
    """Every service's Alembic history applied to the real PostgreSQL (each its own schema)."""
    for module in SERVICE_MODULES.values():
        await upgrade_to_head_async(module.definition().alembic_ini, database_url)
    return database_url


@pytest.fixture
async def fresh_ledger_database(database_url: str) -> AsyncIterator[str]:
    """A database of its own on the same server, the ledger's migrations applied: for a
    test that reads the whole ledger (the shared one holds other tests' tampered chains).
    Dropped afterwards."""
    name = f"fresh_{uuid.uuid4().hex[:10]}"
    server = create_async_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        async with server.connect() as conn:
            await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
        await upgrade_to_head_async(ledger.bootstrap.definition().alembic_ini, url)
        yield url
    finally:
        async with server.connect() as conn:
            await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await server.dispose()


@pytest.fixture
async def ledger_api(migrated_database: str) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """The ledger's app and a client to it, on the real PostgreSQL, events on an
    in-process bus, no relay or consumers."""
    async with running("ledger", migrated_database, InProcessBus(),
                       run_workers=False) as (app, client):
        yield app, client


@pytest.fixture
async def engine(migrated_database: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(migrated_database)
    yield engine
    await engine.dispose()


@pytest.fixture
async def scratch_messaging(engine: AsyncEngine):
    """A throw-away schema with its own outbox/inbox tables, for messaging tests."""
    schema = unique("scratch").replace("-", "_")
    metadata = MetaData(schema=schema)
    tables = messaging_tables(metadata)
    async with engine.begin() as conn:
        await conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        await conn.run_sync(metadata.create_all)
    yield metadata, tables
    async with engine.begin() as conn:
        await conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')


def settings_for(service: str, database_url: str, bus: str, **extra) -> ServiceSettings:
    return SETTINGS[service](DATABASE_URL=database_url, CAIRN_BUS=bus, CAIRN_MODE="local",
               CAIRN_RELAY_IDLE_SECONDS=0.02, **extra)


@contextlib.asynccontextmanager
async def running(service: str, database_url: str, bus: Bus,
                  run_workers: bool = True) -> AsyncIterator[tuple[object, httpx.AsyncClient]]:
    """One service app with its lifespan running (relay and consumers too), and a client."""
    app = SERVICE_MODULES[service].create_app(settings_for(service, database_url, bus.name),
                                              bus=bus, run_workers=run_workers)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url=f"http://{service}") as client:
            yield app, client
