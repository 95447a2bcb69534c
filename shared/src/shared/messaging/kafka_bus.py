"""Kafka adapter (aiokafka). Producer: idempotent, acks=all, batched. Consumer: manual
commits only, issued by the consumer loop after the effect is durable."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared.messaging.bus import DeliveredRecord, OutgoingRecord


class KafkaBus:
    name = "kafka"

    def __init__(self, bootstrap_servers: str, *, client_id: str = "cairn") -> None:
        self.bootstrap_servers = bootstrap_servers
        self.client_id = client_id

    def publisher(self) -> KafkaPublisher:
        return KafkaPublisher(self.bootstrap_servers, self.client_id)

    def subscription(self, topics: Sequence[str], group: str) -> KafkaSubscription:
        return KafkaSubscription(self.bootstrap_servers, tuple(topics), group, self.client_id)

    async def ensure_topics(self, topics: Sequence[str], partitions: int,
                            replication: int = 1) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap_servers,
                                    client_id=f"{self.client_id}-admin")
        await admin.start()
        try:
            existing = set(await admin.list_topics())
            missing = [NewTopic(t, num_partitions=partitions, replication_factor=replication)
                       for t in topics if t not in existing]
            if missing:
                try:
                    await admin.create_topics(missing)
                except TopicAlreadyExistsError:
                    pass  # another replica created it first
        finally:
            await admin.close()


class KafkaPublisher:
    def __init__(self, bootstrap_servers: str, client_id: str) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers,
            client_id=f"{client_id}-relay",
            acks="all",
            enable_idempotence=True,  # a retried send is not written twice by the broker
            linger_ms=5,
            max_batch_size=1 << 20,
            max_request_size=8 << 20,
            request_timeout_ms=30_000,
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def publish(self, records: Sequence[OutgoingRecord]) -> None:
        # send() only enqueues, in call order, so records with one key stay ordered;
        # the gather waits for every acknowledgement before the relay marks rows sent.
        send = self._producer.send
        futures = [await send(r.topic, r.value, key=r.key, headers=list(r.headers))
                   for r in records]
        await asyncio.gather(*futures)


class KafkaSubscription:
    def __init__(self, bootstrap_servers: str, topics: tuple[str, ...], group: str,
                 client_id: str) -> None:
        self._topics = topics
        self._consumer = AIOKafkaConsumer(
            *topics,
            bootstrap_servers=bootstrap_servers,
            group_id=group,
            client_id=f"{client_id}-{group}",
            enable_auto_commit=False,  # the consumer loop commits after the effect is durable
            auto_offset_reset="earliest",
            max_poll_records=2000,
        )

    async def start(self) -> None:
        await self._consumer.start()

    async def stop(self) -> None:
        await self._consumer.stop()

    async def fetch(self, max_records: int, timeout: float) -> list[DeliveredRecord]:
        batches = await self._consumer.getmany(timeout_ms=int(timeout * 1000),
                                               max_records=max_records)
        return [
            DeliveredRecord(m.topic, m.partition, m.offset, m.key, m.value,
                            tuple(m.headers or ()))
            for messages in batches.values() for m in messages
        ]

    async def commit(self, records: Sequence[DeliveredRecord]) -> None:
        offsets: dict[TopicPartition, int] = {}
        for r in records:
            tp = TopicPartition(r.topic, r.partition)
            offsets[tp] = max(offsets.get(tp, 0), r.offset + 1)
        if offsets:
            await self._consumer.commit(offsets)

    async def seek_to_beginning(self) -> None:
        # Seeking needs partitions: join the group first. Whatever this fetches is read
        # again after the seek.
        while not self._consumer.assignment():
            await self._consumer.getmany(timeout_ms=200)
        await self._consumer.seek_to_beginning(*self._consumer.assignment())

    async def rewind_to_committed(self) -> None:
        for tp in self._consumer.assignment():
            committed = await self._consumer.committed(tp)
            if committed is None:
                await self._consumer.seek_to_beginning(tp)
            else:
                self._consumer.seek(tp, committed)

    async def lag(self) -> int:
        assignment = list(self._consumer.assignment())
        if not assignment:
            return 0
        ends = await self._consumer.end_offsets(assignment)
        total = 0
        for tp in assignment:
            total += max(0, ends[tp] - await self._consumer.position(tp))
        return total
