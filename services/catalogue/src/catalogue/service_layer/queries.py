"""Read-side use cases of the catalogue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from catalogue.adapters import repository as repo
from catalogue.domain.course import CourseVersion, version_in_force
from catalogue.domain.equivalence import Equivalence
from catalogue.domain.errors import NotFound
from catalogue.domain.institution import Institution
from shared.domain.errors import RuleViolation
from shared.domain.levels import Framework, Level, equivalents


async def get_institution(engine: AsyncEngine, institution_id: str) -> Institution:
    async with engine.connect() as conn:
        institution = await repo.get_institution(conn, institution_id)
    if institution is None:
        raise NotFound("institution_not_found", f"{institution_id} is not a registered member")
    return institution


async def list_institutions(engine: AsyncEngine) -> list[Institution]:
    async with engine.connect() as conn:
        return await repo.list_institutions(conn)


async def course_versions(engine: AsyncEngine, institution_id: str,
                          code: str) -> list[CourseVersion]:
    async with engine.connect() as conn:
        found = await repo.versions(conn, institution_id, code)
    if not found:
        raise NotFound("course_not_found", f"{institution_id} has not published {code}")
    return found


async def course_in_force(engine: AsyncEngine, institution_id: str, code: str,
                          at: date) -> CourseVersion:
    """R-CAT-2: the version in force on `at`."""
    version = version_in_force(await course_versions(engine, institution_id, code), at)
    if version is None:
        raise NotFound("no_version_in_force",
                       f"No version of {institution_id}/{code} is in force on {at}", at=at)
    return version


@dataclass(frozen=True)
class SearchPage:
    items: list[Any]
    next_cursor: str | None


async def search_courses(engine: AsyncEngine, *, at: date, institution: str | None,
                         level: Level | None, subject: str | None, q: str | None,
                         micro_credential: bool | None, limit: int,
                         cursor: str | None) -> SearchPage:
    # R-LV-2: a level filter matches the same band in every framework.
    levels = None
    if level is not None:
        levels = [level, *(lv for fw in Framework if fw != level.framework
                           for lv in equivalents(level, fw))]
    after = _position(cursor) if cursor else None
    async with engine.connect() as conn:
        rows = await repo.search_courses(conn, at=at, institution=institution, levels=levels,
                                         subject=subject, q=q, micro_credential=micro_credential,
                                         limit=limit + 1, after=after)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = f"{rows[-1].institution_id}/{rows[-1].code}" if more else None
    return SearchPage(rows, next_cursor)


def _position(cursor: str) -> tuple[str, str]:
    """The (institution, code) a page's `next_cursor` ends at; anything else is refused
    (a 422 naming the cursor, not a comparison the database cannot make)."""
    institution, slash, code = cursor.partition("/")
    if not (slash and institution and code):
        raise RuleViolation("invalid_cursor", "cursor is a page's next_cursor, as given",
                            field="cursor")
    return institution, code


async def list_equivalences(engine: AsyncEngine, institution_id: str) -> list[Equivalence]:
    await get_institution(engine, institution_id)
    async with engine.connect() as conn:
        return await repo.list_equivalences(conn, institution_id)


async def get_equivalence(engine: AsyncEngine, institution_id: str,
                          equivalence_id: str) -> Equivalence:
    async with engine.connect() as conn:
        eq = await repo.get_equivalence(conn, institution_id, equivalence_id)
    if eq is None:
        raise NotFound("equivalence_not_found",
                       f"{institution_id} has no equivalence {equivalence_id}")
    return eq
