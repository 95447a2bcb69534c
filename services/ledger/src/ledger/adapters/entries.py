"""SQL for the ledger's entries and learners (SQLAlchemy Core, asyncpg on the hot path).
Functions take the caller's connection, so the service layer decides the transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NamedTuple

import asyncpg
from sqlalchemy import Text, select, tuple_, type_coerce
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.adapters.tables import catalogue_replica, entries
from shared.db import asyncpg_connection

# Advisory-lock key space of the ledger's per-learner locks (two-int4 form, which never
# collides with the single-bigint keys other services take on a shared database).
LOCK_SPACE = 0x4C454447  # "LEDG"
InsertMethod = Literal["unnest", "copy", "auto"]
COPY_FROM = 64  # "auto": COPY from this many rows, one INSERT below (no COPY set-up)


class NewEntry(NamedTuple):
    """A row of ledger.entries to append, its fields in _COLUMNS order (a tuple: COPY
    takes it as it is)."""

    learner_id: str
    ledger_seq: int
    kind: str
    achievement_id: str | None
    institution_id: str | None
    result_id: str | None
    fingerprint: str | None
    event_id: str
    event_json: str  # RFC 8785 text of the event, exactly what was hashed
    prev_hash: str
    hash: str
    recorded_at: datetime


_COLUMNS = ("learner_id", "ledger_seq", "kind", "achievement_id", "institution_id",
            "result_id", "fingerprint", "event_id", "event", "prev_hash", "hash", "recorded_at")
_UNNEST_INSERT = f"""
    INSERT INTO ledger.entries ({", ".join(_COLUMNS)})
    SELECT l, s, k, a, i, r, f, e, ev, p, h, $12
    FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[],
                $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])
         AS t(l, s, k, a, i, r, f, e, ev, p, h)"""


# The statements of the ingest path, sent as they are (no compilation, plain tuples
# back): for a 10,000-result batch, building and reading SQLAlchemy Core rows by name
# cost ~5 µs per row.
_LOCK = """
    SELECT count(pg_advisory_xact_lock($1, k)) FROM (
      SELECT DISTINCT hashtext(l) AS k FROM unnest($2::text[]) AS l ORDER BY k
    ) AS keys"""
_HEADS = """
    SELECT l.lid, e.ledger_seq, e.hash FROM unnest($1::text[]) AS l(lid)
    CROSS JOIN LATERAL (SELECT ledger_seq, hash FROM ledger.entries
      WHERE learner_id = l.lid ORDER BY ledger_seq DESC LIMIT 1) AS e"""
# One probe of the R-LG-2 index per key, whatever the planner thinks of the table: as
# a plain join, a batch's 5,000 keys were planned as a hash join over a full scan of
# entries (~0.8 µs per stored row, per batch). LIMIT 1 (there is at most one `recorded`
# entry per key) keeps the lateral subquery from being flattened into such a join.
_RECORDED = """
    SELECT k.i, k.r, e.fingerprint, e.achievement_id, e.ledger_seq, e.learner_id
    FROM unnest($1::text[], $2::text[]) AS k(i, r)
    CROSS JOIN LATERAL (SELECT fingerprint, achievement_id, ledger_seq, learner_id
                        FROM ledger.entries WHERE kind = 'recorded' AND institution_id = k.i
                        AND result_id = k.r LIMIT 1) AS e"""

# Where the ingest path runs: a SQLAlchemy connection (its statements then go through
# SQLAlchemy's cursor, inside the transaction it began), or the driver connection itself
# inside an asyncpg transaction (recording: ~1/3 of the CPU per statement).
Db = AsyncConnection | asyncpg.Connection


async def _fetch(db: Db, sql: str, *args: Any) -> Sequence[Any]:
    if isinstance(db, AsyncConnection):
        return list(await db.exec_driver_sql(sql, args))
    return await db.fetch(sql, *args)


async def lock_learners(db: Db, learner_ids: Iterable[str]) -> None:
    """Serialise writers of these learners' chains for this transaction: one lock per
    learner (its 32-bit hashtext; two learners sharing one only wait for each other),
    taken in key order (no deadlock between two batches), before any write: an
    advisory lock assigns no xid, so one learner's entries commit in xid order, the
    order the relay publishes them in.

    Per learner, not per bucket of learners: two results-day batches of 5,000 learners
    each cover every one of 1,024 buckets, so bucket locks made all batches write one
    after another. A transaction holds a lock-table slot per learner, so PostgreSQL
    needs max_locks_per_transaction x max_connections above 10,000 (the largest batch)
    times the batches written at once (README: 256 x 200 for the embedded server,
    deploy: the same in docker-compose)."""
    await _fetch(db, _LOCK, LOCK_SPACE, sorted(set(learner_ids)))


async def chain_heads(db: Db, learner_ids: Sequence[str]) -> dict[str, tuple[int, str]]:
    """Each learner's last (ledger_seq, hash); learners without entries are absent."""
    rows = await _fetch(db, _HEADS, list(learner_ids))
    return {lid: (seq, digest) for lid, seq, digest in rows}


@dataclass(frozen=True, slots=True)
class StoredResult:
    fingerprint: str
    achievement_id: str
    ledger_seq: int
    learner_id: str


async def recorded_results(db: Db, keys: Sequence[tuple[str, str]]
                           ) -> dict[tuple[str, str], StoredResult]:
    """R-LG-2: what is already recorded under these (institution, result id) keys."""
    rows = await _fetch(db, _RECORDED, [i for i, _ in keys], [r for _, r in keys])
    return {(inst, rid): StoredResult(*rest) for inst, rid, *rest in rows}


_AMENDMENTS = """
    SELECT k.a, e.kind, e.fingerprint
    FROM unnest($1::text[], $2::text[]) AS k(l, a)
    CROSS JOIN LATERAL (SELECT kind, fingerprint FROM ledger.entries
                        WHERE learner_id = k.l AND achievement_id = k.a
                        AND kind IN ('corrected', 'revoked')
                        ORDER BY ledger_seq DESC LIMIT 1) AS e"""


async def latest_amendments(db: Db, achievements: Sequence[tuple[str, str]]
                            ) -> dict[str, tuple[str, str | None]]:
    """R-LG-3: the latest correction or revocation of each (learner_id, achievement_id),
    as (kind, fingerprint of the corrected result; None for a revocation); achievements
    never amended are absent. Within each learner's chain, by the primary key."""
    rows = await _fetch(db, _AMENDMENTS, [lid for lid, _ in achievements],
                        [aid for _, aid in achievements])
    return {aid: (kind, fingerprint) for aid, kind, fingerprint in rows}


def is_unique_violation(error: BaseException) -> bool:
    """A concurrent writer got there first (same result id, or same chain position)."""
    if isinstance(error, IntegrityError):
        error = getattr(error.orig, "__cause__", None) or error.orig
    return isinstance(error, asyncpg.UniqueViolationError)


async def append_entries(db: Db, new: Sequence[NewEntry], *,
                         method: InsertMethod = "auto") -> None:
    """One statement for the whole batch: binary COPY (default; ~27k rows/s for 10,000 rows
    here) or a multi-row INSERT over unnest(arrays) (~21k rows/s). On a SQLAlchemy
    connection, after a statement through it (so that its transaction has begun)."""
    if not new:
        return
    raw = await asyncpg_connection(db) if isinstance(db, AsyncConnection) else db
    if method == "copy" or (method == "auto" and len(new) >= COPY_FROM):
        await raw.copy_records_to_table("entries", schema_name="ledger", columns=_COLUMNS,
                                        records=new)
        return
    columns = list(zip(*(e[:11] for e in new), strict=True))
    await raw.execute(_UNNEST_INSERT, *map(list, columns), new[0].recorded_at)


async def learner_events(conn: AsyncConnection, learner_id: str) -> list[Any]:
    rows = await conn.execute(
        select(entries.c.ledger_seq, entries.c.event, entries.c.prev_hash, entries.c.hash)
        .where(entries.c.learner_id == learner_id).order_by(entries.c.ledger_seq))
    return list(rows)


async def entries_after(conn: AsyncConnection, after: tuple[str, int], limit: int) -> list[Any]:
    """The next `limit` entries of the whole ledger after (learner_id, ledger_seq) `after`,
    in chain order (the primary key): learner_id, ledger_seq, the stored event as its text
    (not parsed here: a verification must report an event that is not JSON, not fail on
    it), prev_hash, hash."""
    rows = await conn.execute(
        select(entries.c.learner_id, entries.c.ledger_seq,
               type_coerce(entries.c.event, Text).label("event"), entries.c.prev_hash,
               entries.c.hash)
        .where(tuple_(entries.c.learner_id, entries.c.ledger_seq) > after)
        .order_by(entries.c.learner_id, entries.c.ledger_seq).limit(limit))
    return list(rows)


async def achievement_events(conn: AsyncConnection, achievement_id: str) -> list[Any]:
    """The entries naming one achievement (recorded, corrected, revoked), in chain order:
    its `recorded` entry by the R-LG-2 index, then its learner's chain by the primary
    key (there is no index on achievement_id, migration 0006)."""
    recorded, e = _recorded_as(achievement_id)
    rows = await conn.execute(
        select(e.c.learner_id, e.c.ledger_seq, e.c.event)
        .join(recorded, (e.c.learner_id == recorded.c.learner_id)
              & (e.c.achievement_id == recorded.c.achievement_id))
        .order_by(e.c.ledger_seq))
    return list(rows)


async def achievement_chain(conn: AsyncConnection, achievement_id: str) -> list[Any]:
    """The whole chain of the learner whose achievement this is, in order (an award that
    used it is a later entry of that chain, naming it only in its event); empty when
    there is no such achievement."""
    recorded, e = _recorded_as(achievement_id)
    rows = await conn.execute(
        select(e.c.learner_id, e.c.ledger_seq, e.c.event)
        .join(recorded, e.c.learner_id == recorded.c.learner_id)
        .order_by(e.c.ledger_seq))
    return list(rows)


def _recorded_as(achievement_id: str) -> tuple[Any, Any]:
    """(the `recorded` entry of `achievement_id`, by the R-LG-2 index; entries to join it)."""
    institution_id, _, result_id = achievement_id.rpartition(":")  # a result id has no ":"
    recorded = (select(entries.c.learner_id, entries.c.achievement_id)
                .where(entries.c.kind == "recorded", entries.c.institution_id == institution_id,
                       entries.c.result_id == result_id).subquery("recorded"))
    return recorded, entries.alias("e")


async def member_results(conn: AsyncConnection, institution_id: str, after: str,
                         limit: int) -> tuple[list[Any], list[Any]]:
    """Up to `limit` achievements `institution_id` recorded, those with a result id after
    `after`, in result-id order (the R-LG-2 index): (learner_id, achievement_id) each; and
    the whole chains of their learners (by the primary key), in order, as (learner_id,
    ledger_seq, event): an achievement's state may depend on other entries of its chain
    (an award that used it)."""
    page = (select(entries.c.learner_id, entries.c.achievement_id)
            .where(entries.c.kind == "recorded", entries.c.institution_id == institution_id,
                   entries.c.result_id > after)
            .order_by(entries.c.result_id).limit(limit))
    achievements = list(await conn.execute(page))
    learner_ids = sorted({learner_id for learner_id, _ in achievements})
    chains = await conn.execute(
        select(entries.c.learner_id, entries.c.ledger_seq, entries.c.event)
        .where(entries.c.learner_id.in_(learner_ids))
        .order_by(entries.c.learner_id, entries.c.ledger_seq)) if learner_ids else []
    return achievements, list(chains)


async def member_framework(conn: AsyncConnection, institution_id: str) -> str | None:
    """The member's level framework, from the local catalogue replica."""
    t = catalogue_replica.institutions
    return (await conn.execute(select(t.c.framework).where(t.c.institution_id == institution_id))
            ).scalar_one_or_none()
