"""The result body OpenAPI documents (entrypoints.http.schemas.RESULT_SCHEMA) says what
the parser (domain.result_json) checks: the same fields, the same required ones, the
same enums, and every shape the parser refuses the schema refuses too. Rules across
values (a level inside its framework, a date not in the future, shares adding up to
100) are the domain's; the schema only names them."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from ledger.domain.registration import IDENTIFIER
from ledger.domain.result_json import FIELDS, REQUIRED_FIELDS, parse_submission
from ledger.domain.results import Origin, submission_json
from ledger.entrypoints.http.schemas import RESULT_SCHEMA
from shared.domain.errors import RuleViolation
from tests.unit.ledger.builders import BODY, result

SCHEMA = Draft202012Validator(RESULT_SCHEMA)


def test_the_schema_names_the_parsers_fields() -> None:
    assert set(RESULT_SCHEMA["properties"]) == FIELDS
    assert set(RESULT_SCHEMA["required"]) == REQUIRED_FIELDS
    assert RESULT_SCHEMA["additionalProperties"] is False
    Draft202012Validator.check_schema(RESULT_SCHEMA)


@given(value=st.decimals(min_value=1, max_value=500, places=2).map(str),
       days=st.integers(0, 3000), origin=st.sampled_from(Origin),
       hours=st.none() | st.integers(1, 5000))
def test_every_result_the_parser_accepts_fits_the_schema(value, days, origin, hours) -> None:
    body = submission_json(result(credit=value, origin=origin, notional_hours=hours,
                                  assessed_on=date(2015, 1, 1) + timedelta(days=days)))
    parse_submission(body)
    assert list(SCHEMA.iter_errors(body)) == []


def test_the_design_body_fits_the_schema() -> None:
    assert list(SCHEMA.iter_errors(BODY)) == []


def without(key: str) -> dict[str, Any]:
    return {k: v for k, v in BODY.items() if k != key}


REFUSED = [
    *[without(key) for key in sorted(REQUIRED_FIELDS)],
    {**BODY, "colour": "blue"},
    {**BODY, "title": "  "},
    # R-CR-3: never a float. (JSON Schema counts 15.0 as an integer; the parser, which
    # sees what orjson read, refuses it too: the schema's description says so.)
    {**BODY, "credit": {"value": 15.5, "scheme": "CATS"}},
    {**BODY, "credit": {"value": "fifteen", "scheme": "CATS"}},
    {**BODY, "credit": {"value": "15", "scheme": "QCF"}},
    {**BODY, "credit": {"value": "15"}},
    {**BODY, "level": {"framework": "NQF", "value": 7}},
    {**BODY, "level": {"framework": "FHEQ", "value": "7"}},
    {**BODY, "level": "FHEQ 7"},
    {**BODY, "subjects": []},
    {**BODY, "subjects": [{"hecos": "100366", "percent": 99.5}]},
    {**BODY, "grade": {"scale": "UK-PERCENT"}},
    {**BODY, "assessed_on": "20/06/2026"},
    {**BODY, "origin": "transfer"},
    {**BODY, "notional_hours": -3},
    {**BODY, "notional_hours": True},
    {**BODY, "course": {"institution_id": "uni-north"}},
    {**BODY, "eu": {"colour": "blue"}},
    {**BODY, "eu": {"eqf_level": "6"}},
    {**BODY, "eu": {"workload_ects": 2.5}},
]


@pytest.mark.parametrize("body", REFUSED)
def test_what_the_parser_refuses_the_schema_refuses(body) -> None:
    with pytest.raises(RuleViolation):
        parse_submission(body)
    assert list(SCHEMA.iter_errors(body)) != []


def test_the_enums_are_the_domains() -> None:
    properties = RESULT_SCHEMA["properties"]
    assert properties["credit"]["properties"]["scheme"]["enum"] == [
        "CATS", "SCQF", "ECTS", "US-SCH"]
    assert properties["level"]["properties"]["framework"]["enum"] == ["FHEQ", "SCQF", "EQF"]
    assert properties["origin"]["enum"] == ["member", "rpl"]


@pytest.mark.parametrize("field", ["result_id", "learner_id"])
@pytest.mark.parametrize("value", ["2026/DS701/0042", "-r1", "r 1", "é1", "r" * 129])
def test_identifiers_the_ledger_refuses_the_schema_refuses(field, value) -> None:
    """The ledger refuses these ids (domain.registration.IDENTIFIER, 422
    invalid_identifier); the schema a member's client is generated from says so."""
    assert not IDENTIFIER.match(value)
    assert list(SCHEMA.iter_errors({**BODY, field: value}))
    assert not list(SCHEMA.iter_errors({**BODY, field: "r-1.a_B"}))
