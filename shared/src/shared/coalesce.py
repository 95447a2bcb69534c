"""Work that arrives while earlier work is in flight, done together.

`Groups` is the mechanism: items submitted while a group is being handled wait for the
next group, which takes all of them at once; there is no timer, so on an idle process
an item is handled at once. Up to `concurrency` groups are in flight, so one slow group
does not hold up the next; with `stall_after`, a further group starts only once the
newest one in flight has taken that long (it is stuck, e.g. on a lock), so that under
load the items gather into fewer, bigger groups. The ledger's group commit of single
results (ledger.service_layer.recording.SingleResults) and `Coalescer` below are built
on it.

`Coalescer` is for a hot read (a learner's statement): the lookups a process is asked
for at the same moment, answered by one query. Most of the cost of a lookup is the
round trip, not the row: each query wakes a PostgreSQL backend and then this process
again, and on these machines a wake-up costs more CPU than reading the row."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Groups(Generic[T]):
    """`groups.submit(item)`: `handle(group)` gets it with every other item submitted
    while the previous groups were handled. `handle` must settle its items itself (it
    is not awaited by the submitter) and should not raise.

    Up to `concurrency` groups in flight. With `stall_after` (seconds), a second and
    further group starts only when the newest group in flight has been in flight that
    long: the items wait for the group ahead of them, as one bigger group, unless it is
    stuck. A timer checks again when items wait behind a group, so they wait at most
    about `stall_after` for a stuck one even if nothing else is submitted."""

    def __init__(self, handle: Callable[[list[T]], Awaitable[None]], *,
                 concurrency: int = 3, stall_after: float | None = None) -> None:
        self._handle = handle
        self._concurrency = concurrency
        self._stall_after = stall_after
        self._waiting: list[T] = []
        self._workers: set[asyncio.Task[None]] = set()  # kept referenced while running
        self._running = 0  # workers still in their loop: an item waiting will be seen
        self._newest_started = 0.0  # loop time the newest group in flight began
        self._recheck: asyncio.TimerHandle | None = None

    def submit(self, item: T) -> None:
        self._waiting.append(item)
        self._start_if_due()

    def _start_if_due(self) -> None:
        if not self._waiting or self._running >= self._concurrency:
            return
        if self._running and self._stall_after is not None:
            loop = asyncio.get_running_loop()
            due = self._newest_started + self._stall_after
            if loop.time() < due:  # the group ahead is not stuck: wait for it
                if self._recheck is None:
                    self._recheck = loop.call_at(due, self._recheck_stall)
                return
        self._running += 1
        self._newest_started = asyncio.get_running_loop().time()  # in flight from now
        worker = asyncio.create_task(self._work())
        self._workers.add(worker)
        worker.add_done_callback(self._workers.discard)

    def _recheck_stall(self) -> None:
        self._recheck = None
        self._start_if_due()

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._waiting:
                group, self._waiting = self._waiting, []
                self._newest_started = loop.time()
                await self._handle(group)
        finally:
            # Counted here, not by a done-callback: that runs a loop turn later, and an
            # item submitted in between would wait for a worker that has already left.
            self._running -= 1


class Coalescer(Generic[K, V]):
    """`await reads.get(key)`: the value `fetch_many` finds for `key`, or None if it finds
    none. `fetch_many(keys)` gets distinct keys and returns a dict of those it found; if
    it raises, every lookup of that group raises the same error."""

    def __init__(self, fetch_many: Callable[[Sequence[K]], Awaitable[dict[K, V]]], *,
                 concurrency: int = 3) -> None:
        self._fetch_many = fetch_many
        self._groups: Groups[tuple[K, asyncio.Future[V | None]]] = Groups(
            self._fetch, concurrency=concurrency)

    async def get(self, key: K) -> V | None:
        found: asyncio.Future[V | None] = asyncio.get_running_loop().create_future()
        self._groups.submit((key, found))
        return await asyncio.shield(found)  # a caller gone does not cancel the others

    async def _fetch(self, group: list[tuple[K, asyncio.Future[V | None]]]) -> None:
        try:
            values = await self._fetch_many(list(dict.fromkeys(key for key, _ in group)))
        except Exception as error:
            for _, found in group:
                if not found.done():
                    found.set_exception(error)
            return
        for key, found in group:
            if not found.done():
                found.set_result(values.get(key))
