"""shared.web_workers: several API processes on one port, each with its own listening
socket, run as `python -m <service> api` runs them (a supervisor in its own process)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from shared.web_workers import STARTUP_FAILURE

ROOT = Path(__file__).resolve().parents[3]
APP = "tests.unit.platform._pid_app:create"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _supervisor(port: int, workers: int = 2, **env: str) -> subprocess.Popen:
    code = ("from shared.web_workers import serve; "
            f"serve({APP!r}, host='127.0.0.1', port={port}, workers={workers}, "
            "log_config=None, access_log=False)")
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT), **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
    writer.write(b"GET / HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n")
    answer = await reader.read()
    writer.close()
    return int(answer.split(b"\r\n\r\n", 1)[1])


def _pids(port: int, connections: int) -> Counter[int]:
    """The serving process of each of `connections` connections, opened together (as a
    client's pool or a gateway opens them) before the first request is sent."""
    async def burst() -> Counter[int]:
        opened = await asyncio.wait_for(asyncio.gather(*(
            asyncio.open_connection("127.0.0.1", port) for _ in range(connections))), 10)
        return Counter(await asyncio.wait_for(asyncio.gather(*(
            _get(reader, writer) for reader, writer in opened)), 10))
    return asyncio.run(burst())


def _serving(port: int, processes: int, *, new_besides: frozenset[int] | set[int] = frozenset(),
             timeout: float = 60.0) -> set[int]:
    """Wait until `processes` distinct processes answer (one of them not in `new_besides`
    when given); their ids."""
    deadline, seen = time.monotonic() + timeout, set[int]()
    while time.monotonic() < deadline:
        try:
            seen |= set(_pids(port, 16))
        except OSError:
            time.sleep(0.2)
            continue
        alive = {pid for pid in seen if _alive(pid)}
        if len(alive) == processes and (not new_besides or alive - new_besides):
            return alive
        seen = alive
        time.sleep(0.2)
    raise AssertionError(f"{processes} processes never answered on port {port}: {seen}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop(supervisor: subprocess.Popen) -> int:
    supervisor.send_signal(signal.SIGTERM)
    return supervisor.wait(timeout=60)


def test_connections_opened_together_are_spread_over_the_processes() -> None:
    # With uvicorn's one shared socket, whichever process woke first accepted every
    # connection waiting: bursts of 32 split 32/0, 6/26, 11/21 (measured). Here the
    # kernel hashes each connection to one process's socket: a burst of 32 puts fewer
    # than 4 on one of two processes with a probability of ~3e-6.
    port = _free_port()
    supervisor = _supervisor(port)
    try:
        workers = _serving(port, 2)
        bursts = [_pids(port, 32) for _ in range(10)]
        assert all(set(counts) == workers for counts in bursts), bursts
        assert all(min(counts.values()) >= 4 for counts in bursts), bursts
    finally:
        assert _stop(supervisor) == 0
    assert not any(_alive(pid) for pid in workers), "SIGTERM stops every process"
    with socket.socket() as plain:  # and nothing listens there any more
        plain.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAITs
        plain.bind(("127.0.0.1", port))
        plain.listen()


def test_a_process_that_dies_is_started_again() -> None:
    port = _free_port()
    supervisor = _supervisor(port)
    try:
        first = _serving(port, 2)
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        now = _serving(port, 2, new_besides=first)
        assert victim not in now and max(first) in now
        assert supervisor.poll() is None
    finally:
        assert _stop(supervisor) == 0


def test_an_app_that_cannot_be_built_stops_everything() -> None:
    supervisor = _supervisor(_free_port(), PID_APP_BROKEN="1")
    try:
        assert supervisor.wait(timeout=60) == STARTUP_FAILURE  # not started again and again
    finally:
        supervisor.kill()


def test_an_address_in_use_fails_at_once() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        supervisor = _supervisor(taken.getsockname()[1])
        try:
            assert supervisor.wait(timeout=30) == STARTUP_FAILURE
        finally:
            supervisor.kill()


def test_the_processes_metrics_directory_lives_as_long_as_they_do(monkeypatch, tmp_path) -> None:
    """serve() names a fresh, empty directory for the processes' metrics (shared.metrics)
    while they run, then removes it and puts the environment back as it was."""
    from shared.metrics import MULTIPROC_DIR
    from shared.web_workers import _shared_metrics

    monkeypatch.delenv(MULTIPROC_DIR, raising=False)
    with _shared_metrics() as path:
        assert os.environ[MULTIPROC_DIR] == path and os.listdir(path) == []
        Path(path, "counter_1.db").write_bytes(b"x")
    assert MULTIPROC_DIR not in os.environ and not Path(path).exists()

    monkeypatch.setenv(MULTIPROC_DIR, str(tmp_path))  # someone's own: kept
    with _shared_metrics() as path:
        assert path != str(tmp_path)
    assert os.environ[MULTIPROC_DIR] == str(tmp_path) and tmp_path.exists()
