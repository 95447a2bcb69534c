"""Kafka adapter (aiokafka). Producer: idempotent, acks=all, batched, compressed (zstd
unless told otherwise: CAIRN_KAFKA_COMPRESSION). Consumer: manual commits only, issued
by the consumer loop after the effect is durable."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared.messaging.bus import DeliveredRecord, OutgoingRecord
from shared.settings import KafkaCompression as Compression


class KafkaBus:
    name = "kafka"

    def __init__(self, bootstrap_servers: str, *, client_id: str = "cairn",
                 compression: Compression = "zstd") -> None:
        self.bootstrap_servers = bootstrap_servers
        self.client_id = client_id
        self.compression = compression

    def publisher(self) -> KafkaPublisher:
        return KafkaPublisher(self.bootstrap_servers, self.client_id, self.compression)

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
    """Publishes with explicit record batches: one batch per partition per call (more when
    a partition's share exceeds `max_batch_size`), built in the caller's order. Far
    cheaper than a `send()` per record (no per-record coroutine and future), and the
    broker still sees ordinary idempotent v2 batches, one producer sequence per partition.
    """

    MAX_BATCH_BYTES = 1 << 20  # a batch must fit the broker's message.max.bytes (1 MiB + 12)

    def __init__(self, bootstrap_servers: str, client_id: str,
                 compression: Compression) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers,
            client_id=f"{client_id}-relay",
            acks="all",
            enable_idempotence=True,  # a retried send is not written twice by the broker
            linger_ms=5,
            compression_type=None if compression == "none" else compression,
            max_batch_size=self.MAX_BATCH_BYTES,
            max_request_size=8 << 20,
            request_timeout_ms=30_000,
        )
        # partition count -> key -> partition, as the producer's partitioner decides
        # (murmur2 like the Java client): computed once per key and count, not per record.
        self._partition_cache: dict[int, dict[bytes, int]] = {}

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def publish(self, records: Sequence[OutgoingRecord]) -> None:
        # Records are grouped by partition keeping their relative order, so the order per
        # key holds; every partition's batches are queued in order and the producer sends
        # them in order (idempotent: retries cannot reorder or duplicate). Return only
        # when the broker acknowledged every batch (acks=all); raise otherwise.
        if not records:
            return
        # topic -> (its partitions, key -> partition, partition -> its records)
        topics: dict[str, tuple[list[int], dict[bytes, int], dict[int, list]]] = {}
        last_topic, state = None, None
        for record in records:  # the relays' hot loop: as little as possible per record
            topic, key = record.topic, record.key
            if topic != last_topic:
                state = topics.get(topic)
                if state is None:
                    state = topics[topic] = await self._topic_state(topic)
                last_topic = topic
            partitions, cache, groups = state  # type: ignore[misc]
            partition = cache.get(key)
            if partition is None:
                partition = self._partition(key, partitions)
                if key is not None:  # no key: the partitioner picks one each time
                    cache[key] = partition
            group = groups.get(partition)
            if group is None:
                groups[partition] = [record]
            else:
                group.append(record)
        # One task per partition: each queues its batches in order while the others fill
        # theirs, so one produce request carries a batch for every partition.
        tasks = [asyncio.ensure_future(self._send_partition(topic, partition, group))
                 for topic, (_, _, groups) in topics.items()
                 for partition, group in groups.items()]
        try:
            acks = await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:  # nothing of this call may still be queueing on a retry
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        await asyncio.gather(*(ack for futures in acks for ack in futures))

    async def _topic_state(self, topic: str) -> tuple[list[int], dict[bytes, int], dict]:
        partitions = sorted(await self._producer.partitions_for(topic))
        cache = self._partition_cache.get(len(partitions))
        if cache is None or len(cache) > 1_000_000:  # bounded memory: keys are re-hashed
            cache = self._partition_cache[len(partitions)] = {}
        return partitions, cache, {}

    def _partition(self, key: bytes | None, partitions: list[int]) -> int:
        return self._producer._partitioner(key, partitions, partitions)

    async def _send_partition(self, topic: str, partition: int,
                              records: list[OutgoingRecord]) -> list[asyncio.Future]:
        producer = self._producer
        futures = []
        # The builder wants a list; the records of a source share one headers tuple.
        last_headers: tuple | None = None
        headers: list = []
        batch = producer.create_batch()
        append = batch.append
        for _, key, value, record_headers in records:
            if record_headers is not last_headers:
                last_headers, headers = record_headers, list(record_headers)
            if append(key=key, value=value, timestamp=None,
                      headers=headers) is None:  # full (never on the first record)
                futures.append(await self._send(batch, topic, partition))
                batch = producer.create_batch()
                append = batch.append
                append(key=key, value=value, timestamp=None, headers=headers)
        if batch.record_count():
            futures.append(await self._send(batch, topic, partition))
        return futures

    async def _send(self, batch, topic: str, partition: int) -> asyncio.Future:
        batch.close()  # complete: the sender takes it at once instead of lingering on it
        return await self._producer.send_batch(batch, topic, partition=partition)


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
