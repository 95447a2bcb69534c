"""Use cases that change the catalogue. Each runs in one transaction that writes the
state change and its event to the outbox together."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from catalogue.adapters import repository as repo
from catalogue.adapters.tables import outbox
from catalogue.domain.course import CourseVersion, check_course_rules, next_version
from catalogue.domain.equivalence import CourseKey, Equivalence, revise_equivalence
from catalogue.domain.errors import CatalogueRuleViolation, NotFound
from catalogue.domain.eu_microcredential import check_eu_microcredential
from catalogue.domain.institution import Institution
from catalogue.domain.institution import register_institution as decide_registration
from shared.contracts import new_event
from shared.contracts.events import (
    CourseVersionPublishedV1,
    EquivalencePublishedV1,
    InstitutionRegisteredV1,
)
from shared.domain.subjects import SubjectShare
from shared.messaging.outbox import append_to_outbox

TOPIC = "catalogue.events"
T = TypeVar("T")


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class Result(Generic[T]):
    value: T
    outcome: Outcome


async def register_institution(engine: AsyncEngine, proposed: Institution) -> Result[Institution]:
    """R-MB-1."""
    iid = proposed.institution_id
    async with engine.begin() as conn:
        await repo.lock_key(conn, "institution", iid)
        current = await repo.get_institution(conn, iid)
        decided = decide_registration(current, proposed)
        if decided is None:
            return Result(current, Outcome.UNCHANGED)
        await repo.save_institution(conn, decided, is_new=current is None)
        event = new_event(InstitutionRegisteredV1(
            institution_id=iid, revision=decided.revision, name=decided.name,
            country=decided.country, framework=decided.framework.value,
            awarding_powers={"framework": decided.awarding_powers.framework.value,
                             "max_level": decided.awarding_powers.value}), subject=iid)
        await append_to_outbox(conn, outbox, TOPIC, iid, [event])
    return Result(decided, Outcome.CREATED if current is None else Outcome.UPDATED)


async def publish_course(engine: AsyncEngine, institution_id: str, code: str,
                         content: Mapping[str, Any]) -> Result[CourseVersion]:
    """R-CAT-1/2 (and R-CAT-4 units, R-CAT-5 for EU micro-credentials)."""
    subjects = [SubjectShare(s["hecos"], Decimal(str(s["percent"]))) for s in content["subjects"]]
    units = content.get("units") or []
    check_course_rules(institution_id, code, subjects, units)
    effective_from = date.fromisoformat(content["effective_from"])
    async with engine.begin() as conn:
        institution = await _member(conn, institution_id)
        check_eu_microcredential(content, country=institution.country,
                                 awarding_body=institution.name)
        missing = {CourseKey(u["institution_id"], u["code"]) for u in units}
        missing -= await repo.existing_courses(conn, list(missing))
        if missing:
            raise CatalogueRuleViolation("unknown_unit", "Units must be published courses",
                                         field="units", missing=_keys(missing))
        await repo.lock_key(conn, "course", institution_id, code)
        latest = await repo.latest_version(conn, institution_id, code)
        version = next_version(latest, institution_id, code, effective_from, content, subjects)
        if version is None:
            return Result(latest, Outcome.UNCHANGED)
        await repo.insert_version(conn, version, hecos=[s.hecos for s in subjects])
        event = new_event(CourseVersionPublishedV1(
            institution_id=institution_id, code=code, version=version.version,
            content_hash=version.content_hash, cah=list(version.cah),
            **{k: v for k, v in content.items() if k in CourseVersionPublishedV1.model_fields}),
            subject=f"{institution_id}/{code}")
        await append_to_outbox(conn, outbox, TOPIC, institution_id, [event])
    return Result(version, Outcome.CREATED)


async def publish_equivalence(engine: AsyncEngine, proposed: Equivalence) -> Result[Equivalence]:
    """R-CAT-3: only the receiving member publishes; both sides must be published courses."""
    iid = proposed.institution_id
    async with engine.begin() as conn:
        await _member(conn, iid)
        wanted = {CourseKey(iid, proposed.target_code), *proposed.source}
        missing = wanted - await repo.existing_courses(conn, list(wanted))
        if CourseKey(iid, proposed.target_code) in missing:
            raise CatalogueRuleViolation("unknown_target_course",
                                         f"{iid} has not published course {proposed.target_code}",
                                         field="target_code")
        if missing:
            raise CatalogueRuleViolation("unknown_source_course",
                                         "Source courses must be published courses",
                                         field="source", missing=_keys(missing))
        await repo.lock_key(conn, "equivalence", iid, proposed.equivalence_id)
        current = await repo.get_equivalence(conn, iid, proposed.equivalence_id)
        revised = revise_equivalence(current, proposed)
        if revised is None:
            return Result(current, Outcome.UNCHANGED)
        await repo.save_equivalence(conn, revised, is_new=current is None)
        event = new_event(EquivalencePublishedV1(
            institution_id=iid, equivalence_id=revised.equivalence_id,
            revision=revised.revision,
            source=[{"institution_id": s.institution_id, "code": s.code} for s in revised.source],
            target_code=revised.target_code, effective_from=revised.effective_from,
            effective_to=revised.effective_to), subject=f"{iid}/{revised.equivalence_id}")
        await append_to_outbox(conn, outbox, TOPIC, iid, [event])
    return Result(revised, Outcome.CREATED if current is None else Outcome.UPDATED)


async def _member(conn, institution_id: str) -> Institution:
    institution = await repo.get_institution(conn, institution_id)
    if institution is None:
        raise NotFound("institution_not_found",
                       f"{institution_id} is not a registered member", institution_id=institution_id)
    return institution


def _keys(keys: set[CourseKey]) -> list[dict[str, str]]:
    return [{"institution_id": k.institution_id, "code": k.code} for k in sorted(
        keys, key=lambda k: (k.institution_id, k.code))]
