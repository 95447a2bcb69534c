"""Composition root of the transfer service: the one place its pieces are wired."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from shared.catalogue_replica import CatalogueReplica, replica_router
from shared.messaging.bus import Bus
from shared.runtime import ServiceDefinition, build_app
from transfer.adapters.tables import catalogue_replica, dead_letter, inbox, metadata, outbox
from transfer.config import TransferSettings

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"


def definition() -> ServiceDefinition:
    return ServiceDefinition(
        name="transfer",
        title="Cairn transfer",
        description="Mutual-recognition agreements and the recognition decision for every achievement at every member. Emits `transfer.events`.",
        metadata=metadata, outbox=outbox, inbox=inbox, dead_letter=dead_letter,
        alembic_ini=ALEMBIC_INI, routers=[replica_router(catalogue_replica)],
        projections=lambda: [CatalogueReplica(catalogue_replica)],
    )


def create_app(settings: TransferSettings | None = None, *, bus: Bus | None = None,
               run_workers: bool = False) -> FastAPI:
    return build_app(definition(), settings or TransferSettings(), bus=bus, run_workers=run_workers)
