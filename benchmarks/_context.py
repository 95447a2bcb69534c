"""What a benchmark function receives."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field

from benchmarks._machine import CpuMeter
from benchmarks._servers import Servers


@dataclass
class Context:
    name: str
    servers: Servers
    params: dict[str, str] = field(default_factory=dict)
    quiet: bool = False
    _started: float = field(default_factory=time.perf_counter)

    @property
    def database_url(self) -> str:
        if self.servers.database_url is None:
            raise RuntimeError(f"benchmark {self.name} did not declare needs=('postgres',)")
        return self.servers.database_url

    @property
    def kafka_bootstrap(self) -> str:
        if self.servers.kafka_bootstrap is None:
            raise RuntimeError(f"benchmark {self.name} did not declare needs=('kafka',)")
        return self.servers.kafka_bootstrap

    def param(self, key: str, default: int) -> int:
        """An integer knob: `-o NAME.key=value` or `-o key=value` on the command line,
        else `CAIRN_BENCH_<NAME>_<KEY>` in the environment, else `default`."""
        env = f"CAIRN_BENCH_{self.name}_{key}".upper()
        raw = self.params.get(f"{self.name}.{key}", self.params.get(key, os.environ.get(env)))
        return default if raw in (None, "") else int(str(raw).replace("_", ""))

    def cpu_meter(self) -> CpuMeter:
        """CPU seconds of this process and of the servers started here."""
        return CpuMeter({"relay process (python)": os.getpid(),
                         "kafka broker (jvm)": self.servers.kafka_pid},
                        trees={"postgresql": self.servers.postgres_pid})

    def progress(self, message: str) -> None:
        if not self.quiet:
            elapsed = time.perf_counter() - self._started
            print(f"  [{self.name} {elapsed:6.1f}s] {message}", file=sys.stderr, flush=True)
