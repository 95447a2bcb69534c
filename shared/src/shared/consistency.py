"""Read-your-writes across services (DESIGN §7): every ledger write answers with the
learner's `ledger_seq`; a per-learner read given `?min_ledger_seq=N` waits, bounded,
until what it reflects has caught up, else answers 503 with Retry-After."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import Query

from shared.errors import Problem

T = TypeVar("T")
MinLedgerSeq = Annotated[int | None, Query(ge=0, description=(
    "wait (bounded) until this read reflects at least this ledger_seq; 503 otherwise"))]


async def read_at_least(read: Callable[[], Awaitable[T]], seq_of: Callable[[T], int],
                        min_seq: int | None, *, timeout: float = 2.0,
                        interval: float = 0.05) -> T:
    result = await read()
    if min_seq is None:
        return result
    deadline = asyncio.get_running_loop().time() + timeout
    while seq_of(result) < min_seq:
        if asyncio.get_running_loop().time() >= deadline:
            raise Problem(503, "not_caught_up", "This read has not caught up yet",
                          detail=f"it reflects ledger_seq {seq_of(result)}, not yet {min_seq}",
                          ledger_seq=seq_of(result), min_ledger_seq=min_seq, retry_after=1)
        await asyncio.sleep(interval)
        result = await read()
    return result
