"""Several API processes on one port (CAIRN_WEB_WORKERS > 1), each accepting from a
listening socket of its own.

uvicorn's own `workers=N` binds one socket in its supervisor and lets every process
accept from it. A process that wakes for a new connection accepts every connection
waiting (uvloop drains the queue), so connections opened together all went to
whichever process woke first: 32 keep-alive connections opened at once landed 31/1,
32/0, 22/10, 32/0 and 20/12 on two processes (measured with `ss`). One process then
served nearly everything while the other idled, and its queue was the clients'
latency.

Here each process binds its own socket to the address with SO_REUSEPORT, and the
kernel spreads new connections over the listening sockets by a hash of each
connection's addresses (64 connections: 32/32). Linux has had this since 3.9.

The supervisor (`serve`, in the process that was started):
- holds the address with one more SO_REUSEPORT socket that never listens (so it is
  given no connections): an address in use fails at once, before any process starts,
  and port 0 is resolved once, for every process;
- starts `workers` processes (multiprocessing "spawn"), each building the app from
  `factory` (an import string, as uvicorn's `factory=True`);
- starts a process again when it dies (the connections waiting on its socket are lost,
  as with any crash), at most once a second per process; a process that fails at
  startup (uvicorn's exit status 3: the app, its lifespan or its socket is broken, and
  would fail the same way again) stops them all, and `serve` exits with that status;
- on SIGTERM or SIGINT sends each process SIGTERM (uvicorn's graceful shutdown: the
  requests in flight are answered) and waits for them; after `STOP_GRACE_SECONDS` a
  process still running is killed.

Where SO_REUSEPORT does not exist, `serve` falls back to uvicorn's own workers.

The processes share one /metrics (shared.metrics): `serve` makes an empty directory for
their values, names it in PROMETHEUS_MULTIPROC_DIR for them, forgets a dead process's
live gauges, and removes the directory when they have all stopped.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from typing import Any

import structlog
import uvicorn
from prometheus_client import multiprocess
from uvicorn.config import STARTUP_FAILURE

from shared.metrics import MULTIPROC_DIR

log = structlog.get_logger(__name__)

STOP_GRACE_SECONDS = 30.0  # uvicorn finishes the requests in flight; then SIGKILL
RESTART_EVERY_SECONDS = 1.0  # a process that keeps dying is started again at most this often


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port) with SO_REUSEPORT, not listening."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(False)  # each process binds its own
    return sock


def _serve_one(factory: str, host: str, port: int, options: dict[str, Any]) -> None:
    """One API process: its own listening socket, uvicorn serving `factory`'s app. An app
    that cannot be built exits with STARTUP_FAILURE (uvicorn's own status for a failed
    lifespan startup), so that the supervisor stops rather than starting it again."""
    config = uvicorn.Config(factory, factory=True, host=host, port=port, **options)
    try:
        config.load()
        sock = reuse_port_socket(host, port)
    except (Exception, SystemExit) as error:  # uvicorn's load exits 1 on a bad import
        log.error("web_workers.cannot_start", error=repr(error))
        sys.exit(STARTUP_FAILURE)
    uvicorn.Server(config).run(sockets=[sock])


class _Supervisor:
    def __init__(self, factory: str, host: str, port: int, workers: int,
                 options: dict[str, Any], metrics_dir: str) -> None:
        self.args = (factory, host, port, options)
        self.metrics_dir = metrics_dir
        self.context = multiprocessing.get_context("spawn")
        self.slots: list[tuple[BaseProcess, float]] = []  # (process, when it started)
        self.workers = workers
        self.stopping = False
        self.status = 0

    def start(self) -> None:
        self.slots = [self._start() for _ in range(self.workers)]

    def _start(self) -> tuple[BaseProcess, float]:
        process = self.context.Process(target=_serve_one, args=self.args,
                                       name="cairn-api-worker", daemon=False)
        process.start()
        return process, time.monotonic()

    def request_stop(self, signum: int, _frame: Any) -> None:
        self.stopping = True

    def watch(self) -> None:
        while not self.stopping:
            wait([p.sentinel for p, _ in self.slots], timeout=0.5)
            for index, (process, started) in enumerate(self.slots):
                if self.stopping or process.is_alive():
                    continue
                process.join()
                # its live gauges go (its counts stay: they happened)
                multiprocess.mark_process_dead(process.pid, self.metrics_dir)
                if process.exitcode == STARTUP_FAILURE:
                    log.error("web_workers.startup_failed", pid=process.pid)
                    self.status, self.stopping = STARTUP_FAILURE, True
                    break
                log.warning("web_workers.died", pid=process.pid, exitcode=process.exitcode)
                time.sleep(max(0.0, started + RESTART_EVERY_SECONDS - time.monotonic()))
                if not self.stopping:  # a signal may have come while it slept
                    self.slots[index] = self._start()

    def stop(self) -> None:
        """SIGTERM to every process still running, then wait (SIGKILL after the grace)."""
        for process, _ in self.slots:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn's graceful shutdown
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for process, _ in self.slots:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.warning("web_workers.killed", pid=process.pid)
                process.kill()
                process.join()


def serve(factory: str, *, host: str, port: int, workers: int, **options: Any) -> None:
    """Serve the app `factory` builds (an import string, "module:function") on
    host:port with `workers` processes; return when they have stopped (module
    docstring). `options` are uvicorn.Config's, picklable (the processes are spawned)."""
    with _shared_metrics() as metrics_dir:
        if not hasattr(socket, "SO_REUSEPORT"):
            uvicorn.run(factory, factory=True, host=host, port=port, workers=workers,
                        **options)
            return
        _serve(factory, host, port, workers, options, metrics_dir)


@contextlib.contextmanager
def _shared_metrics() -> Iterator[str]:
    """A fresh directory for the processes' metrics, in the environment they inherit
    (shared.metrics), for as long as they run; the environment as it was afterwards."""
    before = os.environ.get(MULTIPROC_DIR)
    path = tempfile.mkdtemp(prefix="cairn-metrics-")
    os.environ[MULTIPROC_DIR] = path
    try:
        yield path
    finally:
        if before is None:
            os.environ.pop(MULTIPROC_DIR, None)
        else:
            os.environ[MULTIPROC_DIR] = before
        shutil.rmtree(path, ignore_errors=True)


def _serve(factory: str, host: str, port: int, workers: int, options: dict[str, Any],
           metrics_dir: str) -> None:
    try:
        holder = reuse_port_socket(host, port)  # never listens: takes no connections
    except OSError as error:
        log.error("web_workers.cannot_bind", host=host, port=port, error=str(error))
        sys.exit(STARTUP_FAILURE)
    with holder:
        port = holder.getsockname()[1]
        supervisor = _Supervisor(factory, host, port, workers, options, metrics_dir)
        previous = {s: signal.signal(s, supervisor.request_stop)
                    for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            supervisor.start()
            supervisor.watch()
        finally:
            supervisor.stop()
            for s, handler in previous.items():
                signal.signal(s, handler)
    log.info("web_workers.stopped", workers=workers)
    if supervisor.status:
        sys.exit(supervisor.status)
