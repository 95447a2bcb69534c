"""In-process bus for the embedded default: one ordered log per topic, committed
positions per consumer group, redelivery of whatever was fetched but not committed.
It holds nothing across restarts; the relay fills it again from the outboxes
(`replay_all_on_start=True`), and the inboxes absorb the repeats."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence

from shared.messaging.bus import DeliveredRecord, OutgoingRecord


class InProcessBus:
    name = "memory"

    def __init__(self) -> None:
        self._logs: dict[str, list[DeliveredRecord]] = defaultdict(list)
        self._committed: dict[tuple[str, str], int] = {}
        self._appended = asyncio.Condition()

    def publisher(self) -> InProcessPublisher:
        return InProcessPublisher(self)

    def subscription(self, topics: Sequence[str], group: str) -> InProcessSubscription:
        return InProcessSubscription(self, tuple(topics), group)

    async def ensure_topics(self, topics: Sequence[str], partitions: int,
                            replication: int = 1) -> None:
        for topic in topics:
            self._logs.setdefault(topic, [])

    async def _append(self, records: Sequence[OutgoingRecord]) -> None:
        async with self._appended:
            for record in records:
                log = self._logs[record.topic]
                log.append(DeliveredRecord(record.topic, 0, len(log), record.key, record.value,
                                           record.headers))
            self._appended.notify_all()


class InProcessPublisher:
    def __init__(self, bus: InProcessBus) -> None:
        self._bus = bus

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def publish(self, records: Sequence[OutgoingRecord]) -> None:
        await self._bus._append(records)


class InProcessSubscription:
    def __init__(self, bus: InProcessBus, topics: tuple[str, ...], group: str) -> None:
        self._bus, self._topics, self._group = bus, topics, group
        self._position: dict[str, int] = {}

    async def start(self) -> None:
        # A new member resumes from the group's committed position: uncommitted work is redelivered.
        self._position = {t: self._bus._committed.get((self._group, t), 0) for t in self._topics}

    async def stop(self) -> None:
        return None

    def _pending(self, max_records: int) -> list[DeliveredRecord]:
        out: list[DeliveredRecord] = []
        for topic in self._topics:
            log = self._bus._logs[topic]
            start = self._position[topic]
            taken = log[start:start + max_records - len(out)]
            out.extend(taken)
            self._position[topic] = start + len(taken)
            if len(out) >= max_records:
                break
        return out

    async def fetch(self, max_records: int, timeout: float) -> list[DeliveredRecord]:
        records = self._pending(max_records)
        if records or timeout <= 0:
            return records
        async with self._bus._appended:
            try:
                await asyncio.wait_for(self._bus._appended.wait(), timeout)
            except TimeoutError:
                return []
        return self._pending(max_records)

    async def commit(self, records: Sequence[DeliveredRecord]) -> None:
        for record in records:
            key = (self._group, record.topic)
            self._bus._committed[key] = max(self._bus._committed.get(key, 0), record.offset + 1)

    async def seek_to_beginning(self) -> None:
        self._position = dict.fromkeys(self._topics, 0)

    async def rewind_to_committed(self) -> None:
        await self.start()

    async def lag(self) -> int:
        return sum(len(self._bus._logs[t]) - self._position[t] for t in self._topics)
