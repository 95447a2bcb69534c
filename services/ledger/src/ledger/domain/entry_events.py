"""The stored, chained JSON form of each ledger entry (R-LG-3, R-LG-4) and back.

An event binds its position: it carries `ledger_seq` and `learner_id`, so a
row moved to another place or another learner's chain no longer verifies.
Every value is JSON-safe (canonical.to_json_value), ready for `chain.event_hash`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ledger.domain.achievements import AwardConferred, Corrected, LedgerEntry, Recorded, Revoked
from ledger.domain.canonical import to_json_value
from ledger.domain.result_json import parse_submission
from ledger.domain.results import submission_json
from shared.domain.errors import RuleViolation

# DESIGN §3: the CloudEvents type each entry kind is published as.
EVENT_TYPES = {
    "recorded": "cairn.ledger.achievement.recorded.v1",
    "corrected": "cairn.ledger.achievement.corrected.v1",
    "revoked": "cairn.ledger.achievement.revoked.v1",
    "award_conferred": "cairn.ledger.award.conferred.v1",
}


def entry_event(entry: LedgerEntry, *, learner_id: str, recorded_at: datetime | str,
                result_json: dict[str, Any] | None = None) -> dict[str, Any]:
    """The event mapping stored for `entry` (and hashed into the chain). A caller that
    has them at hand may pass `recorded_at` in its JSON form and, for a `Recorded`
    entry, `result_json` = `submission_json(entry.submission)` (the ingest path)."""
    head: dict[str, Any] = {"ledger_seq": entry.ledger_seq, "learner_id": learner_id,
                            "recorded_at": to_json_value(recorded_at)}
    if isinstance(entry, Recorded):
        return {"kind": "recorded", **head, "achievement_id": entry.achievement_id,
                "result": result_json or submission_json(entry.submission)}
    if isinstance(entry, Corrected):
        return {"kind": "corrected", **head, "achievement_id": entry.achievement_id,
                "institution_id": entry.institution_id, "reason": entry.reason,
                "result": submission_json(entry.submission)}
    if isinstance(entry, Revoked):
        return {"kind": "revoked", **head, "achievement_id": entry.achievement_id,
                "institution_id": entry.institution_id, "reason": entry.reason}
    return {"kind": "award_conferred", **head, "award_id": entry.award_id,
            "qualification_id": entry.qualification_id,
            "conferring_member": entry.conferring_member,
            "achievement_ids": list(entry.achievement_ids), "supersedes": list(entry.supersedes)}


def entry_from_event(event: Mapping[str, Any]) -> LedgerEntry:
    """The entry a stored event describes (for `achievements.fold`)."""
    kind, seq = event.get("kind"), event["ledger_seq"]
    if kind == "recorded":
        return Recorded(seq, event["achievement_id"], parse_submission(event["result"]))
    if kind == "corrected":
        return Corrected(seq, event["achievement_id"], event["institution_id"],
                         parse_submission(event["result"]), event.get("reason", ""))
    if kind == "revoked":
        return Revoked(seq, event["achievement_id"], event["institution_id"],
                       event.get("reason", ""))
    if kind == "award_conferred":
        return AwardConferred(seq, event["award_id"], event["qualification_id"],
                              event["conferring_member"], tuple(event["achievement_ids"]),
                              tuple(event.get("supersedes", ())))
    raise RuleViolation("unknown_entry_kind", f"no ledger entry kind {kind!r}", kind=kind)
