"""Verifying the whole ledger (R-LG-4): every learner's chain recomputed from the stored
events, in one pass over the entries table in primary-key order, a page at a time (a
chain may run over several pages: its verification goes on from the last good hash).

What `GET /learners/{lid}/verify` does for one learner, for all of them: an operator's
(or a nightly job's) check that nothing was changed in place, with the reference RFC 8785
implementation (ledger.domain.chain.verify). A broken chain is reported with its first bad
link, and the rest of that chain is not checked; every other chain still is.

A hash chain shows an entry changed, inserted or removed inside a chain. It cannot show
what someone who can write to the database past its append-only trigger may also do:
recompute every later hash of the chain, remove a chain's newest entries, or remove a
whole chain. That needs the chains' heads kept outside the database."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import groupby

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger.adapters import entries as repo
from ledger.domain.chain import FIRST_SEQ, GENESIS, ChainEntry, verify

PAGE = 5_000  # entries read at a time


@dataclass(frozen=True)
class BrokenChain:
    learner_id: str
    first_bad_seq: int
    reason: str  # ledger.domain.chain.Verification's codes
    detail: str


@dataclass
class LedgerCheck:
    learners: int = 0
    entries: int = 0  # read (those after a chain's first bad link too)
    broken: list[BrokenChain] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.broken


@dataclass
class _Chain:
    """Where the verification of one learner's chain stands."""

    learner_id: str
    prev_hash: str = GENESIS
    next_seq: int = FIRST_SEQ
    broken: bool = False


async def verify_ledger(engine: AsyncEngine, *, page: int = PAGE,
                        on_page: Callable[[LedgerCheck], None] | None = None) -> LedgerCheck:
    """R-LG-4 for every learner; `on_page(check so far)` after each page."""
    check, chain, after = LedgerCheck(), _Chain(""), ("", 0)
    while True:
        async with engine.connect() as conn:
            rows = await repo.entries_after(conn, after, page)
        if not rows:
            return check
        for learner_id, group in groupby(rows, key=lambda row: row.learner_id):
            if learner_id != chain.learner_id:
                chain = _Chain(learner_id)
                check.learners += 1
            _verify_part(check, chain, list(group))
        after = (rows[-1].learner_id, rows[-1].ledger_seq)
        if on_page is not None:
            on_page(check)


def _verify_part(check: LedgerCheck, chain: _Chain, rows: list) -> None:
    """Entries of `chain` following on from where it stands."""
    check.entries += len(rows)
    if chain.broken:
        return
    parsed = []
    for row in rows:
        try:
            parsed.append(ChainEntry(row.ledger_seq, orjson.loads(row.event), row.prev_hash,
                                     row.hash))
        except orjson.JSONDecodeError:
            parsed.append(None)
            break
    result = verify((e for e in parsed if e is not None), prev_hash=chain.prev_hash,
                    first_seq=chain.next_seq)
    if result.ok and parsed and parsed[-1] is None:  # good up to an event that is not JSON
        bad = rows[len(parsed) - 1].ledger_seq
        _broken(check, chain, bad, "not_canonical", "the stored event is not JSON")
    elif not result.ok:
        _broken(check, chain, result.first_bad_seq or 0, result.reason or "",
                result.detail or "")
    else:
        chain.prev_hash, chain.next_seq = result.last_hash or GENESIS, chain.next_seq + result.checked


def _broken(check: LedgerCheck, chain: _Chain, seq: int, reason: str, detail: str) -> None:
    chain.broken = True
    check.broken.append(BrokenChain(chain.learner_id, seq, reason, detail))
