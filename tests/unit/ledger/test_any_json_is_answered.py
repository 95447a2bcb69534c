"""Whatever JSON a member sends as a result, the ledger answers it: the item is prepared
(parsed, checked, fingerprinted) or rejected with its fields named — never an exception,
which on the batch endpoint would fail the whole batch with a 500 (issue 4, bad input).
Found by fuzzing the API (schemathesis): `"origin": {}` was a 500."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain.entry_events import entry_from_event
from ledger.service_layer.recording import ItemOutcome, Outcome, _prepare
from tests.unit.ledger.builders import BODY, TODAY

EU = {"country": "NL", "awarding_body": "uni-lowlands", "issued_on": "2026-06-21",
      "learning_outcomes": ["analyse data"], "assessment": "exam", "participation": "online",
      "quality_assurance": "NVAO", "workload_ects": "5", "eqf_level": 7}
FULL = {**BODY, "eu": EU, "notional_hours": 150}

# Any JSON value orjson can give: floats and big integers included.
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
    | st.text(max_size=12) | st.sampled_from(["", " ", "15", "FHEQ", "2026-06-20", "rpl"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                  max_size=3),
    max_leaves=6)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in a result where a value sits: keys of objects, items of lists."""
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += _paths(item, (*prefix, i))
    return out


PATHS = _paths(FULL)


def _replaced(body: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(body, dict):
        return {**body, head: _replaced(body[head], rest, value)}
    return [_replaced(item, rest, value) if i == head else item for i, item in enumerate(body)]


def _answered(item: Any) -> None:
    prepared = _prepare(0, item, TODAY)
    if isinstance(prepared, ItemOutcome):
        assert prepared.outcome is Outcome.REJECTED and prepared.errors
        assert all(isinstance(e["field"], str) and e["reason"] for e in prepared.errors)
    else:  # what is stored reads back: the statement renders it (entry_events)
        entry_from_event({"kind": "recorded", "ledger_seq": 1, "achievement_id": "a",
                          "result": prepared.body})


@settings(max_examples=800, deadline=None)
@given(changes=st.lists(st.tuples(st.sampled_from(PATHS), JSON), min_size=1, max_size=3))
def test_any_value_anywhere_in_a_result_is_answered(changes) -> None:
    body: Any = FULL
    for path, value in changes:
        try:
            body = _replaced(body, path, value)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed that place
    _answered(body)


@settings(max_examples=300, deadline=None)
@given(extra=st.dictionaries(st.text(max_size=10), JSON, max_size=4), item=JSON)
def test_any_json_as_a_whole_result_is_answered(extra, item) -> None:
    _answered(item)
    _answered({**FULL, **extra})


@pytest.mark.parametrize("field", ["origin", "credit.scheme", "level.framework",
                                   "grade.scale", "course.code", "eu.country"])
@pytest.mark.parametrize("value", [{}, [], ["member"], {"member": 1}])
def test_an_object_or_a_list_where_a_name_belongs_is_rejected_and_named(field, value) -> None:
    path = tuple(field.split("."))
    outcome = _prepare(0, _replaced(FULL, path, value), TODAY)
    assert isinstance(outcome, ItemOutcome) and outcome.outcome is Outcome.REJECTED
    assert field in {e["field"] for e in outcome.errors}


@pytest.mark.parametrize(("field", "named"), [("credit", "credit.value"),
                                               ("level", "level.value"),
                                               ("grade", "grade.scale"),
                                               ("course", "course.code")])
def test_an_empty_object_is_rejected_naming_what_it_lacks(field, named) -> None:
    outcome = _prepare(0, {**FULL, field: {}}, TODAY)
    assert isinstance(outcome, ItemOutcome) and outcome.outcome is Outcome.REJECTED
    assert named in {e["field"] for e in outcome.errors}


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("notional_hours", 2**60, "invalid_notional_hours"),  # was an exception: a 500 batch
    ("notional_hours", 100_001, "invalid_notional_hours"),
    ("eu.eqf_level", 2**60, "invalid_level"),  # likewise
    ("eu.eqf_level", 0, "invalid_level"),  # R-LV-1: EQF 1-8
    ("eu.eqf_level", 9, "invalid_level")])
def test_an_integer_out_of_its_range_is_rejected_and_named(field, value, reason) -> None:
    """Found by the test above (hypothesis, 2026-12-03): an integer past 2**53 where any
    positive integer was taken made the fingerprint's canonical JSON raise."""
    outcome = _prepare(0, _replaced(FULL, tuple(field.split(".")), value), TODAY)
    assert isinstance(outcome, ItemOutcome) and outcome.outcome is Outcome.REJECTED
    assert [(e["field"], e["reason"]) for e in outcome.errors] == [(field, reason)]


def test_the_largest_values_in_range_are_recorded() -> None:
    body = _replaced(_replaced(FULL, ("notional_hours",), 100_000), ("eu", "eqf_level"), 8)
    assert not isinstance(_prepare(0, body, TODAY), ItemOutcome)
