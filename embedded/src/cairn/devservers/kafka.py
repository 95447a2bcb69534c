"""A real single-node Apache Kafka 4.1 broker (KRaft: broker + controller in one JVM), no Docker.

The broker jars come from Maven Central through ``tools/kafka/pom.xml`` and are cached in
``<repo>/.cache/kafka/lib`` (see :func:`ensure_kafka_jars`).  :func:`start_kafka` writes a
``server.properties`` and a log4j2 config into a work dir, formats the storage once
(``kafka.tools.StorageTool``), starts ``java ... kafka.Kafka`` on two free loopback ports
and returns only when a real client request (admin metadata: brokers + topics) succeeds.

The JVM is a child of this process in its own session (Ctrl-C in a terminal reaches only
Python, which then stops the broker in order).  It is stopped by :meth:`KafkaServer.stop`,
by an ``atexit`` hook, and by a watchdog process if this process is killed.
"""

from __future__ import annotations

import atexit
import base64
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from cairn.devservers import (
    Reaper,
    cache_dir,
    free_port,
    port_is_free,
    repo_root,
    run_coroutine_sync,
)

__all__ = [
    "KafkaServer",
    "KafkaStartError",
    "default_lib_dir",
    "ensure_kafka_jars",
    "kafka_version_from_jars",
    "start_kafka",
]

log = logging.getLogger(__name__)

_MARKER = ".cairn-fetched"
_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies"


class KafkaStartError(RuntimeError):
    """The broker did not become ready; the message carries the tail of its log."""


# --------------------------------------------------------------------------- jars


def default_lib_dir() -> Path:
    env = os.environ.get("CAIRN_KAFKA_LIB")
    return Path(env).resolve() if env else cache_dir() / "kafka" / "lib"


def _pom_expectations(pom: Path) -> list[str]:
    """Jar file names that must be present for the pom's versions."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    props = ET.parse(pom).getroot().find("m:properties", ns)
    kafka_v = props.findtext("m:kafka.version", namespaces=ns) if props is not None else None
    log4j_v = props.findtext("m:log4j.version", namespaces=ns) if props is not None else None
    expected = [f"kafka_2.13-{kafka_v}.jar", f"kafka-clients-{kafka_v}.jar"] if kafka_v else []
    if log4j_v:
        expected += [f"log4j-core-{log4j_v}.jar", f"log4j-slf4j-impl-{log4j_v}.jar"]
    return expected


def _lib_complete(lib: Path, pom: Path, digest: str) -> bool:
    if not (lib / _MARKER).is_file():
        return False
    if (lib / _MARKER).read_text().strip() != digest:
        return False
    return all((lib / name).is_file() for name in _pom_expectations(pom))


def ensure_kafka_jars(lib_dir: Path | None = None, *, pom: Path | None = None) -> Path:
    """Make sure the broker jars for ``tools/kafka/pom.xml`` are in ``lib_dir`` (default
    ``<repo>/.cache/kafka/lib``) and return it.

    Idempotent and safe to run concurrently: a marker file holds the pom's sha256, so a
    changed pom refetches; Maven writes into a temporary sibling directory that replaces
    ``lib_dir`` only when complete; an exclusive file lock serialises concurrent fetches.
    With ``CAIRN_KAFKA_LIB`` set (and no ``lib_dir``), that directory is used as is.
    """
    if lib_dir is None and os.environ.get("CAIRN_KAFKA_LIB"):
        lib = default_lib_dir()
        if not list(lib.glob("kafka_2.13-*.jar")):
            raise RuntimeError(f"CAIRN_KAFKA_LIB={lib} holds no kafka_2.13-*.jar")
        return lib
    lib = Path(lib_dir).resolve() if lib_dir else default_lib_dir()
    pom = Path(pom).resolve() if pom else repo_root() / "tools" / "kafka" / "pom.xml"
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()
    if _lib_complete(lib, pom, digest):
        return lib

    lib.parent.mkdir(parents=True, exist_ok=True)
    with open(lib.parent / ".fetch.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _lib_complete(lib, pom, digest):  # another process fetched while we waited
            return lib
        expected = _pom_expectations(pom)
        if (
            lib.is_dir()
            and not (lib / _MARKER).exists()
            and expected
            and all((lib / name).is_file() for name in expected)
            and list(lib.glob("scala-library-*.jar"))
        ):
            # fetched by hand with the documented mvn command: adopt it
            (lib / _MARKER).write_text(digest + "\n")
            return lib
        mvn = shutil.which("mvn")
        if mvn is None:
            raise RuntimeError(
                f"the Kafka broker jars are missing from {lib} and Maven (`mvn`) is not on PATH; "
                "install it (Debian: apt-get install -y maven openjdk-17-jre-headless) or point "
                "CAIRN_KAFKA_LIB at a directory holding the jars"
            )
        tmp = Path(tempfile.mkdtemp(prefix=".lib-", dir=lib.parent))
        cmd = [
            mvn,
            "-q",
            "-B",
            "-f",
            str(pom),
            _DEPENDENCY_PLUGIN,
            "-DincludeScope=runtime",
            f"-DoutputDirectory={tmp}",
        ]
        log.info("fetching Kafka broker jars: %s", " ".join(cmd))
        started = time.monotonic()
        result = subprocess.run(
            cmd, check=False, capture_output=True, text=True, stdin=subprocess.DEVNULL
        )
        if result.returncode != 0 or not all((tmp / n).is_file() for n in expected):
            shutil.rmtree(tmp, ignore_errors=True)
            raise RuntimeError(
                f"fetching Kafka jars with Maven failed (exit {result.returncode}):\n"
                f"$ {' '.join(cmd)}\n{result.stdout[-4000:]}{result.stderr[-4000:]}"
            )
        (tmp / _MARKER).write_text(digest + "\n")
        if lib.exists():
            old = lib.with_name(f".old-{lib.name}-{os.getpid()}")
            lib.rename(old)
            tmp.rename(lib)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(lib)
        log.info("Kafka jars fetched into %s in %.1fs", lib, time.monotonic() - started)
        return lib


def kafka_version_from_jars(lib: Path) -> str:
    """``"4.1.1"`` from ``kafka_2.13-4.1.1.jar``."""
    for jar in sorted(Path(lib).glob("kafka_2.13-*.jar")):
        m = re.fullmatch(r"kafka_2\.13-(.+)\.jar", jar.name)
        if m and not m.group(1).endswith(("-sources", "-test")):
            return m.group(1)
    raise RuntimeError(f"no kafka_2.13-*.jar in {lib}")


# --------------------------------------------------------------------------- config


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise RuntimeError(
            "`java` (17+) is needed to run the Kafka broker; Debian: "
            "apt-get install -y openjdk-17-jre-headless"
        )
    return java


def _server_properties(data: Path, port: int, controller_port: int, extra: dict[str, str]) -> str:
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        # Static quorum (no --standalone): nothing port-specific is persisted in the
        # metadata log, so a persistent work dir can restart on different ports.
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data),
        "num.partitions": "6",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "auto.create.topics.enable": "true",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "10",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "num.recovery.threads.per.data.dir": "1",
    }
    props.update(extra)
    lines = ["# written by cairn.devservers.kafka; regenerated at every start"]
    lines += [f"{k}={v}" for k, v in props.items()]
    return "\n".join(lines) + "\n"


def _log4j2_properties(log_file: Path) -> str:
    return f"""\
# written by cairn.devservers.kafka
status = warn
name = cairn-kafka
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {log_file}
appender.file.append = true
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = WARN
"""


def _cluster_id() -> str:
    """What ``StorageTool random-uuid`` prints (Kafka's Uuid: 16 random bytes, base64url
    without padding, never starting with '-'), without paying for a JVM start."""
    while True:
        text = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
        if not text.startswith("-"):
            return text


def _tail(path: Path, lines: int = 40) -> str:
    try:
        with path.open(encoding="utf-8", errors="replace") as fh:
            return "".join(deque(fh, maxlen=lines))
    except OSError:
        return f"(no log at {path})"


# --------------------------------------------------------------------------- server


@dataclass
class KafkaServer:
    """A running broker started by :func:`start_kafka`."""

    bootstrap_servers: str
    port: int
    controller_port: int
    work_dir: Path
    version: str
    log_file: Path
    process: subprocess.Popen = field(repr=False)
    startup_seconds: float = 0.0
    ephemeral: bool = False
    _reaper: Reaper | None = field(default=None, repr=False)
    _stopped: bool = field(default=False, repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def is_running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log_file, lines)

    def stop(self, timeout: float = 20.0) -> None:
        """Controlled shutdown (SIGTERM), SIGKILL after ``timeout``; removes the work dir
        if it was a temporary one.  Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        if self.process.poll() is None:
            try:
                self.process.send_signal(signal.SIGTERM)
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log.warning(
                    "Kafka broker pid %s ignored SIGTERM for %.0fs; killing", self.pid, timeout
                )
                self.process.kill()
                self.process.wait()
        if self._reaper is not None:
            self._reaper.disarm()
        (self.work_dir / "kafka.pid").unlink(missing_ok=True)
        if self.ephemeral:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _probe(bootstrap: str) -> tuple[int, list[str]]:
    """One real admin round trip: (number of brokers in the cluster metadata, topics)."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=5000, client_id="cairn-devservers-probe"
    )
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
        topics = await admin.list_topics()
        return len(cluster.get("brokers", [])), list(topics)
    finally:
        await admin.close()


def _wait_ready(
    proc: subprocess.Popen, bootstrap: str, timeout: float, log_file: Path, out_file: Path
) -> None:
    import asyncio

    async def loop() -> None:
        deadline = time.monotonic() + timeout
        last: BaseException | None = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise KafkaStartError(
                    f"Kafka broker exited with code {proc.returncode} during start-up.\n"
                    f"--- tail of {log_file} ---\n{_tail(log_file)}"
                    f"--- tail of {out_file} ---\n{_tail(out_file, 20)}"
                )
            try:
                brokers, _ = await asyncio.wait_for(_probe(bootstrap), timeout=10)
                if brokers >= 1:
                    return
                last = RuntimeError("metadata lists no live broker yet")
            except Exception as exc:
                last = exc
            await asyncio.sleep(0.25)
        raise KafkaStartError(
            f"Kafka broker at {bootstrap} not ready after {timeout:.0f}s (last error: {last!r}).\n"
            f"--- tail of {log_file} ---\n{_tail(log_file)}"
            f"--- tail of {out_file} ---\n{_tail(out_file, 20)}"
        )

    # aiokafka logs every refused connection at ERROR while the JVM boots: keep quiet.
    quiet = [logging.getLogger(n) for n in ("aiokafka", "aiokafka.conn", "aiokafka.client")]
    levels = [lg.level for lg in quiet]
    for lg in quiet:
        lg.setLevel(logging.CRITICAL)
    try:
        run_coroutine_sync(loop)
    finally:
        for lg, level in zip(quiet, levels, strict=True):
            lg.setLevel(level)


def _previous_ports(work_dir: Path) -> tuple[int | None, int | None]:
    try:
        saved = json.loads((work_dir / "ports.json").read_text())
        return int(saved["port"]), int(saved["controller_port"])
    except (OSError, ValueError, KeyError, TypeError):
        return None, None


def _refuse_if_running(work_dir: Path) -> None:
    from cairn.devservers import pid_alive

    pidfile = work_dir / "kafka.pid"
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    if pid_alive(pid):
        try:
            cmdline = (
                Path(f"/proc/{pid}/cmdline")
                .read_bytes()
                .replace(b"\0", b" ")
                .decode(errors="replace")
            )
        except OSError:
            cmdline = ""
        if "kafka.Kafka" in cmdline:
            raise KafkaStartError(
                f"a Kafka broker (pid {pid}) is already running with work dir {work_dir}; "
                f"stop it first (kill {pid})"
            )
    pidfile.unlink(missing_ok=True)


def start_kafka(
    work_dir: Path | None = None,
    *,
    port: int | None = None,
    controller_port: int | None = None,
    heap: str = "512m",
    timeout: float | None = None,
    lib_dir: Path | None = None,
    extra_properties: dict[str, str] | None = None,
) -> KafkaServer:
    """Start a single-node KRaft broker and return once a client request succeeds.

    ``work_dir`` holds ``server.properties``, ``log4j2.properties``, ``data/`` (the log
    dirs) and ``logs/server.log``.  It is kept (a later start reuses its data, and its
    previous ports when they are still free); ``None`` uses a temporary directory that is
    deleted on stop.  Ports default to free loopback ports.  ``timeout`` defaults to
    ``$CAIRN_KAFKA_START_TIMEOUT`` or 120 s.

    Raises :class:`KafkaStartError` (with the tail of the broker log) if the broker dies or
    is not ready in time.
    """
    started = time.monotonic()
    lib = ensure_kafka_jars(lib_dir)
    version = kafka_version_from_jars(lib)
    java = _java()
    if timeout is None:
        timeout = float(os.environ.get("CAIRN_KAFKA_START_TIMEOUT", "120"))

    ephemeral = work_dir is None
    work = Path(tempfile.mkdtemp(prefix="cairn-kafka-")) if ephemeral else Path(work_dir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    _refuse_if_running(work)
    data = work / "data"
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    log_file = logs / "server.log"
    out_file = logs / "stdout.log"
    props_file = work / "server.properties"
    log4j_file = work / "log4j2.properties"
    log4j_file.write_text(_log4j2_properties(log_file))
    classpath = f"{lib}/*"

    attempts = 1 if (port and controller_port) else 3
    for attempt in range(1, attempts + 1):
        p, c = port, controller_port
        if p is None or c is None:
            prev_p, prev_c = _previous_ports(work) if attempt == 1 else (None, None)
            if p is None:
                p = prev_p if prev_p and port_is_free(prev_p) else free_port()
            if c is None:
                c = (
                    prev_c
                    if prev_c and prev_c != p and port_is_free(prev_c)
                    else free_port(avoid={p})
                )
        props_file.write_text(_server_properties(data, p, c, extra_properties or {}))
        (work / "ports.json").write_text(json.dumps({"port": p, "controller_port": c}))

        if not (data / "meta.properties").exists():
            cmd = [
                java,
                "-Xmx256m",
                f"-Dlog4j2.configurationFile={log4j_file}",
                "-cp",
                classpath,
                "kafka.tools.StorageTool",
                "format",
                "-t",
                _cluster_id(),
                "-c",
                str(props_file),
            ]
            fmt = subprocess.run(
                cmd, check=False, capture_output=True, text=True, stdin=subprocess.DEVNULL
            )
            if fmt.returncode != 0:
                raise KafkaStartError(
                    f"formatting Kafka storage failed (exit {fmt.returncode}):\n$ {' '.join(cmd)}\n"
                    f"{fmt.stdout[-3000:]}{fmt.stderr[-3000:]}\n--- tail of {log_file} ---\n{_tail(log_file)}"
                )

        bootstrap = f"127.0.0.1:{p}"
        cmd = [
            java,
            f"-Xms{heap}",
            f"-Xmx{heap}",
            "-server",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:InitiatingHeapOccupancyPercent=35",
            "-XX:+ExplicitGCInvokesConcurrent",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j_file}",
            f"-Dkafka.logs.dir={logs}",
            "-cp",
            classpath,
            "kafka.Kafka",
            str(props_file),
        ]
        with out_file.open("ab") as out:
            proc = subprocess.Popen(
                cmd,
                cwd=work,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        (work / "kafka.pid").write_text(f"{proc.pid}\n")
        reaper = Reaper(
            {
                "kind": "process",
                "pid": proc.pid,
                "grace": 20,
                "remove": str(work) if ephemeral else None,
            }
        )
        server = KafkaServer(
            bootstrap_servers=bootstrap,
            port=p,
            controller_port=c,
            work_dir=work,
            version=version,
            log_file=log_file,
            process=proc,
            ephemeral=ephemeral,
            _reaper=reaper,
        )
        atexit.register(server.stop)
        try:
            _wait_ready(proc, bootstrap, timeout, log_file, out_file)
        except KafkaStartError as exc:
            in_use = "Address already in use" in _tail(log_file, 200) + _tail(out_file, 50)
            keep = server.ephemeral
            server.ephemeral = False  # keep the logs for the error message / next attempt
            server.stop(timeout=5)
            server.ephemeral = keep
            if in_use and attempt < attempts:
                log.warning("Kafka port race (%s), retrying on other ports", exc)
                continue
            if ephemeral:
                exc.args = (exc.args[0] + f"\n(work dir kept for inspection: {work})",)
            raise
        running = _version_from_log(log_file)
        if running:
            server.version = running
        server.startup_seconds = time.monotonic() - started
        log.info(
            "Kafka %s ready at %s in %.1fs (pid %s, work dir %s)",
            server.version,
            bootstrap,
            server.startup_seconds,
            proc.pid,
            work,
        )
        return server
    raise AssertionError("unreachable")


def _version_from_log(log_file: Path) -> str | None:
    """The version the running broker reports at start-up (AppInfoParser: 'Kafka version: X')."""
    found = None
    try:
        with log_file.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                m = re.search(r"Kafka version: (\S+)", line)
                if m:
                    found = m.group(1)  # last start wins (the log is appended to)
    except OSError:
        return None
    return found
