"""The results' fast path (entrypoints.http.result_wire) reads a result exactly as the
general reader (domain.result_json) does, or leaves it to it: never a result the general
reader refuses, never a value read otherwise ("15.0" stays "15.0"), and a body the
general path refuses whole is left to it whole."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ledger.domain.result_json import parse_submission
from ledger.domain.results import ResultSubmission
from ledger.entrypoints.http import result_wire
from ledger.entrypoints.http.result_wire import decode_batch, decode_result
from shared.domain.errors import RuleViolation
from tests.unit.ledger.builders import BODY
from tests.unit.ledger.test_result_schema import REFUSED


def batch(*items: Any) -> bytes:
    # the standard library writes integers of any size, as a client may
    return json.dumps({"results": list(items)}).encode()


def general(item: Any) -> ResultSubmission | None:
    try:
        return parse_submission(item)
    except RuleViolation:
        return None


def assert_read_as_the_general_reader_would(raw: bytes) -> None:
    items = decode_batch(raw, 10)
    expected = orjson.loads(raw)["results"]
    assert items is not None and len(items) == len(expected)
    for item, given_item in zip(items, expected, strict=True):
        if isinstance(item, ResultSubmission):
            read = general(given_item)
            assert read is not None, "taken by the fast path, refused by the general reader"
            assert repr(item) == repr(read)  # repr: Decimal("15.0") is not Decimal("15")
        else:
            assert item == given_item  # left to the general reader as its parsed JSON
        single = decode_result(json.dumps(given_item).encode())  # POST /results: the same
        assert (single is None) if not isinstance(item, ResultSubmission) else (
            repr(single) == repr(item))


def test_the_design_body_takes_the_fast_path() -> None:
    [item] = decode_batch(batch(BODY), 10)
    assert isinstance(item, ResultSubmission)
    assert repr(item) == repr(parse_submission(BODY))


@pytest.mark.parametrize("body", REFUSED)
def test_what_the_general_reader_refuses_is_left_to_it(body) -> None:
    [item] = decode_batch(batch(body), 10)
    assert item == body
    assert decode_result(json.dumps(body).encode()) is None


@pytest.mark.parametrize("changes", [
    {"credit": {"value": 15, "scheme": "ECTS"}},
    {"credit": {"value": "15.0", "scheme": "CATS"}},
    {"credit": {"value": " 7.5 ", "scheme": "SCQF"}},
    {"credit": {"value": "1_5", "scheme": "CATS"}},
    {"credit": {"value": "NaN", "scheme": "CATS"}},
    {"credit": {"value": 2**70, "scheme": "CATS"}},  # orjson: a float; refused
    {"credit": {"value": -(2**63) - 1, "scheme": "CATS"}},
    {"credit": {"value": "0", "scheme": "CATS"}},
    {"assessed_on": "2026-W25-6"},  # Python 3.11 reads an ISO week date
    {"assessed_on": "20260620"},
    {"assessed_on": "2026-02-30"},
    {"level": {"framework": "EQF", "value": 9}},
    {"level": {"framework": "FHEQ", "value": True}},
    {"subjects": [{"hecos": "100366", "percent": "60"}, {"hecos": "100367", "percent": 40}]},
    {"subjects": [{"hecos": " ", "percent": 100}]},
    {"course": None, "origin": "rpl"},
    {"course": {"institution_id": " ", "code": "X"}},
    {"origin": None},
    {"notional_hours": 150},
    {"notional_hours": 0},
    {"notional_hours": 2**64},
    {"grade": {"scale": "UK-PERCENT", "value": ""}},
    {"eu": {"country": "IE"}},
    {"eu": None},
    {"title": "\u00e9\u00e8 \U0001f600"},
])
def test_each_variant_reads_as_the_general_reader_reads_it(changes) -> None:
    assert_read_as_the_general_reader_would(batch({**BODY, **changes}))


def test_values_shared_between_results_are_each_read_as_given() -> None:
    """The fast path builds a repeated value (a credit, a level, subjects, a course, a
    grade) once and shares it: the same number given as "15", 15 and "15.0" stays three
    values, a refused value is refused each time, and each table stays bounded."""
    variants = [{"credit": {"value": v, "scheme": "CATS"},
                 "subjects": [{"hecos": "100366", "percent": p}],
                 "grade": {"scale": "UK-PERCENT", "value": g}}
                for v, p, g in (("15", 100, "68"), (15, "100", "68"), ("15.0", "100.0", "68 "),
                                ("0", 100, "68"), ("15", 100, "68"), ("0", 100, "68"))]
    items = [{**BODY, **changes} for changes in variants]
    for _ in range(2):  # the second time from the shared values
        assert_read_as_the_general_reader_would(batch(*items))
    credits = [i.credit.value for i in decode_batch(batch(*items), 10)
               if isinstance(i, ResultSubmission)]
    assert [str(c) for c in credits] == ["15", "15", "15.0", "15"]

    many = [{**BODY, "result_id": f"r-{n}", "grade": {"scale": "UK-PERCENT", "value": str(n)}}
            for n in range(result_wire._KEEP + 10)]
    assert all(isinstance(i, ResultSubmission) for i in decode_batch(
        orjson.dumps({"results": many}), len(many)))
    assert 0 < len(result_wire._grades) <= result_wire._KEEP


JSON = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(-(2**66), 2**66)
    | st.sampled_from(["", " ", "15", "15.0", "7.5", "-1", "NaN", "Infinity", "1e3", "2026-06-20",
                      "2026-W25-6", "CATS", "ECTS", "FHEQ", "EQF", "member", "rpl", "100366"])
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=6)
PATHS = [(key,) for key in BODY] + [("credit", "value"), ("credit", "scheme"),
                                    ("level", "value"), ("level", "framework"),
                                    ("grade", "value"), ("course", "code"), ("notional_hours",),
                                    ("eu",), ("colour",)]


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.lists(st.tuples(st.sampled_from(PATHS), JSON | st.just(KeyError)),
                        max_size=3))
@example(changes=[(("credit", "value"), 2**64)])
@example(changes=[(("level", "value"), -(2**63) - 1)])
def test_any_change_reads_as_the_general_reader_reads_it(changes) -> None:
    body = json.loads(json.dumps(BODY))
    for path, value in changes:
        parent = body
        for key in path[:-1]:
            parent = parent[key] if isinstance(parent.get(key), dict) else {}
        if value is KeyError:
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = value
    assert_read_as_the_general_reader_would(batch(body, BODY))


@pytest.mark.parametrize("raw", [
    b"[]", b'{"results": []}', b'{"results": {}}', b'{"results": [1], "dry_run": true}',
    b'{"results": [' + b",".join([orjson.dumps(BODY)] * 11) + b"]}",
    b'{"results": [{"a": 1e999}]}',  # orjson refuses infinity
    b'{"results": [1,]}', b'{"results": ["\\ud800"]}',
])
def test_a_body_the_general_path_must_judge_is_left_whole(raw) -> None:
    assert decode_batch(raw, 10) is None
