"""Composition root of the catalogue service: the one place its pieces are wired."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from catalogue.adapters.tables import dead_letter, inbox, metadata, outbox
from catalogue.config import CatalogueSettings
from catalogue.entrypoints.http.routes import router
from shared.messaging.bus import Bus
from shared.runtime import ServiceDefinition, build_app

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"


def definition() -> ServiceDefinition:
    return ServiceDefinition(
        name="catalogue",
        title="Cairn catalogue",
        description="Members, their courses and micro-credentials (versioned), and the course "
                    "equivalences each receiving member publishes. Emits `catalogue.events`.",
        metadata=metadata, outbox=outbox, inbox=inbox, dead_letter=dead_letter,
        alembic_ini=ALEMBIC_INI, routers=[router],
    )


def create_app(settings: CatalogueSettings | None = None, *, bus: Bus | None = None,
               run_workers: bool = False) -> FastAPI:
    return build_app(definition(), settings or CatalogueSettings(), bus=bus,
                     run_workers=run_workers)
