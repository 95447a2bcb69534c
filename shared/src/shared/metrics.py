"""Prometheus metrics shared by every service (one registry per process; the
`service` label tells the services apart in the embedded default).

Several API processes on one port (CAIRN_WEB_WORKERS > 1, shared.web_workers) share
one exposition: their supervisor gives them a directory in PROMETHEUS_MULTIPROC_DIR
before they start, each writes its values there (prometheus_client's multiprocess
mode), and `exposition()` in any of them sums them. Without it a scrape got whichever
process the kernel gave the connection to: one process's counts, a different one at
each scrape. Gauges say how the processes' values combine (`multiprocess_mode`)."""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's own setting

REQUEST_LATENCY = Histogram(
    "cairn_http_request_duration_seconds", "HTTP request latency",
    ["service", "method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
# `log`: what the relay publishes ("outbox", or a table that is its own outbox: "entries")
BACKLOG_COUNTED_UP_TO = 100_000  # a relay's report counts no further (shared.messaging.log_relay)
OUTBOX_BACKLOG = Gauge("cairn_outbox_backlog", "Rows after the relay's watermark (not yet "
                       "published), read every few seconds; counted up to "
                       f"{BACKLOG_COUNTED_UP_TO:,} (more wait when it reads that)",
                       ["service", "log"])
OUTBOX_OLDEST = Gauge("cairn_outbox_oldest_unpublished_seconds", "Age of the oldest row not "
                      "yet published (0: none); grows while a transaction left open holds "
                      "the relay back", ["service", "log"])
OUTBOX_PUBLISHED = Counter("cairn_outbox_published_total", "Events published by the relay",
                           ["service", "log"])
CONSUMER_LAG = Gauge("cairn_consumer_lag", "Records behind the end of the topics",
                     ["service", "consumer"])
EVENTS_CONSUMED = Counter("cairn_events_consumed_total", "Events handled by consumers",
                          ["service", "consumer", "outcome"])
ADMISSION_IN_FLIGHT = Gauge(
    "cairn_http_admission_bytes_in_flight", "Request-body bytes being worked on "
    "(shared.admission)", ["service"], multiprocess_mode="livesum")
ADMISSION_WAITING = Gauge("cairn_http_admission_waiting",
                          "Large requests waiting in line for the body budget", ["service"],
                          multiprocess_mode="livesum")
ADMISSION_REFUSED = Counter("cairn_http_admission_refused_total",
                            "Requests answered 503 overloaded after waiting in line",
                            ["service"])


def exposition() -> tuple[bytes, str]:
    """This process's metrics in Prometheus's text format, or those of every API process
    of the port when they share a PROMETHEUS_MULTIPROC_DIR (module docstring); and the
    content type."""
    path = os.environ.get(MULTIPROC_DIR)
    if not path:
        return generate_latest(), CONTENT_TYPE_LATEST
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=path)
    return generate_latest(registry), CONTENT_TYPE_LATEST
