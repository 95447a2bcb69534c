"""The ledger's CloudEvents, assembled from pre-encoded parts, are byte for byte what
orjson writes for the envelope as a dict (the stored event embedded as it is)."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from ledger.adapters.publication import ENTRIES, TOPIC
from ledger.domain.entry_events import EVENT_TYPES
from shared.contracts import decode_event
from shared.contracts.envelope import STRUCTURED_CONTENT_TYPE


def expected_value(event_id: str, learner_id: str, kind: str, recorded_at: datetime,
                   event: bytes) -> bytes:
    return orjson.dumps({"specversion": "1.0", "id": event_id, "source": "/cairn/ledger",
                         "type": EVENT_TYPES[kind], "subject": learner_id,
                         "time": recorded_at.isoformat(),
                         "datacontenttype": "application/json",
                         "data": orjson.Fragment(event)})


@pytest.mark.parametrize("learner_id", ["L-0001", 'L"quoted\\back', "L-\u00e9\u4e2d\U0001f600",
                                        "L-\x01ctl\n"])
@pytest.mark.parametrize("kind", sorted(EVENT_TYPES))
def test_records_are_the_envelope_orjson_writes(learner_id: str, kind: str) -> None:
    at = [datetime(2026, 6, 30, 9, 0, 0, 123456, tzinfo=UTC),
          datetime(2026, 6, 30, 9, 0, 0, tzinfo=UTC)]  # no microseconds: none printed
    event = orjson.dumps({"kind": kind, "learner_id": learner_id, "ledger_seq": 1})
    rows = [(f"e-{i}", learner_id, kind, at[i % 2], event, 1000 + i, i) for i in range(4)]

    records = ENTRIES.to_records(rows)

    assert [r.value for r in records] == [expected_value(*row[:5]) for row in rows]
    assert {(r.topic, r.key, r.headers) for r in records} == {
        (TOPIC, learner_id.encode(), (("content-type", STRUCTURED_CONTENT_TYPE),))}
    decoded = decode_event(records[0].value)
    assert (decoded.subject, decoded.type, decoded.data) == (
        learner_id, EVENT_TYPES[kind], orjson.loads(event))
