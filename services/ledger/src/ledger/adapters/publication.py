"""How ledger entries go on the bus: the entries table is the ledger's outbox (DESIGN §3),
published by position. Each row becomes a CloudEvent keyed by learner id, whose data is
the chained event exactly as stored.

The envelope is assembled from pre-encoded parts (the bytes `orjson.dumps` gives for
the envelope as a dict, key order included): per row only the id, subject, time and the
stored event are encoded, the relay's hot loop."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from ledger.adapters.tables import SCHEMA
from ledger.domain.entry_events import EVENT_TYPES
from shared.contracts.envelope import STRUCTURED_CONTENT_TYPE
from shared.messaging.bus import OutgoingRecord
from shared.messaging.log_relay import LogSource

TOPIC = "ledger.events"
_HEADERS = (("content-type", STRUCTURED_CONTENT_TYPE),)

_OPEN = b'{"specversion":"1.0","id":'
_SOURCE_TYPE = {kind: b',"source":"/cairn/ledger","type":' + orjson.dumps(type_) + b',"subject":'
                for kind, type_ in EVENT_TYPES.items()}
_TIME = b',"time":'
_DATA = b',"datacontenttype":"application/json","data":'
_CLOSE = b"}"


def _records(rows: Sequence[Any]) -> list[OutgoingRecord]:
    dumps, join = orjson.dumps, b"".join
    times: dict[Any, bytes] = {}  # one recorded_at per ingest batch: encoded once
    out = []
    for event_id, learner_id, kind, recorded_at, event, _xid, _seq in rows:
        time = times.get(recorded_at)
        if time is None:
            time = times[recorded_at] = dumps(recorded_at)  # RFC 3339, as isoformat()
        # `event` is the stored JSON (bytes), not parsed again
        value = join((_OPEN, dumps(event_id), _SOURCE_TYPE[kind], dumps(learner_id), _TIME,
                      time, _DATA, event, _CLOSE))
        out.append(OutgoingRecord(TOPIC, learner_id.encode(), value, _HEADERS))
    return out


ENTRIES = LogSource(
    name="entries", schema=SCHEMA, table=f"{SCHEMA}.entries",
    columns=("event_id", "learner_id", "kind", "recorded_at",
             "convert_to(event, 'UTF8') AS event"),  # bytes, as stored
    to_records=_records, written_at="recorded_at")
