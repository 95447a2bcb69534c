"""SQL for the catalogue (SQLAlchemy Core). Functions take the caller's connection, so
the service layer decides the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import and_, any_, func, insert, literal, or_, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncConnection

from catalogue.adapters.tables import course_versions as cv
from catalogue.adapters.tables import equivalences as eqt
from catalogue.adapters.tables import institutions as it
from catalogue.domain.course import CourseVersion
from catalogue.domain.equivalence import CourseKey, Equivalence
from catalogue.domain.institution import Institution
from shared.domain.levels import Framework, Level


async def lock_key(conn: AsyncConnection, *parts: str) -> None:
    """Serialise writers of one record (course, equivalence, member) for this transaction."""
    await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
                       {"k": "catalogue:" + "/".join(parts)})


# --- institutions -----------------------------------------------------------------------

def _institution(row: Any) -> Institution:
    return Institution(row.institution_id, row.name, row.country, Framework(row.framework),
                       Level(Framework(row.awarding_framework), row.awarding_max_level),
                       row.revision)


async def get_institution(conn: AsyncConnection, institution_id: str) -> Institution | None:
    row = (await conn.execute(select(it).where(it.c.institution_id == institution_id))).first()
    return _institution(row) if row else None


async def list_institutions(conn: AsyncConnection) -> list[Institution]:
    rows = await conn.execute(select(it).order_by(it.c.institution_id))
    return [_institution(r) for r in rows]


async def save_institution(conn: AsyncConnection, inst: Institution, *, is_new: bool) -> None:
    values = {"name": inst.name, "country": inst.country, "framework": inst.framework.value,
              "awarding_framework": inst.awarding_powers.framework.value,
              "awarding_max_level": inst.awarding_powers.value, "revision": inst.revision,
              "updated_at": func.now()}
    if is_new:
        await conn.execute(insert(it).values(institution_id=inst.institution_id, **values))
    else:
        await conn.execute(update(it).where(it.c.institution_id == inst.institution_id)
                           .values(**values))


# --- courses ----------------------------------------------------------------------------

def _version(row: Any) -> CourseVersion:
    return CourseVersion(row.institution_id, row.code, row.version, row.effective_from,
                         row.content, row.content_hash, tuple(row.cah))


async def latest_version(conn: AsyncConnection, institution_id: str,
                         code: str) -> CourseVersion | None:
    row = (await conn.execute(
        select(cv).where(cv.c.institution_id == institution_id, cv.c.code == code)
        .order_by(cv.c.version.desc()).limit(1))).first()
    return _version(row) if row else None


async def versions(conn: AsyncConnection, institution_id: str, code: str) -> list[CourseVersion]:
    rows = await conn.execute(select(cv).where(cv.c.institution_id == institution_id,
                                               cv.c.code == code).order_by(cv.c.version))
    return [_version(r) for r in rows]


async def insert_version(conn: AsyncConnection, version: CourseVersion, *,
                         hecos: list[str]) -> None:
    c = version.content
    await conn.execute(insert(cv).values(
        institution_id=version.institution_id, code=version.code, version=version.version,
        effective_from=version.effective_from, title=c["title"],
        credit_value=c["credit"]["value"], credit_scheme=c["credit"]["scheme"],
        level_framework=c["level"]["framework"], level_value=c["level"]["value"],
        micro_credential=c.get("micro_credential", False),
        eu_micro_credential=c.get("eu_micro_credential", False),
        hecos=hecos, cah=list(version.cah), content=dict(c), content_hash=version.content_hash))


async def existing_courses(conn: AsyncConnection,
                           keys: Sequence[CourseKey]) -> set[CourseKey]:
    if not keys:
        return set()
    rows = await conn.execute(
        select(cv.c.institution_id, cv.c.code).distinct()
        .where(tuple_(cv.c.institution_id, cv.c.code).in_([(k.institution_id, k.code)
                                                           for k in keys])))
    return {CourseKey(r.institution_id, r.code) for r in rows}


async def search_courses(conn: AsyncConnection, *, at: date, institution: str | None,
                         levels: Sequence[Level] | None, subject: str | None, q: str | None,
                         micro_credential: bool | None, limit: int,
                         after: tuple[str, str] | None) -> list[Any]:
    """The version in force at `at` of every course matching the filters, by key."""
    in_force = (
        select(cv).ext(distinct_on(cv.c.institution_id, cv.c.code))
        .where(cv.c.effective_from <= at)
        .order_by(cv.c.institution_id, cv.c.code, cv.c.effective_from.desc(),
                  cv.c.version.desc())
    )
    if institution:
        in_force = in_force.where(cv.c.institution_id == institution)
    sub = in_force.subquery()
    query = select(sub)
    if levels is not None:
        query = query.where(tuple_(sub.c.level_framework, sub.c.level_value).in_(
            [(lv.framework.value, lv.value) for lv in levels]))
    if subject:
        if subject.upper().startswith("CAH"):
            prefix = subject.upper()
            query = query.where(func.array_to_string(sub.c.cah, " ").op("~")(
                literal(r"(^| )" + prefix.replace("-", r"\-"))))
        else:
            query = query.where(literal(subject) == any_(sub.c.hecos))
    if q:
        query = query.where(or_(sub.c.search.op("@@")(func.websearch_to_tsquery("simple", q)),
                                sub.c.title.ilike(f"%{q}%")))
    if micro_credential is not None:
        query = query.where(sub.c.micro_credential == micro_credential)
    if after is not None:
        query = query.where(tuple_(sub.c.institution_id, sub.c.code) > tuple_(*map(literal, after)))
    query = query.order_by(sub.c.institution_id, sub.c.code).limit(limit)
    return list(await conn.execute(query))


# --- equivalences -----------------------------------------------------------------------

def _equivalence(row: Any) -> Equivalence:
    return Equivalence(row.institution_id, row.equivalence_id,
                       tuple(CourseKey(s["institution_id"], s["code"]) for s in row.source),
                       row.target_code, row.effective_from, row.effective_to, row.revision)


async def get_equivalence(conn: AsyncConnection, institution_id: str,
                          equivalence_id: str) -> Equivalence | None:
    row = (await conn.execute(select(eqt).where(
        and_(eqt.c.institution_id == institution_id,
             eqt.c.equivalence_id == equivalence_id)))).first()
    return _equivalence(row) if row else None


async def list_equivalences(conn: AsyncConnection, institution_id: str) -> list[Equivalence]:
    rows = await conn.execute(select(eqt).where(eqt.c.institution_id == institution_id)
                              .order_by(eqt.c.equivalence_id))
    return [_equivalence(r) for r in rows]


async def save_equivalence(conn: AsyncConnection, eq: Equivalence, *, is_new: bool) -> None:
    values = {"revision": eq.revision, "target_code": eq.target_code,
              "source": [{"institution_id": s.institution_id, "code": s.code}
                         for s in eq.source],
              "effective_from": eq.effective_from, "effective_to": eq.effective_to,
              "updated_at": func.now()}
    if is_new:
        await conn.execute(insert(eqt).values(institution_id=eq.institution_id,
                                              equivalence_id=eq.equivalence_id, **values))
    else:
        await conn.execute(update(eqt).where(eqt.c.institution_id == eq.institution_id,
                                             eqt.c.equivalence_id == eq.equivalence_id)
                           .values(**values))
