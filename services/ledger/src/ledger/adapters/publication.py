"""How ledger entries go on the bus: the entries table is the ledger's outbox (DESIGN §3),
published by position. Each row becomes a CloudEvent keyed by learner id, whose data is
the chained event exactly as stored."""

from __future__ import annotations

from typing import Any

import orjson

from ledger.adapters.tables import SCHEMA
from ledger.domain.entry_events import EVENT_TYPES
from shared.contracts.envelope import STRUCTURED_CONTENT_TYPE
from shared.messaging.bus import OutgoingRecord
from shared.messaging.log_relay import LogSource, after_watermark

TOPIC = "ledger.events"
_HEADERS = (("content-type", STRUCTURED_CONTENT_TYPE),)


def _record(row: Any) -> OutgoingRecord:
    envelope = {"specversion": "1.0", "id": row.event_id, "source": "/cairn/ledger",
                "type": EVENT_TYPES[row.kind], "subject": row.learner_id,
                "time": row.recorded_at.isoformat(), "datacontenttype": "application/json",
                "data": orjson.Fragment(row.event)}  # stored JSON, not parsed again
    return OutgoingRecord(TOPIC, row.learner_id.encode(), orjson.dumps(envelope), _HEADERS)


ENTRIES = LogSource(
    name="entries", schema=SCHEMA,
    select=after_watermark(f"{SCHEMA}.entries",
                           ["event_id", "learner_id", "kind", "recorded_at", "event"]),
    to_record=_record)
