"""CloudEvents 1.0 envelope, carried in Kafka in the structured content mode of the
CloudEvents Kafka binding (the whole envelope is the record value, with header
`content-type: application/cloudevents+json`). Structured mode keeps the outbox row a
single pre-encoded blob, so the relay ships bytes without re-serialising."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

STRUCTURED_CONTENT_TYPE = b"application/cloudevents+json; charset=UTF-8"
TYPE_PATTERN = re.compile(r"^cairn\.[a-z]+\.[a-z_]+\.[a-z_]+\.v[1-9][0-9]*$")


class CloudEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: str
    source: str
    type: str = Field(description="cairn.<service>.<noun>.<verb>.v<N>")
    subject: str | None = None
    time: datetime
    datacontenttype: Literal["application/json"] = "application/json"
    data: dict[str, Any]

    @field_validator("type")
    @classmethod
    def _type_follows_convention(cls, value: str) -> str:
        if not TYPE_PATTERN.match(value):
            raise ValueError(f"event type {value!r} is not cairn.<service>.<noun>.<verb>.v<N>")
        return value

    @property
    def service(self) -> str:
        return self.type.split(".")[1]


def event_source(service: str) -> str:
    """The CloudEvents `source` of every event `service` publishes."""
    return f"/cairn/{service}"


def new_event(payload: BaseModel, *, subject: str | None = None, event_id: str | None = None,
              time: datetime | None = None) -> CloudEvent:
    """Wrap a versioned payload (a model from shared.contracts.events) in an envelope."""
    event_type: str = payload.event_type  # type: ignore[attr-defined]
    service = event_type.split(".")[1]
    return CloudEvent(
        id=event_id or str(uuid.uuid4()),
        source=event_source(service),
        type=event_type,
        subject=subject,
        time=time or datetime.now(UTC),
        data=payload.model_dump(mode="json"),
    )


def encode_event(event: CloudEvent) -> bytes:
    return orjson.dumps(event.model_dump(mode="json"))


def decode_event(raw: bytes) -> CloudEvent:
    return CloudEvent.model_validate(orjson.loads(raw))
