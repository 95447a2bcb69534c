"""The relays' record batches on a real Kafka broker are compressed as configured
(CAIRN_KAFKA_COMPRESSION, zstd by default), and a consumer reads them back as sent.
The codec is read off the batches as the broker stores them (a raw fetch), not off
the producer's settings."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
from aiokafka import TopicPartition
from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.record.default_records import DefaultRecordBatch
from aiokafka.record.memory_records import MemoryRecords

from shared.messaging.bus import OutgoingRecord
from shared.messaging.kafka_bus import KafkaBus
from shared.runtime import make_bus
from shared.settings import ServiceSettings
from tests.contract.test_bus_contract import drain, published

pytestmark = pytest.mark.integration

CODEC = {"none": DefaultRecordBatch.CODEC_NONE, "zstd": DefaultRecordBatch.CODEC_ZSTD,
         "lz4": DefaultRecordBatch.CODEC_LZ4}


async def stored_codecs(bootstrap: str, topic: str, partitions: int) -> Counter:
    """How many of the topic's stored record batches use each codec (a raw fetch from
    offset 0 of every partition, as a consumer's fetch gets them, not decompressed)."""
    client = AIOKafkaClient(bootstrap_servers=bootstrap, client_id="codec-check")
    await client.bootstrap()
    try:
        client.add_topic(topic)
        await client.force_metadata_update()
        codecs: Counter = Counter()
        for partition in range(partitions):
            leader = client.cluster.leader_for_partition(TopicPartition(topic, partition))
            response = await client.send(leader, FetchRequest(
                100, 1, 16 << 20, 0, [(topic, [(partition, 0, 16 << 20)])]))
            for _, parts in response.topics:
                for part in parts:
                    records = MemoryRecords(part[-1])  # the partition's raw record set
                    while (batch := records.next_batch()) is not None:
                        codecs[batch.compression_type] += 1
        return codecs
    finally:
        await client.close()


def events(topic: str, n: int) -> list[OutgoingRecord]:
    """Like the ledger's: JSON events, many alike (a batch compresses well)."""
    return [OutgoingRecord(topic, f"L{i % 17}".encode(),
                           b'{"kind":"recorded","learner_id":"L%d","credit":"15",'
                           b'"course":"DS701","n":%d}' % (i % 17, i), ())
            for i in range(n)]


@pytest.mark.parametrize("compression", ["zstd", "none", "lz4"])
async def test_published_batches_are_stored_with_the_configured_codec(kafka_bootstrap,
                                                                      compression):
    topic = f"codec.{uuid.uuid4().hex[:10]}"
    bus = KafkaBus(kafka_bootstrap, client_id="codec-tests", compression=compression)
    sent = events(topic, 300)
    await published(bus, topic, sent, partitions=2)

    codecs = await stored_codecs(kafka_bootstrap, topic, 2)
    assert codecs and set(codecs) == {CODEC[compression]}, codecs

    sub = bus.subscription([topic], f"g-{uuid.uuid4().hex[:8]}")
    await sub.start()
    try:
        got = await drain(sub, 300)
    finally:
        await sub.stop()
    assert sorted(r.value for r in got) == sorted(r.value for r in sent)


def test_services_compress_with_zstd_unless_told_otherwise(monkeypatch):
    monkeypatch.delenv("CAIRN_KAFKA_COMPRESSION", raising=False)
    assert make_bus(ServiceSettings(CAIRN_BUS="kafka")).compression == "zstd"
    chosen = ServiceSettings(CAIRN_BUS="kafka", CAIRN_KAFKA_COMPRESSION="none")
    assert make_bus(chosen).compression == "none"
