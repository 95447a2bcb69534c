"""Prometheus metrics shared by every service (one registry per process; the
`service` label tells the services apart in the embedded default)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUEST_LATENCY = Histogram(
    "cairn_http_request_duration_seconds", "HTTP request latency",
    ["service", "method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
# `log`: what the relay publishes ("outbox", or a table that is its own outbox: "entries")
OUTBOX_BACKLOG = Gauge("cairn_outbox_backlog", "Rows after the relay's watermark (not yet "
                       "published), read every few seconds", ["service", "log"])
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
    "(shared.admission)", ["service"])
ADMISSION_WAITING = Gauge("cairn_http_admission_waiting",
                          "Large requests waiting in line for the body budget", ["service"])
ADMISSION_REFUSED = Counter("cairn_http_admission_refused_total",
                            "Requests answered 503 overloaded after waiting in line",
                            ["service"])
