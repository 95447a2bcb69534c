"""`python -m <service> <command>`: the same commands for every service.

  migrate   run this service's Alembic migrations, then exit
  topics    create the Kafka topics (idempotent)
  api       serve the HTTP API (uvicorn)
  relay     publish this service's outbox to the bus
  consumer  run this service's consumers (projections)
  rebuild   reset one projection and replay its topics from offset zero, then exit
  all       api + relay + consumers in one process (development)

and a service's own (ServiceDefinition.commands), e.g. `python -m ledger verify`.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import signal
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog
import uvicorn
import uvloop
from prometheus_client import start_http_server
from sqlalchemy.ext.asyncio import AsyncEngine

from shared import web_workers
from shared.db import create_engine
from shared.logging import configure_logging
from shared.migrations import upgrade_to_head
from shared.runtime import (
    ServiceContext,
    ServiceDefinition,
    build_app,
    ensure_topics,
    make_bus,
    tune_gc,
    tune_malloc,
)
from shared.settings import ServiceSettings
from shared.web_server import HTTP_PROTOCOL

log = structlog.get_logger(__name__)


def service_main(definition: ServiceDefinition, settings_factory: Callable[[], ServiceSettings],
                 argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {definition.name}",
                                     description=definition.title)
    parser.add_argument("command", choices=["migrate", "topics", "api", "relay", "consumer",
                                            "rebuild", "all", *definition.commands])
    parser.add_argument("projection", nargs="?", help="with rebuild: the projection's name")
    args, rest = parser.parse_known_args(argv)
    if args.command in definition.commands:  # its own arguments are its own to parse
        rest = [args.projection, *rest] if args.projection is not None else rest
    elif rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    settings = settings_factory()
    configure_logging(settings.log_level, settings.log_json)
    tune_gc()

    if args.command == "migrate":
        upgrade_to_head(definition.alembic_ini, settings.database_url)
        log.info("migrations.done", service=definition.name)
    elif args.command in ("api", "all"):
        # Behind the gateway the prefix is stripped; root_path keeps /docs and the OpenAPI
        # servers pointing at the public URL.
        serve = {"host": settings.host, "port": settings.port, "root_path": settings.root_path,
                 "log_config": None, "access_log": False, "proxy_headers": True,
                 "http": HTTP_PROTOCOL}
        if args.command == "api" and settings.web_workers > 1:
            # Several processes on one port, each with its own listening socket
            # (shared.web_workers): each imports the service's create_app() and reads
            # the same settings from the environment.
            os.environ[_WORKER_OF] = definition.name
            web_workers.serve("shared.cli:worker_app", workers=settings.web_workers, **serve)
        else:
            uvicorn.run(build_app(definition, settings, run_workers=args.command == "all"),
                        **serve)
    elif args.command == "topics":
        asyncio.run(ensure_topics(make_bus(settings), settings))
    elif args.command in definition.commands:
        raise SystemExit(asyncio.run(_own_command(definition.commands[args.command], rest,
                                                  settings)))
    else:
        if args.command == "relay":
            tune_malloc()
        if settings.metrics_port and args.command in ("relay", "consumer"):
            # A thread of its own: scraped even while the event loop is busy publishing.
            start_http_server(settings.metrics_port, addr=settings.host)
        uvloop.run(_run_workers(definition, settings, args.command, args.projection))


_WORKER_OF = "CAIRN__WEB_WORKER_OF"


def worker_app() -> Any:
    """The app of one of several API processes (CAIRN_WEB_WORKERS > 1): the service's
    own create_app(), settings from the environment, logging as in the parent."""
    bootstrap = importlib.import_module(f"{os.environ[_WORKER_OF]}.bootstrap")
    app = bootstrap.create_app()
    configure_logging(app.state.settings.log_level, app.state.settings.log_json)
    tune_gc()
    return app


async def _run_workers(definition: ServiceDefinition, settings: ServiceSettings, command: str,
                       projection: str | None) -> None:
    ctx = ServiceContext(definition, settings, create_engine(settings), bus=make_bus(settings),
                         stop_on_crash=True)
    await ensure_topics(ctx.bus, settings)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, ctx._stop.set)
    try:
        if command == "relay":
            ctx.start_workers(relay=True, consumers=False)
        elif command == "consumer":
            ctx.start_workers(relay=False, consumers=True)
        elif command == "rebuild":
            await _rebuild(ctx, projection)
            return
        await ctx._stop.wait()
    finally:
        await ctx.stop_workers()
        await ctx.engine.dispose()
    if ctx.crashed:
        raise SystemExit(1)  # let the supervisor restart this process


async def _own_command(run: Callable[[AsyncEngine, Sequence[str]], Awaitable[int]],
                       args: Sequence[str], settings: ServiceSettings) -> int:
    engine = create_engine(settings)
    try:
        return await run(engine, args)
    finally:
        await engine.dispose()


async def _rebuild(ctx: ServiceContext, name: str | None) -> None:
    """Run with this projection's other consumers stopped: they share its group."""
    consumers = ctx.build_consumers()
    if name not in consumers:
        raise SystemExit(f"unknown projection {name!r}; one of: {', '.join(consumers)}")
    loop = consumers[name]
    runner = asyncio.create_task(loop.run(ctx._stop))
    await loop.rebuild()
    settled = 0
    while settled < 3:  # caught up three checks in a row
        await asyncio.sleep(0.2)
        settled = settled + 1 if await loop.caught_up() else 0
    ctx._stop.set()
    await runner
    log.info("projection.rebuilt", projection=name, events=loop.applied)
