"""The real servers really work: a row through PostgreSQL, a message through Kafka.

No fakes: these run against whatever ``database_url`` / ``kafka_bootstrap`` resolve to
(see tests/conftest.py) and fail, never skip, without them.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

pytestmark = pytest.mark.integration


async def test_postgres_row_is_committed_and_read_back(database_url: str) -> None:
    table = f"cairn_smoke_{uuid.uuid4().hex[:12]}"
    payload = f"hello {uuid.uuid4()}"
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(f"CREATE TABLE {table} (id serial PRIMARY KEY, body text NOT NULL)")
            )
            await conn.execute(
                text(f"INSERT INTO {table} (body) VALUES (:body)"), {"body": payload}
            )
        # a separate connection and transaction: the row is committed on the server
        await engine.dispose()
        async with engine.connect() as conn:
            rows = (await conn.execute(text(f"SELECT id, body FROM {table}"))).all()
            server_version = await conn.scalar(text("SHOW server_version_num"))
            backend_pid = await conn.scalar(text("SELECT pg_backend_pid()"))
        assert [(r.id, r.body) for r in rows] == [(1, payload)]
        assert int(server_version) >= 140000
        assert backend_pid > 0
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        await engine.dispose()


async def test_kafka_message_is_produced_and_consumed(kafka_bootstrap: str) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    topic = f"cairn.smoke.{uuid.uuid4().hex[:12]}"
    key, value = uuid.uuid4().bytes, f"credit transfer {uuid.uuid4()}".encode()

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
        assert topic in await admin.list_topics()

        producer = AIOKafkaProducer(
            bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True
        )
        await producer.start()
        try:
            sent = await producer.send_and_wait(topic, value, key=key, headers=[("kind", b"smoke")])
        finally:
            await producer.stop()
        assert sent.topic == topic and sent.offset == 0

        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka_bootstrap,
            group_id=f"cairn-smoke-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            received = []
            async with asyncio.timeout(30):
                while not received:
                    batches = await consumer.getmany(timeout_ms=1000)
                    received += [m for msgs in batches.values() for m in msgs]
            await consumer.commit()
        finally:
            await consumer.stop()
        [msg] = received
        assert (msg.key, msg.value, msg.partition, msg.offset) == (key, value, sent.partition, 0)
        assert list(msg.headers) == [("kind", b"smoke")]
    finally:
        try:
            await admin.delete_topics([topic])
        finally:
            await admin.close()
