"""The ingest path's canonical JSON (orjson, sorted keys) gives RFC 8785's bytes on every
value the ledger builds (R-LG-4, R-LG-2): see ledger.domain.canonical.

`/verify` recomputes chains with the rfc8785 library, so a difference would show up
there as a broken chain; these tests make sure there is none to show."""

from __future__ import annotations

import hashlib
import string
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import orjson
import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain.achievements import Corrected, Recorded, Revoked
from ledger.domain.canonical import canonical_json, canonical_json_fast
from ledger.domain.entry_events import entry_event
from ledger.domain.results import (
    EuElements,
    Grade,
    Origin,
    ResultSubmission,
    fingerprint_of_json,
    submission_fingerprint,
    submission_json,
)
from shared.domain.credit import Credit, CreditScheme
from shared.domain.levels import FRAMEWORK_RANGES, Framework, Level
from shared.domain.subjects import SubjectShare
from tests.unit.ledger.builders import result

AT = datetime(2026, 6, 20, 10, 0, 0, 123456, tzinfo=UTC)


def test_every_unicode_scalar_value_escapes_as_rfc8785_says() -> None:
    """Both libraries escape a string character by character, so agreeing on each of
    the 1,112,064 scalar values means agreeing on every string. One string per block of
    4,096 keeps it quick; a difference names its code point."""
    scalars = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF]
    for start in range(0, len(scalars), 4096):
        block = scalars[start:start + 4096]
        text = "".join(map(chr, block))
        if canonical_json_fast(text) != rfc8785.dumps(text):
            bad = [hex(cp) for cp in block
                   if canonical_json_fast(chr(cp)) != rfc8785.dumps(chr(cp))]
            pytest.fail(f"orjson and rfc8785 escape these code points differently: {bad[:10]}")


def test_integers_agree_up_to_the_53_bit_limit_and_both_refuse_beyond() -> None:
    for n in (0, 1, -1, 7, 10**15, 2**53 - 1, -(2**53 - 1)):
        assert canonical_json_fast(n) == rfc8785.dumps(n)
    for n in (2**53, -(2**53), 10**20):
        with pytest.raises(orjson.JSONEncodeError):
            canonical_json_fast(n)
        with pytest.raises(rfc8785.IntegerDomainError):
            rfc8785.dumps(n)


def test_ascii_keys_sort_alike_and_nested_objects_too() -> None:
    value = {"b": {"z": 1, "Z": 2, "_": [{"y": None, "x": True}]}, "a": "", "A": False,
             "result_id": 1, "result": 2, "10": 3, "9": 4}
    assert canonical_json_fast(value) == rfc8785.dumps(value)


# Arbitrary results, as the parser lets them through -------------------------------------

texts = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"),
                min_size=1, max_size=24)
ids = st.text(string.ascii_letters + string.digits + "._-", min_size=1, max_size=20)
decimals = st.decimals(min_value=Decimal("0.001"), max_value=Decimal(10**6), places=3,
                       allow_nan=False, allow_infinity=False)
levels = st.sampled_from(list(Framework)).flatmap(
    lambda f: st.integers(*FRAMEWORK_RANGES[f]).map(lambda v: Level(f, v)))
eu = st.builds(EuElements, country=st.none() | texts, awarding_body=st.none() | texts,
               issued_on=st.none() | st.dates(date(2000, 1, 1), date(2026, 6, 1)),
               learning_outcomes=st.lists(texts, max_size=3).map(tuple),
               assessment=st.none() | texts, workload_ects=st.none() | decimals,
               eqf_level=st.none() | st.integers(1, 8))


@st.composite
def submissions(draw):
    return replace(
        result(draw(ids), institution=draw(ids), learner=draw(ids)),
        title=draw(texts), credit=Credit(draw(decimals), draw(st.sampled_from(list(CreditScheme)))),
        level=draw(levels), grade=Grade(draw(texts), draw(texts)),
        subjects=(SubjectShare("100366", Decimal(100)),),
        origin=draw(st.sampled_from(list(Origin))),
        notional_hours=draw(st.none() | st.integers(1, 10**6)), eu=draw(eu))


def reference_fingerprint(sub: ResultSubmission) -> str:
    """R-LG-2 as written, with the reference RFC 8785 library: numbers compared as numbers
    (the exact plain form of each Decimal), subjects in HECoS order, the rest as given."""
    def number(d: Decimal) -> str:
        plain = format(d, "f")
        return plain.rstrip("0").rstrip(".") if "." in plain else plain

    body = submission_json(sub)
    body["credit"]["value"] = number(sub.credit.value)
    body["subjects"] = [{"hecos": s.hecos, "percent": number(s.percent)}
                        for s in sorted(sub.subjects, key=lambda s: s.hecos)]
    if sub.eu.workload_ects is not None:
        body["eu"]["workload_ects"] = number(sub.eu.workload_ects)
    return "sha256:" + hashlib.sha256(rfc8785.dumps(body)).hexdigest()


shares = st.lists(st.tuples(st.sampled_from(["101030", "100367", "100366"]),
                            decimals | st.integers(1, 100).map(Decimal)),
                  min_size=1, max_size=3).map(
    lambda pairs: tuple(SubjectShare(h, p) for h, p in pairs))


@settings(max_examples=300)
@given(submissions(), shares, st.integers(1, 10**6))
def test_the_fingerprint_is_the_rule_as_written(sub, subjects, whole) -> None:
    plain = Credit(Decimal(whole), sub.credit.scheme)  # "15": the usual form, not copied
    for one in (sub, replace(sub, subjects=subjects), replace(sub, credit=plain),
                replace(sub, credit=plain, subjects=subjects)):
        assert fingerprint_of_json(submission_json(one)) == reference_fingerprint(one)


@settings(max_examples=300)
@given(submissions(), st.integers(1, 10**6), texts)
def test_every_entry_event_is_canonical_either_way(sub, seq, reason) -> None:
    aid = f"{sub.institution_id}:{sub.result_id}"
    for entry in (Recorded(seq, aid, sub), Corrected(seq, aid, sub.institution_id, sub, reason),
                  Revoked(seq, aid, sub.institution_id, reason)):
        event = entry_event(entry, learner_id=sub.learner_id, recorded_at=AT)
        assert canonical_json_fast(event) == canonical_json(event)


@settings(max_examples=200)
@given(submissions())
def test_the_fingerprint_leaves_its_json_alone_and_matches_the_reference(sub) -> None:
    body = submission_json(sub)
    before = orjson.dumps(body)
    fingerprint = fingerprint_of_json(body)
    assert orjson.dumps(body) == before  # the same dict is then stored in the event
    assert fingerprint == submission_fingerprint(sub)
    assert entry_event(Recorded(1, "a:b", sub), learner_id="L", recorded_at=AT,
                       result_json=body) == entry_event(Recorded(1, "a:b", sub),
                                                        learner_id="L", recorded_at=AT)
