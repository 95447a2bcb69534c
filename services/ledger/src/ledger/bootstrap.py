"""Composition root of the ledger service: the one place its pieces are wired."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from ledger.adapters.publication import ENTRIES
from ledger.adapters.tables import catalogue_replica, dead_letter, inbox, metadata, outbox
from ledger.config import LedgerSettings
from ledger.entrypoints import cli
from ledger.entrypoints.events.awards import AwardConferrals
from ledger.entrypoints.events.statements import StatementsProjection
from ledger.entrypoints.http import learners, results
from shared.catalogue_replica import CatalogueReplica, replica_router
from shared.messaging.bus import Bus
from shared.runtime import ServiceDefinition, build_app

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"


def definition() -> ServiceDefinition:
    return ServiceDefinition(
        name="ledger",
        title="Cairn ledger",
        description="The append-only, tamper-evident record of every learner achievement. "
                    "Emits `ledger.events`.",
        metadata=metadata, outbox=outbox, inbox=inbox, dead_letter=dead_letter,
        alembic_ini=ALEMBIC_INI,
        routers=[results.router, learners.router, replica_router(catalogue_replica)],
        projections=lambda: [CatalogueReplica(catalogue_replica), StatementsProjection(),
                             AwardConferrals()],
        log_sources=[ENTRIES],  # the entries table is the ledger's outbox (DESIGN §3)
        commands={"verify": cli.verify},  # python -m ledger verify: every chain (R-LG-4)
    )


def create_app(settings: LedgerSettings | None = None, *, bus: Bus | None = None,
               run_workers: bool = False) -> FastAPI:
    return build_app(definition(), settings or LedgerSettings(), bus=bus, run_workers=run_workers)
