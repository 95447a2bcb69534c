"""Coalesced reads: the lookups a process is asked for at the same moment, answered by
one query. For a hot read (a learner's statement) most of the cost of a lookup is the
round trip, not the row: each query wakes a PostgreSQL backend and then this process
again, and on these machines a wake-up costs more CPU than reading the row. Requests
that arrive while a query is in flight wait for the next one, which fetches all their
keys at once; there is no timer, so on an idle process a lookup goes out at once.
Up to `concurrency` queries are in flight, so one slow query does not hold up the next
group."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Coalescer(Generic[K, V]):
    """`await reads.get(key)`: the value `fetch_many` finds for `key`, or None if it finds
    none. `fetch_many(keys)` gets distinct keys and returns a dict of those it found; if
    it raises, every lookup of that group raises the same error."""

    def __init__(self, fetch_many: Callable[[Sequence[K]], Awaitable[dict[K, V]]], *,
                 concurrency: int = 3) -> None:
        self._fetch_many = fetch_many
        self._concurrency = concurrency
        self._waiting: dict[K, list[asyncio.Future[V | None]]] = {}
        self._fetchers: set[asyncio.Task[None]] = set()  # kept referenced while running
        self._running = 0  # fetchers still in their loop: a lookup waiting will be seen

    async def get(self, key: K) -> V | None:
        found: asyncio.Future[V | None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append(found)
        if self._running < self._concurrency:
            self._running += 1
            fetcher = asyncio.create_task(self._fetch())
            self._fetchers.add(fetcher)
            fetcher.add_done_callback(self._fetchers.discard)
        return await asyncio.shield(found)  # a caller gone does not cancel the others

    async def _fetch(self) -> None:
        try:
            while self._waiting:
                group, self._waiting = self._waiting, {}
                try:
                    values = await self._fetch_many(list(group))
                except Exception as error:
                    for waiters in group.values():
                        for found in waiters:
                            if not found.done():
                                found.set_exception(error)
                    continue
                for key, waiters in group.items():
                    value = values.get(key)
                    for found in waiters:
                        if not found.done():
                            found.set_result(value)
        finally:
            # No await between the loop's last check and this: a lookup added after it
            # sees one fetcher fewer and starts its own (a done-callback would run later
            # and leave that lookup waiting for a fetcher that has already left).
            self._running -= 1
