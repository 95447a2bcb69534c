"""A service's local replica of the catalogue, fed from `catalogue.events`.

Ledger, transfer and award each keep one in their own schema (no service reads
another's tables); the code lives here once. Applying an event is idempotent and
order-tolerant: course versions are immutable rows, members and equivalences keep the
highest revision seen, so a redelivery or a replay from offset zero ends in the same rows.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    Table,
    Text,
    delete,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.auth import Caller, require_role
from shared.contracts import CloudEvent, payload_of
from shared.contracts.events import (
    CourseVersionPublishedV1,
    EquivalencePublishedV1,
    InstitutionRegisteredV1,
)


def _institution_columns() -> list:
    return [Column("institution_id", Text, primary_key=True),
            Column("revision", Integer, nullable=False),
            Column("name", Text, nullable=False),
            Column("country", Text, nullable=False),
            Column("framework", Text, nullable=False),
            Column("awarding_framework", Text, nullable=False),
            Column("awarding_max_level", Integer, nullable=False)]


def _course_columns() -> list:
    return [Column("institution_id", Text, nullable=False),
            Column("code", Text, nullable=False),
            Column("version", Integer, nullable=False),
            Column("effective_from", Date, nullable=False),
            Column("title", Text, nullable=False),
            Column("credit_value", Numeric, nullable=False),
            Column("credit_scheme", Text, nullable=False),
            Column("level_framework", Text, nullable=False),
            Column("level_value", Integer, nullable=False),
            Column("notional_hours", Integer),
            Column("cah", ARRAY(Text), nullable=False),
            Column("data", JSONB, nullable=False),
            PrimaryKeyConstraint("institution_id", "code", "version")]


def _equivalence_columns() -> list:
    return [Column("institution_id", Text, nullable=False),
            Column("equivalence_id", Text, nullable=False),
            Column("revision", Integer, nullable=False),
            Column("source", JSONB, nullable=False),
            Column("target_code", Text, nullable=False),
            Column("effective_from", Date, nullable=False),
            Column("effective_to", Date),
            Column("withdrawn", Boolean, nullable=False),
            PrimaryKeyConstraint("institution_id", "equivalence_id")]


class CatalogueReplicaTables:
    def __init__(self, metadata: MetaData) -> None:
        self.institutions = Table("catalogue_institutions", metadata, *_institution_columns())
        self.courses = Table("catalogue_courses", metadata, *_course_columns())
        self.equivalences = Table("catalogue_equivalences", metadata, *_equivalence_columns())

    @property
    def all(self) -> tuple[Table, Table, Table]:
        return self.institutions, self.courses, self.equivalences


def create_catalogue_replica_v1(op, schema: str) -> None:
    """Called from a consuming service's first migration."""
    op.create_table("catalogue_institutions", *_institution_columns(), schema=schema)
    op.create_table("catalogue_courses", *_course_columns(), schema=schema)
    op.create_table("catalogue_equivalences", *_equivalence_columns(), schema=schema)


class CatalogueReplica:
    """The projection (shared.messaging.consumer.Projection) that keeps the replica."""

    name = "catalogue-replica"
    topics = ("catalogue.events",)

    def __init__(self, tables: CatalogueReplicaTables) -> None:
        self.tables = tables

    async def apply(self, conn: AsyncConnection, event: CloudEvent) -> None:
        payload = payload_of(event)
        if isinstance(payload, InstitutionRegisteredV1):
            await self._upsert_newer(conn, self.tables.institutions, ["institution_id"], {
                "institution_id": payload.institution_id, "revision": payload.revision,
                "name": payload.name, "country": payload.country,
                "framework": payload.framework,
                "awarding_framework": payload.awarding_powers.framework,
                "awarding_max_level": payload.awarding_powers.max_level})
        elif isinstance(payload, CourseVersionPublishedV1):
            await conn.execute(pg_insert(self.tables.courses).values(
                institution_id=payload.institution_id, code=payload.code,
                version=payload.version, effective_from=payload.effective_from,
                title=payload.title, credit_value=payload.credit.value,
                credit_scheme=payload.credit.scheme, level_framework=payload.level.framework,
                level_value=payload.level.value, notional_hours=payload.notional_hours,
                cah=payload.cah, data=event.data,
            ).on_conflict_do_nothing())  # versions never change (R-CAT-2)
        elif isinstance(payload, EquivalencePublishedV1):
            await self._upsert_newer(conn, self.tables.equivalences,
                                     ["institution_id", "equivalence_id"], {
                "institution_id": payload.institution_id,
                "equivalence_id": payload.equivalence_id, "revision": payload.revision,
                "source": [s.model_dump() for s in payload.source],
                "target_code": payload.target_code, "effective_from": payload.effective_from,
                "effective_to": payload.effective_to, "withdrawn": payload.withdrawn})

    async def reset(self, conn: AsyncConnection) -> None:
        for table in self.tables.all:
            await conn.execute(delete(table))

    @staticmethod
    async def _upsert_newer(conn: AsyncConnection, table: Table, keys: list[str],
                            values: dict) -> None:
        statement = pg_insert(table).values(**values)
        await conn.execute(statement.on_conflict_do_update(
            index_elements=keys,
            set_={k: statement.excluded[k] for k in values if k not in keys},
            where=table.c.revision < statement.excluded.revision))


def replica_router(tables: CatalogueReplicaTables) -> APIRouter:
    """`GET /v1/catalogue-replica`: what this service knows of the catalogue (admin)."""
    router = APIRouter(prefix="/v1", tags=["catalogue replica"])

    @router.get("/catalogue-replica", summary="Counts in this service's catalogue replica")
    async def replica_status(caller: Caller, request: Request) -> dict:
        require_role(caller, "admin")
        async with request.app.state.ctx.engine.connect() as conn:
            counts = {t.name.removeprefix("catalogue_"): (await conn.execute(
                select(func.count()).select_from(t))).scalar_one() for t in tables.all}
        return {"service": request.app.state.ctx.definition.name, "counts": counts}

    return router
