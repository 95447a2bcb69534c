"""shared.coalesce.Coalescer: lookups asked for while a query is in flight are answered
by the next query, all at once; an idle lookup goes out at once; a failed query fails
the lookups of its group only."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from shared.coalesce import Coalescer, Groups


class Store:
    """A fake `fetch_many` that holds each query until released."""

    def __init__(self, values: dict[str, int]) -> None:
        self.values, self.calls = values, []
        self.gate = asyncio.Event()
        self.fail_next = False

    async def fetch_many(self, keys: Sequence[str]) -> dict[str, int]:
        self.calls.append(list(keys))
        await self.gate.wait()
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("database gone")
        return {k: self.values[k] for k in keys if k in self.values}


async def test_an_idle_lookup_goes_out_at_once() -> None:
    store = Store({"a": 1})
    store.gate.set()
    reads = Coalescer(store.fetch_many)
    assert await reads.get("a") == 1 and await reads.get("zz") is None
    assert store.calls == [["a"], ["zz"]]


async def test_lookups_during_a_query_share_the_next_one() -> None:
    store = Store({"a": 1, "b": 2, "c": 3})
    reads = Coalescer(store.fetch_many, concurrency=1)
    first = asyncio.create_task(reads.get("a"))
    await asyncio.sleep(0)  # the query for "a" is in flight
    rest = [asyncio.create_task(reads.get(k)) for k in ("b", "c", "c", "missing")]
    await asyncio.sleep(0)
    store.gate.set()
    assert await first == 1
    assert await asyncio.gather(*rest) == [2, 3, 3, None]
    assert store.calls == [["a"], ["b", "c", "missing"]]  # each key once


async def test_a_failed_query_fails_its_own_group_only() -> None:
    store = Store({"a": 1, "b": 2})
    reads = Coalescer(store.fetch_many, concurrency=1)
    store.fail_next = True
    failing = asyncio.create_task(reads.get("a"))
    await asyncio.sleep(0)
    later = asyncio.create_task(reads.get("b"))
    store.gate.set()
    with pytest.raises(RuntimeError, match="database gone"):
        await failing
    assert await later == 2


async def test_a_lookup_right_after_a_query_is_not_left_waiting() -> None:
    """The caller of the last lookup resumes before the finished fetcher's task is
    cleaned up: its next lookup must start a query of its own, not wait forever."""
    store = Store({"a": 1, "b": 2})
    store.gate.set()
    reads = Coalescer(store.fetch_many, concurrency=1)

    async def one_after_the_other() -> list[int | None]:
        return [await reads.get("a"), await reads.get("b")]

    assert await asyncio.wait_for(one_after_the_other(), timeout=2) == [1, 2]


class Handler:
    """A fake `handle` for shared.coalesce.Groups: records each group; the first group
    is held until `first_done` is set, the others go through."""

    def __init__(self) -> None:
        self.groups: list[list[str]] = []
        self.first_done = asyncio.Event()
        self.handled: set[str] = set()

    async def handle(self, group: list[str]) -> None:
        self.groups.append(group)
        if len(self.groups) == 1:
            await self.first_done.wait()
        self.handled.update(group)


async def test_without_stall_after_groups_start_side_by_side_up_to_concurrency() -> None:
    handler = Handler()
    groups = Groups(handler.handle, concurrency=2)
    for item in ("a", "b", "c"):
        groups.submit(item)
        await asyncio.sleep(0)
    assert handler.groups == [["a"], ["b"], ["c"]]  # none waited for the stuck "a"
    handler.first_done.set()
    await asyncio.sleep(0.01)
    assert handler.handled == {"a", "b", "c"}


async def test_with_stall_after_items_wait_for_the_group_ahead_as_one_group() -> None:
    handler = Handler()
    groups = Groups(handler.handle, concurrency=3, stall_after=10)
    groups.submit("a")
    await asyncio.sleep(0)  # "a" is in flight
    for item in ("b", "c", "d"):
        groups.submit(item)
        await asyncio.sleep(0)
    assert handler.groups == [["a"]]  # not stuck: no second group beside it
    handler.first_done.set()
    await asyncio.sleep(0.01)
    assert handler.groups == [["a"], ["b", "c", "d"]]


async def test_with_stall_after_a_stuck_group_lets_the_next_start_beside_it() -> None:
    """Nothing is submitted after "b": the timer alone starts its group."""
    handler = Handler()
    groups = Groups(handler.handle, concurrency=3, stall_after=0.05)
    groups.submit("a")
    await asyncio.sleep(0)
    groups.submit("b")
    await asyncio.sleep(0.01)
    assert handler.groups == [["a"]]
    await asyncio.sleep(0.1)
    assert handler.groups == [["a"], ["b"]] and handler.handled == {"b"}  # "a" still stuck
    handler.first_done.set()
    await asyncio.sleep(0.01)
    assert handler.handled == {"a", "b"}
