"""The statement benchmark's reading of the API's own latency (benchmarks._ledger_stack):
the answers counted between two readings of its histogram, and the bucket each quantile
falls in."""

from __future__ import annotations

import math

from benchmarks._ledger_stack import served_quantiles

INF = math.inf


def test_quantiles_come_from_the_answers_between_the_two_readings():
    before = {0.001: 900.0, 0.0025: 1000.0, 0.005: 1000.0, INF: 1000.0}
    # 1,000 more: 500 within 1 ms, 490 within 2.5 ms, 10 within 5 ms
    after = {0.001: 1400.0, 0.0025: 1990.0, 0.005: 2000.0, INF: 2000.0}
    assert served_quantiles(before, after) == "p50 ≤ 1 ms, p99 ≤ 2.5 ms (1,000 answers)"
    # answers before the first reading (all slow here) are not counted
    slow_start = {0.001: 0.0, 0.0025: 0.0, 0.005: 1000.0, INF: 1000.0}
    fast_then = {0.001: 1000.0, 0.0025: 1000.0, 0.005: 2000.0, INF: 2000.0}
    assert served_quantiles(slow_start, fast_then) == "p50 ≤ 1 ms, p99 ≤ 1 ms (1,000 answers)"
    assert served_quantiles({}, fast_then) == "p50 ≤ 1 ms, p99 ≤ 5 ms (2,000 answers)"
    slow = {0.001: 900.0, 0.0025: 1000.0, 0.005: 1000.0, INF: 1100.0}
    assert served_quantiles(before, slow) == "p50 more than 5 ms, p99 more than 5 ms (100 answers)"


def test_no_answers_between_the_readings_is_said_so():
    reading = {0.001: 5.0, INF: 5.0}
    assert served_quantiles(reading, reading) == "-"
