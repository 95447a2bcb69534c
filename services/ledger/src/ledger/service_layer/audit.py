"""Verifying the whole ledger (R-LG-4): every learner's chain recomputed from the stored
events, in one pass over the entries table in primary-key order, a page at a time (a
chain may run over several pages: its verification goes on from the last good hash).

What `GET /learners/{lid}/verify` does for one learner, for all of them: an operator's
(or a nightly job's) check that nothing was changed in place, with the reference RFC 8785
implementation (ledger.domain.chain.verify). A broken chain is reported with its first bad
link, and the rest of that chain is not checked; every other chain still is.

A hash chain shows an entry changed, inserted or removed inside a chain. On its own it
cannot show what someone who can write to the database past its append-only trigger may
also do: recompute every later hash of the chain, remove a chain's newest entries, or
remove a whole chain. Anchors show that: each chain's head (ledger_seq, hash) as an
earlier verification found it, kept outside the database (`on_head` gives the heads to
keep; `anchors` are the ones kept before). A chain must still hold its anchored entry
(`rewritten`, `truncated`), and an anchored chain must still exist (`chain_removed`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import groupby

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger.adapters import entries as repo
from ledger.domain.chain import FIRST_SEQ, GENESIS, ChainEntry, anchor_fault, verify

PAGE = 5_000  # entries read at a time
Anchor = tuple[int, str]  # a chain's head when anchored: (ledger_seq, hash)


@dataclass(frozen=True)
class BrokenChain:
    learner_id: str
    first_bad_seq: int
    reason: str  # ledger.domain.chain's codes: verify's, anchor_fault's, chain_removed
    detail: str


@dataclass
class LedgerCheck:
    learners: int = 0
    entries: int = 0  # read (those after a chain's first bad link too)
    anchored: int = 0  # chains checked against an anchor
    broken: list[BrokenChain] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.broken


@dataclass
class _Chain:
    """Where the verification of one learner's chain stands."""

    learner_id: str
    anchor: Anchor | None = None
    prev_hash: str = GENESIS
    next_seq: int = FIRST_SEQ
    hash_at_anchor: str | None = None
    broken: bool = False


async def verify_ledger(engine: AsyncEngine, *, page: int = PAGE,
                        anchors: Mapping[str, Anchor] | None = None,
                        on_head: Callable[[str, int, str], None] | None = None,
                        on_page: Callable[[LedgerCheck], None] | None = None) -> LedgerCheck:
    """R-LG-4 for every learner, each chain also against its anchor if it has one;
    `on_head(learner_id, ledger_seq, hash)` for each chain found good, in learner order;
    `on_page(check so far)` after each page."""
    anchors = anchors or {}
    check, chain, after = LedgerCheck(), _Chain(""), ("", 0)
    seen: set[str] = set()
    while True:
        async with engine.connect() as conn:
            rows = await repo.entries_after(conn, after, page)
        if not rows:
            break
        for learner_id, group in groupby(rows, key=lambda row: row.learner_id):
            if learner_id != chain.learner_id:
                _finish(check, chain, on_head)
                chain = _Chain(learner_id, anchors.get(learner_id))
                check.learners += 1
                seen.add(learner_id)
            _verify_part(check, chain, list(group))
        after = (rows[-1].learner_id, rows[-1].ledger_seq)
        if on_page is not None:
            on_page(check)
    _finish(check, chain, on_head)
    for learner_id in sorted(set(anchors) - seen):
        check.broken.append(BrokenChain(learner_id, anchors[learner_id][0], "chain_removed",
                                        "the chain was anchored and has no entry now"))
    return check


def _verify_part(check: LedgerCheck, chain: _Chain, rows: list) -> None:
    """Entries of `chain` following on from where it stands."""
    check.entries += len(rows)
    if chain.broken:
        return
    parsed, not_json = [], None
    for row in rows:
        try:
            parsed.append(ChainEntry(row.ledger_seq, orjson.loads(row.event), row.prev_hash,
                                     row.hash))
        except orjson.JSONDecodeError:
            not_json = row.ledger_seq  # the entries before it are still checked first
            break
    result = verify(parsed, prev_hash=chain.prev_hash, first_seq=chain.next_seq)
    if not result.ok:
        _broken(check, chain, result.first_bad_seq or 0, result.reason or "",
                result.detail or "")
    elif not_json is not None:
        _broken(check, chain, not_json, "not_canonical", "the stored event is not JSON")
    else:
        if chain.anchor is not None:
            for row in rows:
                if row.ledger_seq == chain.anchor[0]:
                    chain.hash_at_anchor = row.hash  # verified: the recomputed hash
        chain.prev_hash, chain.next_seq = result.last_hash or GENESIS, \
            chain.next_seq + result.checked


def _finish(check: LedgerCheck, chain: _Chain, on_head: Callable[[str, int, str], None] | None
            ) -> None:
    """At the end of a chain: against its anchor, then its head kept if it is good."""
    if not chain.learner_id or chain.broken:
        return
    if chain.anchor is not None:
        check.anchored += 1
        fault = anchor_fault(chain.anchor, chain.hash_at_anchor, chain.next_seq - 1)
        if fault is not None:
            _broken(check, chain, chain.anchor[0], *fault)
            return
    if on_head is not None:
        on_head(chain.learner_id, chain.next_seq - 1, chain.prev_hash)


def _broken(check: LedgerCheck, chain: _Chain, seq: int, reason: str, detail: str) -> None:
    chain.broken = True
    check.broken.append(BrokenChain(chain.learner_id, seq, reason, detail))
