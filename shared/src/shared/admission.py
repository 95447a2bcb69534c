"""How much request body a service process works on at once: a budget of bytes, taken
first come first served, so that a burst of large requests (results day: many members
pushing 10,000-result batches together) queues instead of exhausting the memory.

Why: a batch's body is ~0.4 KB a result, and while it is read, checked, chained and
answered the process holds ~12 times that (measured on the ledger, benchmarks/
ledger_burst.py: one API process peaked at 1,548 MiB with thirty-two 10,000-result
batches sent at once, 881 MiB with sixteen; its pod's limit is 1 GiB,
deploy/k8s/ledger.yaml). Past the budget a request waits in line, which also finishes each
batch sooner than sharing the CPU among all of them; one that waits longer than
`wait_seconds` is refused with 503 `overloaded` and a Retry-After, which every client of
Cairn's write API may safely follow (its writes are idempotent, R-LG-2).

A request is weighed by its declared Content-Length (a chunked one, of unknown length,
by the whole budget). One heavier than the budget still goes through, alone. Bodies
under `small` bytes (one result, a correction) are not queued at all: their memory is
small, and they should not wait behind a results-day batch."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

from shared.errors import Problem
from shared.metrics import ADMISSION_IN_FLIGHT, ADMISSION_REFUSED, ADMISSION_WAITING
from shared.settings import BUDGET_BYTES, WAIT_SECONDS

_NOT_QUEUED = contextlib.nullcontext()  # stateless: shared by every small request


@dataclass(frozen=True, slots=True)
class AdmissionLimits:
    budget_bytes: int = BUDGET_BYTES  # request bodies worked on at once, per process
    wait_seconds: float = WAIT_SECONDS  # the longest a request waits in line before a 503
    small: int = 64 * 1024  # bodies below this many bytes are let through at once
    retry_after: int = 5  # seconds, told to a refused client


class Overloaded(Problem):
    """503 `overloaded`: waited `wait_seconds` in line."""

    def __init__(self, limits: AdmissionLimits) -> None:
        super().__init__(503, "overloaded", "The service is busy with other large requests; "
                         "send this one again after the Retry-After delay",
                         detail=f"waited {limits.wait_seconds:g} s for other requests' "
                                f"bodies (at most {limits.budget_bytes:,} bytes at once) "
                                "to be done",
                         retry_after=limits.retry_after)


class Admission:
    """One process's budget (see the module docstring). Not thread-safe: one event loop."""

    def __init__(self, limits: AdmissionLimits, service: str) -> None:
        self.limits = limits
        self.in_flight = 0  # bytes admitted and not yet released
        self._line: deque[tuple[asyncio.Future[None], int]] = deque()
        self._in_flight_gauge = ADMISSION_IN_FLIGHT.labels(service)
        self._waiting_gauge = ADMISSION_WAITING.labels(service)
        self._refused = ADMISSION_REFUSED.labels(service)

    @property
    def waiting(self) -> int:
        return len(self._line)

    def weight(self, content_length: int | None) -> int:
        """What a body of `content_length` bytes (None: chunked, unknown) costs; 0 for a
        small one, which is not queued."""
        if content_length is None:
            return self.limits.budget_bytes
        return 0 if content_length < self.limits.small else content_length

    def admitted(self, weight: int) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold `weight` bytes of the budget for the block; raises the 503 `overloaded`
        Problem after waiting `wait_seconds` in line. Weight 0 (a small body, every single
        result) holds nothing, and costs no generator on that hot path."""
        return self._held(weight) if weight > 0 else _NOT_QUEUED

    @contextlib.asynccontextmanager
    async def _held(self, weight: int) -> AsyncIterator[None]:
        await self._take(weight)
        try:
            yield
        finally:
            self._release(weight)

    def _fits(self, weight: int) -> bool:
        return self.in_flight == 0 or self.in_flight + weight <= self.limits.budget_bytes

    async def _take(self, weight: int) -> None:
        if not self._line and self._fits(weight):
            self._add(weight)
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (turn, weight)
        self._line.append(entry)
        self._waiting_gauge.set(len(self._line))
        try:
            async with asyncio.timeout(self.limits.wait_seconds):
                await asyncio.shield(turn)
        except BaseException as error:  # timed out, or the client went away
            if turn.done() and not turn.cancelled():  # granted meanwhile: hand it back
                self._release(weight)
            else:
                turn.cancel()
                self._line.remove(entry)
                self._admit_waiting()  # the head may have been waiting behind this one
            if isinstance(error, TimeoutError):
                self._refused.inc()
                raise Overloaded(self.limits) from None
            raise

    def _add(self, weight: int) -> None:
        self.in_flight += weight
        self._in_flight_gauge.set(self.in_flight)

    def _release(self, weight: int) -> None:
        self._add(-weight)
        self._admit_waiting()

    def _admit_waiting(self) -> None:
        """In order: the head of the line while it fits (no overtaking)."""
        while self._line and self._fits(self._line[0][1]):
            turn, weight = self._line.popleft()
            self._add(weight)
            turn.set_result(None)
        self._waiting_gauge.set(len(self._line))
