"""The production shape, as processes: each service started with the same commands
docker-compose.yml uses (`python -m <svc> migrate|api|relay|consumer|rebuild`), on the
real PostgreSQL and Kafka, talking only through the broker."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.test_catalogue_api import COURSE, member
from tests.plugins.services import ADMIN, auth

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Processes:
    def __init__(self, env: dict[str, str], log_dir) -> None:
        self.env, self.log_dir, self.running = env, log_dir, []

    def start(self, service: str, command: str, *args: str, **env: str) -> subprocess.Popen:
        log = open(self.log_dir / f"{service}-{command}-{len(self.running)}.log", "w")  # noqa: SIM115
        process = subprocess.Popen([sys.executable, "-m", service, command, *args],
                                   env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT)
        self.running.append((process, log))
        return process

    def run(self, service: str, command: str, *args: str, timeout: float = 120) -> None:
        result = subprocess.run([sys.executable, "-m", service, command, *args], env=self.env,
                                capture_output=True, text=True, timeout=timeout)
        assert result.returncode == 0, f"{service} {command} failed:\n{result.stderr[-3000:]}"

    def stop(self, process: subprocess.Popen) -> None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def stop_all(self) -> None:
        for process, log in self.running:
            if process.poll() is None:
                self.stop(process)
            log.close()

    def logs(self) -> str:
        return "\n".join(f"--- {p.args[2:4]}\n" + open(log.name).read()[-2000:]
                         for p, log in self.running)


@pytest.fixture
def processes(migrated_database, kafka_bootstrap, tmp_path) -> Iterator[Processes]:
    env = {**os.environ, "DATABASE_URL": migrated_database,
           "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "CAIRN_BUS": "kafka",
           "CAIRN_MODE": "local", "CAIRN_LOG_LEVEL": "INFO", "CAIRN_RELAY_IDLE_SECONDS": "0.05"}
    procs = Processes(env, tmp_path)
    yield procs
    procs.stop_all()


def wait_ready(port: int, procs: Processes, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"port {port} never became ready\n{procs.logs()}")


def replica_counts(port: int) -> dict:
    response = httpx.get(f"http://127.0.0.1:{port}/v1/catalogue-replica", headers=ADMIN,
                         timeout=5)
    assert response.status_code == 200, response.text
    return response.json()["counts"]


def relay_sample(port: int, name: str) -> float:
    """The catalogue outbox relay's sample `name` from its metrics port (-1: not yet)."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return -1
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == {"service": "catalogue",
                                                         "log": "outbox"}:
                return sample.value
    return -1


def replica_reads(port: int) -> float:
    """How many `GET /v1/catalogue-replica` the ledger's API answered 200, by its
    /metrics."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return sum(sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples
               if sample.name == "cairn_http_request_duration_seconds_count"
               and sample.labels.get("route") == "/v1/catalogue-replica"
               and sample.labels.get("method") == "GET" and sample.labels.get("status") == "200")


def wait_for(check, what: str, procs: Processes, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{procs.logs()}")
        time.sleep(0.3)


def test_services_as_separate_processes_talk_through_kafka(processes: Processes) -> None:
    for service in ("catalogue", "ledger"):
        processes.run(service, "migrate")  # idempotent: already at head
    processes.run("catalogue", "topics")
    catalogue_port, ledger_port = free_port(), free_port()
    processes.start("catalogue", "api", CAIRN_PORT=str(catalogue_port))
    relay_metrics = free_port()
    processes.start("catalogue", "relay", CAIRN_METRICS_PORT=str(relay_metrics))
    ledger_api = processes.start("ledger", "api", CAIRN_PORT=str(ledger_port),
                                 CAIRN_WEB_WORKERS="2")
    consumer = processes.start("ledger", "consumer")
    wait_ready(catalogue_port, processes)
    wait_ready(ledger_port, processes)
    children = Path(f"/proc/{ledger_api.pid}/task/{ledger_api.pid}/children").read_text().split()
    workers = [pid for pid in children  # not multiprocessing's resource tracker
               if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    assert len(workers) == 2, "CAIRN_WEB_WORKERS=2: two API processes on one port"

    base = f"http://127.0.0.1:{catalogue_port}"
    iid = f"proc-{uuid.uuid4().hex[:8]}"
    assert httpx.put(f"{base}/v1/institutions/{iid}", json=member(), headers=ADMIN
                     ).status_code == 201
    before = replica_counts(ledger_port)
    for code in ("PX1", "PX2", "PX3"):
        response = httpx.put(f"{base}/v1/institutions/{iid}/courses/{code}", json=COURSE,
                             headers=auth("institution", iid))
        assert response.status_code == 201, response.text
    wait_for(lambda: replica_counts(ledger_port)["courses"] >= before["courses"] + 3,
             "the ledger's replica to receive three courses", processes)
    settled = replica_counts(ledger_port)

    # Rebuild from offset zero with the consumer stopped (it shares the group).
    processes.stop(consumer)
    processes.run("ledger", "rebuild", "catalogue-replica")
    assert replica_counts(ledger_port) == settled

    metrics = httpx.get(f"http://127.0.0.1:{catalogue_port}/metrics").text
    assert "cairn_http_request_duration_seconds_bucket" in metrics
    # The relay has no API: it serves its own metrics on CAIRN_METRICS_PORT.
    wait_for(lambda: relay_sample(relay_metrics, "cairn_outbox_published_total") >= 4
             and relay_sample(relay_metrics, "cairn_outbox_backlog") == 0,
             "the relay's metrics: four events published, nothing left", processes)
    # The ledger's two API processes answer /metrics alike, with both processes' counts:
    # each request and each scrape on a new connection, which the kernel gives to
    # either process.
    before = replica_reads(ledger_port)
    for _ in range(20):
        replica_counts(ledger_port)
    scrapes = [replica_reads(ledger_port) for _ in range(8)]
    assert scrapes == [before + 20] * 8, (before, scrapes)
    docs = httpx.get(f"{base}/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
