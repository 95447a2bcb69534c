"""Everything services share on the wire: the CloudEvents envelope, versioned event
payloads and the value types inside them. Services import each other's *contracts*,
never each other's code."""

from shared.contracts.envelope import CloudEvent, decode_event, encode_event, new_event
from shared.contracts.events import EVENT_TYPES, EventPayload, payload_of

__all__ = [
    "EVENT_TYPES",
    "CloudEvent",
    "EventPayload",
    "decode_event",
    "encode_event",
    "new_event",
    "payload_of",
]
