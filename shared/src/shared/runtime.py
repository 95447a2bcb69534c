"""What every service is made of, and the wiring they share.

A service's bootstrap.py (its composition root) builds a `ServiceDefinition`; this
module turns it into a FastAPI app whose lifespan opens the engine and, where asked,
runs the outbox relay and the consumer loops as background tasks. Nothing connects at
import time."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import structlog
from fastapi import APIRouter, FastAPI
from sqlalchemy import MetaData, Table
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.admission import AdmissionLimits
from shared.db import create_engine
from shared.http import create_service_app
from shared.messaging.bus import TOPICS, Bus
from shared.messaging.consumer import ConsumerLoop, Projection
from shared.messaging.kafka_bus import KafkaBus
from shared.messaging.log_relay import LogRelay, LogSource
from shared.messaging.memory_bus import InProcessBus
from shared.messaging.relay import outbox_relay
from shared.settings import ServiceSettings

T = TypeVar("T")

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ServiceDefinition:
    name: str
    title: str
    description: str
    metadata: MetaData
    outbox: Table
    inbox: Table
    dead_letter: Table
    alembic_ini: Path
    routers: Sequence[APIRouter]
    projections: Callable[[], list[Projection]] = list
    log_sources: Sequence[LogSource] = ()  # tables that are their own outbox (the ledger)
    # A service's own commands of `python -m <service>` (shared.cli), by name: each runs
    # on an engine of the service's database, with the arguments after its name, and
    # gives the exit status.
    commands: Mapping[str, Callable[[AsyncEngine, Sequence[str]], Awaitable[int]]] = field(
        default_factory=dict)
    version: str = "1.0.0"


@dataclass
class ServiceContext:
    """Per-process state a route or a worker needs; lives on `app.state.ctx`."""

    definition: ServiceDefinition
    settings: ServiceSettings
    engine: AsyncEngine
    bus: Bus | None = None
    relay: LogRelay | None = None
    log_relays: list[LogRelay] = field(default_factory=list)
    consumers: dict[str, ConsumerLoop] = field(default_factory=dict)
    stop_on_crash: bool = False  # a worker process exits when its worker dies (to be restarted)
    # Per-process objects of one service that its routes share, by name (the ledger's
    # group commit of single results); made on first use, gone with the context.
    shared_objects: dict[str, Any] = field(default_factory=dict)
    crashed: bool = False
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task] = field(default_factory=list)

    def shared(self, name: str, make: Callable[[], T]) -> T:
        """The process's shared object `name`, made by `make()` on first use."""
        found = self.shared_objects.get(name)
        if found is None:
            found = self.shared_objects[name] = make()
        return found

    def build_relay(self, *, replay_all_on_start: bool = False) -> LogRelay:
        assert self.bus is not None
        self.relay = outbox_relay(
            self.engine, self.definition.outbox, self.bus.publisher(),
            service=self.definition.name, batch_size=self.settings.relay_batch_size,
            idle_seconds=self.settings.relay_idle_seconds,
            max_idle_seconds=self.settings.relay_max_idle_seconds,
            replay_all_on_start=replay_all_on_start)
        return self.relay

    def build_log_relays(self) -> list[LogRelay]:
        assert self.bus is not None
        self.log_relays = [LogRelay(self.engine, source, self.bus.publisher(),
                                    service=self.definition.name,
                                    batch_size=self.settings.relay_batch_size,
                                    idle_seconds=self.settings.relay_idle_seconds,
                                    max_idle_seconds=self.settings.relay_max_idle_seconds,
                                    replay_all_on_start=isinstance(self.bus, InProcessBus))
                           for source in self.definition.log_sources]
        return self.log_relays

    def build_consumers(self) -> dict[str, ConsumerLoop]:
        assert self.bus is not None
        for projection in self.definition.projections():
            group = f"{self.definition.name}.{projection.name}"
            self.consumers[projection.name] = ConsumerLoop(
                self.engine, self.bus.subscription(projection.topics, group), projection,
                inbox=self.definition.inbox, dead_letter=self.definition.dead_letter,
                service=self.definition.name, batch_size=self.settings.consumer_batch_size)
        return self.consumers

    def start_workers(self, *, relay: bool = True, consumers: bool = True) -> None:
        if relay:
            r = self.relay or self.build_relay(
                replay_all_on_start=isinstance(self.bus, InProcessBus))
            self._spawn(r.run(self._stop), "relay")
            for log_relay in self.log_relays or self.build_log_relays():
                self._spawn(log_relay.run(self._stop), "log-relay")
        if consumers:
            for name, loop in (self.consumers or self.build_consumers()).items():
                self._spawn(loop.run(self._stop), f"consumer:{name}")

    def _spawn(self, coro, name: str) -> None:
        task = asyncio.create_task(coro, name=f"{self.definition.name}:{name}")
        task.add_done_callback(self._on_done)
        self._tasks.append(task)

    def _on_done(self, task: asyncio.Task) -> None:
        if task.cancelled() or task.exception() is None:
            return
        log.error("worker.crashed", task=task.get_name(), exc_info=task.exception())
        self.crashed = True
        if self.stop_on_crash:
            self._stop.set()

    async def close_shared(self) -> None:
        """Close the shared objects that hold something (an `aclose` method)."""
        shared, self.shared_objects = self.shared_objects, {}
        for found in shared.values():
            if hasattr(found, "aclose"):
                await found.aclose()

    async def stop_workers(self) -> None:
        """Stop the relay and consumers: each finishes its batch and closes its Kafka
        client, within settings.shutdown_grace_seconds; past that, they are cancelled
        (what they had not committed is delivered again: at-least-once)."""
        self._stop.set()
        if self._tasks:
            stopping = asyncio.gather(*self._tasks, return_exceptions=True)
            try:
                await asyncio.wait_for(stopping, self.settings.shutdown_grace_seconds)
            except TimeoutError:
                log.warning("workers.stop_timed_out", service=self.definition.name,
                            grace_seconds=self.settings.shutdown_grace_seconds)
        self._tasks.clear()


def tune_gc() -> None:
    """For a long-running service process, once its modules are imported. A batch of
    10,000 results allocates about a million short-lived, acyclic objects (freed by
    reference counting); CPython's default thresholds (700, 10, 10) then run a full
    collection every ~70k allocations, over the whole heap. Measured on the ingest
    path: 46 µs per result with the defaults, 25 µs with the startup heap frozen (never
    scanned again) and young collections every 50,000 allocations.

    Young collections every 50,000 still ran in the middle of every batch, over objects
    that were all alive: a batch holds ~55 tracked objects per result until it is
    answered (two 5,000-result batches in flight: ~0.5 million), so each batch was scanned
    several times over, and every 20th collection (the middle generation) stalled the
    process 100-340 ms. Measured with gc.callbacks (thread CPU time) in both API
    processes of ledger_ingest (2026-12-03): 5.4 s of CPU in collections for 400,000
    results, ~13 µs per result, a tenth of the API's CPU. The young threshold is therefore set above a
    batch's working set, at 1,000,000: a collection then runs only once that many objects
    outlive their request. Almost none do: the count was ~9,500 per process after the
    same run, so a collection comes every ~20 million results, and a statement read's
    process no longer collects every few seconds either (one young collection took
    30 ms there, inside the measured reads)."""
    gc.freeze()
    gc.set_threshold(1_000_000, 20, 20)


def tune_malloc() -> None:
    """For a relay process. Each batch's multi-megabyte buffers (rows read, Kafka record
    batches, the produce request) are freed at its end; glibc gives such memory back to
    the kernel (mmap above its threshold, heap trimming), and the next batch faults every
    page in again. Measured on the ledger's relay: ~0.45 page faults and ~1 µs of CPU per
    event, none once glibc keeps the memory (32 MiB mmap threshold, its maximum; trim
    above 256 MiB). Nothing happens without glibc."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's <malloc.h>
    mallopt(m_mmap_threshold, 32 << 20)
    mallopt(m_trim_threshold, 256 << 20)


def make_bus(settings: ServiceSettings) -> Bus:
    if settings.bus == "memory":
        return InProcessBus()
    return KafkaBus(settings.kafka_bootstrap_servers, client_id=f"cairn-{settings.service_name}",
                    compression=settings.kafka_compression)


async def ensure_topics(bus: Bus, settings: ServiceSettings) -> None:
    await bus.ensure_topics(TOPICS, settings.topic_partitions, settings.topic_replication)


def build_app(definition: ServiceDefinition, settings: ServiceSettings, *,
              bus: Bus | None = None, run_workers: bool = False) -> FastAPI:
    """The service's app. With `run_workers` the lifespan also runs the relay and the
    consumers (embedded default, single-process dev); in production they are separate
    processes (`python -m <svc> relay|consumer`)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        ctx = ServiceContext(definition, settings, engine,
                             bus=bus or (make_bus(settings) if run_workers else None))
        app.state.settings = settings
        app.state.ctx = ctx
        if run_workers:
            await ensure_topics(ctx.bus, settings)
            ctx.start_workers()
        log.info("service.started", service=definition.name, workers=run_workers)
        try:
            yield
        finally:
            await ctx.stop_workers()
            await ctx.close_shared()
            await engine.dispose()

    app = create_service_app(service=definition.name, title=definition.title,
                             description=definition.description, version=definition.version,
                             lifespan=lifespan, routers=definition.routers,
                             admission=AdmissionLimits(settings.http_body_budget_bytes,
                                                       settings.http_admission_wait_seconds))
    app.state.settings = settings  # auth needs it even before the lifespan has run
    return app
