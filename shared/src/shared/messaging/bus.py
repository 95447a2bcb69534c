"""The bus seen by the outbox relay and the consumer loop. Two adapters implement it
(Kafka and in-process); one contract test suite runs against both (tests/contract)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

TOPICS = ("catalogue.events", "ledger.events", "transfer.events", "award.events")


class OutgoingRecord(NamedTuple):
    """Immutable like the other records; a tuple because relays build one per event
    (half the cost of a frozen dataclass)."""

    topic: str
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class DeliveredRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


class Publisher(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...

    async def publish(self, records: Sequence[OutgoingRecord]) -> None:
        """Return only when every record is durably accepted (acks=all); raise otherwise.
        Records with the same key keep their order."""


class Subscription(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...

    async def fetch(self, max_records: int, timeout: float) -> list[DeliveredRecord]:
        """Next records after the current position, in order per partition."""

    async def commit(self, records: Sequence[DeliveredRecord]) -> None:
        """Mark everything up to and including these records as done for the group."""

    async def seek_to_beginning(self) -> None:
        """Read every topic again from offset zero (projection rebuild)."""

    async def rewind_to_committed(self) -> None:
        """Fetch again from the group's committed positions (after a failed batch)."""

    async def lag(self) -> int:
        """Records not yet fetched by this subscription."""


class Bus(Protocol):
    name: str

    def publisher(self) -> Publisher: ...
    def subscription(self, topics: Sequence[str], group: str) -> Subscription: ...
    async def ensure_topics(self, topics: Sequence[str], partitions: int,
                            replication: int = 1) -> None: ...
