"""The embedded default (`cairn run`, as `make run` starts it) for the end-to-end tests:
one process, PostgreSQL from the wheel under CAIRN_DATA_DIR, the in-process bus, the
demo consortium, on CAIRN_PORT, with tokens signed by CAIRN_AUTH_SECRET."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_production_processes import free_port

SECRET = "a-private-secret-for-this-test-only-0123456789"


@contextmanager
def cairn_run(directory: Path) -> Iterator[str]:
    """`cairn run` with its data and log in `directory`; its base URL once healthy."""
    port = free_port()
    env = {**os.environ, "CAIRN_PORT": str(port), "CAIRN_DATA_DIR": str(directory / "data"),
           "CAIRN_AUTH_SECRET": SECRET}
    for name in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "CAIRN_BUS"):
        env.pop(name, None)  # the embedded default needs neither
    log = open(directory / "cairn.log", "w")  # noqa: SIM115
    process = subprocess.Popen([shutil.which("cairn") or "cairn", "run"], env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log.flush()
                raise AssertionError("cairn run did not start:\n" +
                                     (directory / "cairn.log").read_text()[-4000:])
            time.sleep(0.5)
        yield base
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            log.close()


@pytest.fixture
def embedded(tmp_path):
    with cairn_run(tmp_path) as base:
        yield base, tmp_path


@pytest.fixture(scope="module")
def embedded_for_module(tmp_path_factory):
    """One `cairn run` for a whole module (its tests must not depend on each other's
    writes)."""
    with cairn_run(tmp_path_factory.mktemp("cairn-run")) as base:
        yield base
