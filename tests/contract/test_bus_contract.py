"""The bus contract the relay and the consumer loop rely on (STYLE §5): every adapter
must pass all of it. Runs on the in-process bus and on a real Kafka broker."""

from __future__ import annotations

import asyncio
import uuid

from shared.messaging.bus import DeliveredRecord, OutgoingRecord, Subscription


def records(topic: str, n: int, key: str = "k", start: int = 0) -> list[OutgoingRecord]:
    return [OutgoingRecord(topic, key.encode(), f"{key}-{i}".encode(), (("h", b"v"),))
            for i in range(start, start + n)]


async def drain(sub: Subscription, n: int, timeout: float = 30.0) -> list[DeliveredRecord]:
    got: list[DeliveredRecord] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while len(got) < n:
        assert asyncio.get_running_loop().time() < deadline, f"got {len(got)} of {n} records"
        got.extend(await sub.fetch(n - len(got), timeout=0.5))
    return got


def group() -> str:
    return f"g-{uuid.uuid4().hex[:8]}"


async def published(bus, topic, batch, partitions=1):
    await bus.ensure_topics([topic], partitions)
    publisher = bus.publisher()
    await publisher.start()
    try:
        await publisher.publish(batch)
    finally:
        await publisher.stop()


async def test_a_subscriber_receives_what_was_published_with_key_value_and_headers(bus, topic):
    await published(bus, topic, records(topic, 5))
    sub = bus.subscription([topic], group())
    await sub.start()
    try:
        got = await drain(sub, 5)
    finally:
        await sub.stop()
    assert [r.value for r in got] == [f"k-{i}".encode() for i in range(5)]
    assert {r.key for r in got} == {b"k"}
    assert all(dict(r.headers)["h"] == b"v" for r in got)
    assert [r.offset for r in got] == sorted(r.offset for r in got)


async def test_records_of_one_key_stay_in_order_across_partitions(bus, topic):
    batch = [r for i in range(50) for r in records(topic, 1, key=f"learner-{i % 7}", start=i)]
    await published(bus, topic, batch, partitions=3)
    sub = bus.subscription([topic], group())
    await sub.start()
    try:
        got = await drain(sub, 50)
    finally:
        await sub.stop()
    for k in range(7):
        key = f"learner-{k}".encode()
        seen = [int(r.value.rsplit(b"-", 1)[1]) for r in got if r.key == key]
        assert seen == sorted(seen) and len(seen) == len([i for i in range(50) if i % 7 == k])


async def test_what_was_not_committed_is_delivered_again_to_the_next_member(bus, topic):
    await published(bus, topic, records(topic, 6))
    g = group()
    first = bus.subscription([topic], g)
    await first.start()
    got = await drain(first, 6)
    await first.commit(got[:2])  # the effect of only the first two became durable
    await first.stop()

    second = bus.subscription([topic], g)
    await second.start()
    try:
        again = await drain(second, 4)
    finally:
        await second.stop()
    assert [r.value for r in again] == [r.value for r in got[2:]]


async def test_committed_records_are_not_delivered_again(bus, topic):
    await published(bus, topic, records(topic, 3))
    g = group()
    first = bus.subscription([topic], g)
    await first.start()
    await first.commit(await drain(first, 3))
    await first.stop()
    await published(bus, topic, records(topic, 1, start=3))

    second = bus.subscription([topic], g)
    await second.start()
    try:
        got = await drain(second, 1)
        assert [r.value for r in got] == [b"k-3"]
        assert await second.fetch(10, timeout=1.0) == []
    finally:
        await second.stop()


async def test_seek_to_beginning_replays_from_offset_zero(bus, topic):
    await published(bus, topic, records(topic, 4))
    sub = bus.subscription([topic], group())
    await sub.start()
    try:
        first = await drain(sub, 4)
        await sub.commit(first)
        await sub.seek_to_beginning()
        replay = await drain(sub, 4)
    finally:
        await sub.stop()
    assert [r.value for r in replay] == [r.value for r in first]
    assert min(r.offset for r in replay) == 0


async def test_consumer_groups_are_independent(bus, topic):
    await published(bus, topic, records(topic, 3))
    a, b = bus.subscription([topic], group()), bus.subscription([topic], group())
    await a.start()
    await b.start()
    try:
        await a.commit(await drain(a, 3))
        assert len(await drain(b, 3)) == 3
    finally:
        await a.stop()
        await b.stop()


async def test_lag_is_zero_once_everything_is_fetched(bus, topic):
    await published(bus, topic, records(topic, 5))
    sub = bus.subscription([topic], group())
    await sub.start()
    try:
        await drain(sub, 5)
        assert await sub.lag() == 0
    finally:
        await sub.stop()


async def test_ensure_topics_is_idempotent(bus, topic):
    await bus.ensure_topics([topic], 2)
    await bus.ensure_topics([topic], 2)  # a second replica starting must not fail
