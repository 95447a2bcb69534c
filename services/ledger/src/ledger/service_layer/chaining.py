"""Appending to learners' hash chains (R-LG-4): one place that turns domain entries into
stored rows, numbered after each learner's chain head. The caller holds the learners'
locks (adapters.entries.lock_learners) and has read the heads under them."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.adapters import entries as repo
from ledger.adapters.entries import NewEntry
from ledger.domain.achievements import Corrected, LedgerEntry, Recorded, Revoked
from ledger.domain.canonical import canonical_json_fast, to_json_value
from ledger.domain.chain import FIRST_SEQ, GENESIS, event_hash_of_canonical
from ledger.domain.entry_events import entry_event


class ChainWriter:
    """Numbers and hashes new entries per learner, in the order they are added."""

    def __init__(self, heads: dict[str, tuple[int, str]], recorded_at: datetime) -> None:
        self._heads = dict(heads)
        self.recorded_at = recorded_at
        self._recorded_at_json = to_json_value(recorded_at)  # once, not per entry
        self.rows: list[NewEntry] = []

    def next_seq(self, learner_id: str) -> int:
        seq, _ = self._heads.get(learner_id, (FIRST_SEQ - 1, GENESIS))
        return seq + 1

    def add(self, learner_id: str, entry: LedgerEntry, *, result_id: str | None = None,
            fingerprint: str | None = None, result_json: dict | None = None) -> NewEntry:
        """`entry` must carry `next_seq(learner_id)` as its ledger_seq; `result_json`, its
        submission's JSON form when already built."""
        prev_seq, prev_hash = self._heads.get(learner_id, (FIRST_SEQ - 1, GENESIS))
        assert entry.ledger_seq == prev_seq + 1, "entries are numbered without gaps"
        event = entry_event(entry, learner_id=learner_id, recorded_at=self._recorded_at_json,
                            result_json=result_json)
        canonical = canonical_json_fast(event)  # hashed and stored as is, once
        digest = event_hash_of_canonical(prev_hash, canonical)
        institution = (entry.submission.institution_id if isinstance(entry, Recorded)
                       else entry.institution_id if isinstance(entry, (Corrected, Revoked))
                       else None)
        row = NewEntry(learner_id, entry.ledger_seq, event["kind"],
                       getattr(entry, "achievement_id", None), institution, result_id,
                       fingerprint, random_uuid(), canonical.decode(), prev_hash, digest,
                       self.recorded_at)
        self._heads[learner_id] = (entry.ledger_seq, digest)
        self.rows.append(row)
        return row


async def append_entry(conn: AsyncConnection, learner_id: str,
                       make: Callable[[int], LedgerEntry], **columns: Any) -> int:
    """Append one entry, `make(ledger_seq)`, after the learner's chain head; its
    ledger_seq. The caller holds the learner's lock (a correction, a revocation, an
    award: one entry at a time, unlike the ingest path's batches)."""
    writer = ChainWriter(await repo.chain_heads(conn, [learner_id]), datetime.now(UTC))
    seq = writer.next_seq(learner_id)
    writer.add(learner_id, make(seq), **columns)
    await repo.append_entries(conn, writer.rows)
    return seq


_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}
_IDS_PER_DRAW = 1024  # event ids per os.urandom call
_ids: list[str] = []  # drawn, not yet handed out
os.register_at_fork(after_in_child=_ids.clear)  # a forked child must not reuse them


def random_uuid() -> str:
    """`str(uuid.uuid4())`: the same 122 random bits from os.urandom and the same text,
    at a fraction of its cost (an event id per ingested result). The bits are drawn
    1,024 ids at a time: one system call, not one per id."""
    if not _ids:
        drawn = os.urandom(16 * _IDS_PER_DRAW).hex()
        _ids.extend(_format(drawn[i:i + 32]) for i in range(0, len(drawn), 32))
    return _ids.pop()


def _format(h: str) -> str:
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"
