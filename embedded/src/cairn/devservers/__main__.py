"""``python -m cairn.devservers`` - run Cairn's own PostgreSQL and Kafka without Docker.

up      start PostgreSQL 18 and Kafka 4.1 (data under .cache/devservers/), print
        ``export DATABASE_URL=...`` / ``export KAFKA_BOOTSTRAP_SERVERS=...`` on stdout
        (everything else goes to stderr, so ``eval`` of stdout is safe) and keep running
        until Ctrl-C / SIGTERM / SIGHUP; both servers stop with this process, even on kill -9.
fetch   only download the Kafka broker jars into .cache/kafka/lib (CI warm-up); idempotent.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import shutil
import signal
import sys
import time
from pathlib import Path
from types import FrameType


def _err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _fetch(_: argparse.Namespace) -> int:
    from cairn.devservers.kafka import ensure_kafka_jars, kafka_version_from_jars

    started = time.monotonic()
    lib = ensure_kafka_jars()
    _err(
        f"Kafka {kafka_version_from_jars(lib)} broker jars ready in {lib} "
        f"({len(list(lib.glob('*.jar')))} jars, {time.monotonic() - started:.1f}s)"
    )
    return 0


class _Stop(Exception):
    pass


def _raise_stop(signum: int, _frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def _up(args: argparse.Namespace) -> int:
    from cairn.devservers import cache_dir

    base = Path(args.data_dir).resolve() if args.data_dir else cache_dir() / "devservers"
    if args.fresh and base.exists():
        _err(f"--fresh: removing {base}")
        shutil.rmtree(base)
    base.mkdir(parents=True, exist_ok=True)

    # SIGTERM (make, systemd, CI) and SIGHUP (terminal closed) stop in order, like Ctrl-C.
    # SIGINT explicitly too: a background job of a non-interactive shell inherits
    # SIGINT=ignored, and Python keeps an inherited ignore.
    signal.signal(signal.SIGINT, _raise_stop)
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGHUP, _raise_stop)

    kafka = None
    pg_dir = base / "postgres"
    exports: list[str] = []
    try:
        if not args.no_postgres:
            from cairn.devservers.postgres import postgres_version, start_postgres

            t = time.monotonic()
            url = start_postgres(pg_dir, max_connections=args.max_connections)
            _err(
                f"PostgreSQL {postgres_version(url).split()[-1]} ready in {time.monotonic() - t:.1f}s "
                f"(data {pg_dir}, unix socket only)"
            )
            exports.append(f"export DATABASE_URL={shlex.quote(url)}")
        if not args.no_kafka:
            from cairn.devservers.kafka import start_kafka

            kafka = start_kafka(base / "kafka", port=args.kafka_port)
            _err(
                f"Kafka {kafka.version} ready at {kafka.bootstrap_servers} in {kafka.startup_seconds:.1f}s "
                f"(log {kafka.log_file})"
            )
            exports.append(f"export KAFKA_BOOTSTRAP_SERVERS={shlex.quote(kafka.bootstrap_servers)}")
        for line in exports:
            print(line, flush=True)
        _err("dev servers running; Ctrl-C to stop")
        while True:
            time.sleep(1)
            if kafka is not None and not kafka.is_running():
                _err(
                    f"Kafka broker exited (code {kafka.process.returncode}); tail of its log:\n"
                    f"{kafka.log_tail()}"
                )
                return 1
    except (KeyboardInterrupt, _Stop) as why:
        _err(f"stopping dev servers ({why or 'SIGINT'})")
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not abort the stop
        if kafka is not None:
            kafka.stop()
        if not args.no_postgres:
            from cairn.devservers.postgres import stop_postgres

            stop_postgres(pg_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cairn.devservers",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log what the servers' helpers do"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start PostgreSQL and Kafka and keep them running until Ctrl-C")
    up.add_argument("--data-dir", help="default: <repo>/.cache/devservers")
    up.add_argument("--fresh", action="store_true", help="delete the data dir first")
    up.add_argument(
        "--kafka-port",
        type=int,
        default=None,
        help="PLAINTEXT port (default: the previous run's port if free, else a free one)",
    )
    up.add_argument("--max-connections", type=int, default=200)
    up.add_argument("--no-kafka", action="store_true")
    up.add_argument("--no-postgres", action="store_true")
    up.set_defaults(func=_up)
    fetch = sub.add_parser("fetch", help="download the Kafka broker jars only (idempotent)")
    fetch.set_defaults(func=_fetch)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
