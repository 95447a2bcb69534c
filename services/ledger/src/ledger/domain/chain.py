"""R-LG-4: each learner's events form a hash chain, and a verification names the
first bad link.

The construction, so that an auditor can recompute it with any RFC 8785 library:

    hash(1) = event_hash(GENESIS,     event(1))
    hash(n) = event_hash(hash(n - 1), event(n))
    event_hash(prev, event) = "sha256:" + hex(SHA-256(
        ASCII(prev) || 0x0A || JCS(event)))

where GENESIS is "sha256:" followed by 64 zeros, `prev` is the previous hash
in that same "sha256:<hex>" text form, 0x0A is one newline byte, JCS is the
RFC 8785 canonical JSON (UTF-8) of the event exactly as stored, and hex is
lower-case. Sequence numbers (`ledger_seq`) start at 1 and have no gaps.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import rfc8785

GENESIS = "sha256:" + "0" * 64
FIRST_SEQ = 1


def event_hash(prev_hash: str, event: Mapping[str, Any]) -> str:
    """The hash of `event` chained after `prev_hash` (module docstring). `event` must
    be JSON-safe (canonical.to_json_value makes it so)."""
    return event_hash_of_canonical(prev_hash, rfc8785.dumps(event))


def event_hash_of_canonical(prev_hash: str, canonical_event: bytes) -> str:
    """As `event_hash`, for an event whose RFC 8785 bytes are already at hand
    (computed once and kept, e.g. on the ingest path)."""
    digest = hashlib.sha256(prev_hash.encode("ascii") + b"\n" + canonical_event)
    return "sha256:" + digest.hexdigest()


def chain(prev_hash: str, events: Iterable[Mapping[str, Any]]) -> list[str]:
    """The hashes of `events` appended, in order, after `prev_hash`."""
    hashes: list[str] = []
    for event in events:
        prev_hash = event_hash(prev_hash, event)
        hashes.append(prev_hash)
    return hashes


@dataclass(frozen=True)
class ChainEntry:
    """One stored event of a learner's chain, as read back from storage."""

    ledger_seq: int
    event: Mapping[str, Any]
    stored_prev_hash: str
    stored_hash: str


@dataclass(frozen=True)
class Verification:
    """The outcome of `verify`. `reason` is a stable code: `sequence_gap`,
    `sequence_out_of_order`, `prev_link_broken`, `hash_mismatch` or
    `not_canonical` (an event that cannot be serialised); `detail` says more."""

    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str | None = None
    detail: str | None = None
    last_hash: str | None = None  # the hash the chain ends with when ok


def verify(
    entries: Iterable[ChainEntry], *, prev_hash: str = GENESIS, first_seq: int = FIRST_SEQ
) -> Verification:
    """R-LG-4: recompute the chain over `entries` (in stored order) and name the
    first bad link.

    `prev_hash`/`first_seq` let a verification start from a trusted checkpoint
    instead of the genesis. `checked` counts the entries found good before the
    first bad one. Each entry is checked in order: its sequence number follows
    the previous one, its stored previous hash is the previous entry's hash, and
    its stored hash is the recomputed one.
    """
    expected_seq, checked = first_seq, 0
    for entry in entries:
        bad = _first_fault(entry, expected_seq, prev_hash)
        if bad is not None:
            reason, detail = bad
            return Verification(False, checked, entry.ledger_seq, reason, detail)
        prev_hash, expected_seq, checked = entry.stored_hash, expected_seq + 1, checked + 1
    return Verification(True, checked, last_hash=prev_hash)


def _first_fault(entry: ChainEntry, expected_seq: int, prev_hash: str) -> tuple[str, str] | None:
    seq = entry.ledger_seq
    if seq > expected_seq:
        missing = f"{expected_seq}" if seq == expected_seq + 1 else f"{expected_seq}-{seq - 1}"
        return "sequence_gap", f"expected ledger_seq {expected_seq}, found {seq}: {missing} missing"
    if seq < expected_seq:
        return "sequence_out_of_order", f"expected ledger_seq {expected_seq}, found {seq}"
    if entry.stored_prev_hash != prev_hash:
        return "prev_link_broken", (
            f"stored previous hash {entry.stored_prev_hash} is not the previous "
            f"entry's hash {prev_hash}")
    try:
        recomputed = event_hash(prev_hash, entry.event)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as error:
        return "not_canonical", f"the event has no RFC 8785 form: {error}"
    if recomputed != entry.stored_hash:
        return "hash_mismatch", (
            f"stored hash {entry.stored_hash} but the event hashes to {recomputed}")
    return None


def anchor_fault(anchor: tuple[int, str], hash_at_anchor: str | None, last_seq: int
                 ) -> tuple[str, str] | None:
    """A chain that verifies on its own, against its head (ledger_seq, hash) as recorded
    outside the database by an earlier verification (its anchor): the chain must still
    reach that entry, with that hash. Recomputing every hash after a change, or dropping
    the newest entries, leaves a chain that verifies; only an anchor shows it. Returns
    (reason, detail), or None when the chain holds its anchor."""
    seq, digest = anchor
    if last_seq < seq:
        return "truncated", (f"the chain ends at ledger_seq {last_seq}; it reached {seq} "
                             "when anchored")
    if hash_at_anchor != digest:
        return "rewritten", (f"ledger_seq {seq} now hashes to {hash_at_anchor}, not the "
                             f"anchored {digest}: the chain was rewritten up to it")
    return None


def link(
    events: Iterable[Mapping[str, Any]], *, prev_hash: str = GENESIS, first_seq: int = FIRST_SEQ
) -> Iterator[ChainEntry]:
    """Chain `events` into entries numbered from `first_seq` (what an append stores)."""
    for seq, event in enumerate(events, start=first_seq):
        current = event_hash(prev_hash, event)
        yield ChainEntry(seq, event, prev_hash, current)
        prev_hash = current
