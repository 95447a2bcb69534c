"""Composition root of the award service: the one place its pieces are wired."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from award.adapters.tables import catalogue_replica, dead_letter, inbox, metadata, outbox
from award.config import AwardSettings
from shared.catalogue_replica import CatalogueReplica, replica_router
from shared.messaging.bus import Bus
from shared.runtime import ServiceDefinition, build_app

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"


def definition() -> ServiceDefinition:
    return ServiceDefinition(
        name="award",
        title="Cairn award",
        description="Qualification definitions, consortium award policy and the audit engine that decides awards. Emits `award.events`.",
        metadata=metadata, outbox=outbox, inbox=inbox, dead_letter=dead_letter,
        alembic_ini=ALEMBIC_INI, routers=[replica_router(catalogue_replica)],
        projections=lambda: [CatalogueReplica(catalogue_replica)],
    )


def create_app(settings: AwardSettings | None = None, *, bus: Bus | None = None,
               run_workers: bool = False) -> FastAPI:
    return build_app(definition(), settings or AwardSettings(), bus=bus, run_workers=run_workers)
