"""All four services through HTTP and a real Kafka broker: a course published over the
catalogue API reaches the catalogue replica of ledger, transfer and award, and a replica
rebuilt from offset zero holds the same rows."""

from __future__ import annotations

import contextlib

import pytest
from sqlalchemy import select

from shared.messaging.kafka_bus import KafkaBus
from tests.integration.test_catalogue_api import COURSE, member
from tests.plugins.services import ADMIN, auth, eventually, running, unique

pytestmark = pytest.mark.e2e
CONSUMERS = ("ledger", "transfer", "award")


async def replica_rows(app) -> dict[str, list[tuple]]:
    tables = app.state.ctx.definition.projections()[0].tables
    async with app.state.ctx.engine.connect() as conn:
        return {t.name: sorted(tuple(r) for r in await conn.execute(select(t)))
                for t in tables.all}


async def test_a_published_course_reaches_every_projection_and_survives_a_rebuild(
        migrated_database, kafka_bootstrap):
    async with contextlib.AsyncExitStack() as stack:
        services = {name: await stack.enter_async_context(
            running(name, migrated_database, KafkaBus(kafka_bootstrap, client_id=name)))
            for name in ("catalogue", *CONSUMERS)}
        _, catalogue = services["catalogue"]
        north, scot = unique("north"), unique("scot")
        await catalogue.put(f"/v1/institutions/{north}", json=member(), headers=ADMIN)
        await catalogue.put(f"/v1/institutions/{scot}", headers=ADMIN,
                            json=member("SCQF", "GB-SCT", 12))
        published = await catalogue.put(f"/v1/institutions/{north}/courses/DS701",
                                         json=COURSE, headers=auth("institution", north))
        assert published.status_code == 201
        await catalogue.put(f"/v1/institutions/{scot}/courses/DS11A",
                            headers=auth("institution", scot),
                            json={**COURSE, "level": {"framework": "SCQF", "value": 11}})
        await catalogue.put(f"/v1/institutions/{north}/equivalences/eq-1",
                            headers=auth("institution", north),
                            json={"source": [{"institution_id": scot, "code": "DS11A"}],
                                  "target_code": "DS701", "effective_from": "2024-01-01"})

        async def replicated(name: str) -> bool:
            app, _ = services[name]
            rows = await replica_rows(app)
            return (any(r[0] == north and r[1] == "DS701" for r in rows["catalogue_courses"])
                    and any(r[0] == north for r in rows["catalogue_equivalences"]))

        for name in CONSUMERS:
            await eventually(lambda n=name: replicated(n), timeout=60,
                             what=f"{name} replica has the course")
            _, client = services[name]
            status = await client.get("/v1/catalogue-replica", headers=ADMIN)
            assert status.status_code == 200 and status.json()["counts"]["courses"] >= 2
            wrong = await client.get("/v1/catalogue-replica", headers=auth("institution", north))
            assert wrong.status_code == 403

        # Every replica agrees with the others, row for row.
        snapshots = {name: await replica_rows(services[name][0]) for name in CONSUMERS}
        assert snapshots["ledger"] == snapshots["transfer"] == snapshots["award"]
        course = next(r for r in snapshots["ledger"]["catalogue_courses"] if r[0] == north)
        assert course[2] == 1 and course[4] == "Data Science Foundations"

        # Rebuild the ledger's replica from offset zero: the same rows come back.
        ledger_app, _ = services["ledger"]
        loop = ledger_app.state.ctx.consumers["catalogue-replica"]
        applied_before = loop.applied
        await loop.rebuild()

        async def rebuilt() -> bool:
            return loop.applied > applied_before and \
                await replica_rows(ledger_app) == snapshots["ledger"]

        await eventually(rebuilt, timeout=60, what="rebuilt replica equals the original")
