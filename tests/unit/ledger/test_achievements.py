"""R-LG-3: corrections and revocations are new entries naming the original; every view
is the latest state, the original kept. R-AW-5/R-AW-8: an award locks the credit it used."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.domain.achievements import (
    AwardConferred,
    FieldChange,
    NotIssuer,
    Status,
    achievement_id_for,
    check_correction,
    check_revocation,
    correction_is_noop,
    field_changes,
    fold,
    history,
)
from ledger.domain.chain import link, verify
from ledger.domain.entry_events import EVENT_TYPES, entry_event, entry_from_event
from ledger.domain.results import Grade
from shared.domain.credit import Credit, CreditScheme
from shared.domain.errors import Conflict, NotFound, RuleViolation
from tests.unit.ledger.builders import corrected, ops, recorded, result, revoked, valid_ledger

A, B = result("r1"), result("r2", institution="uni-scot", level=("SCQF", 11))
AID, BID = achievement_id_for("uni-north", "r1"), achievement_id_for("uni-scot", "r2")


@contextmanager
def raises(code: str, kind: type[RuleViolation] = RuleViolation) -> Iterator[None]:
    with pytest.raises(kind) as caught:
        yield
    assert caught.value.code == code


def test_a_recorded_result_is_current() -> None:
    state = fold([recorded(1, A)])[AID]
    assert (state.status, state.original, state.latest, state.issuer) == (
        Status.CURRENT, A, A, "uni-north")


def test_a_correction_shows_the_latest_and_keeps_the_original() -> None:
    states = fold([recorded(1, A), corrected(2, A, credit=Credit(Decimal(20), "CATS"))])
    state = states[AID]
    assert state.status is Status.CORRECTED and state.corrections == 1
    assert state.latest.credit.value == 20 and state.original == A
    assert (state.recorded_seq, state.updated_seq) == (1, 2)


def test_a_correction_of_a_correction_counts_both() -> None:
    entries = [recorded(1, A), corrected(2, A, title="v2"), corrected(3, A, title="v3")]
    state = fold(entries)[AID]
    assert state.latest.title == "v3" and state.corrections == 2 and state.original == A


def test_a_revocation_is_final() -> None:
    state = fold([recorded(1, A), revoked(2, A)])[AID]
    assert state.status is Status.REVOKED and state.revocation_reason == "misconduct"
    assert not state.counts
    with raises("already_revoked", Conflict):
        fold([recorded(1, A), revoked(2, A), revoked(3, A)])
    with raises("already_revoked", Conflict):
        fold([recorded(1, A), revoked(2, A), corrected(3, A, title="late")])


def test_only_the_issuer_corrects_or_revokes() -> None:
    states = fold([recorded(1, A)])
    with raises("not_issuer", NotIssuer):
        check_correction(states[AID], "uni-scot")
    with raises("not_issuer", NotIssuer):
        check_revocation(states[AID], "uni-scot")
    assert NotIssuer.status == 403
    with raises("not_issuer", NotIssuer):
        fold([recorded(1, A), revoked(2, A, by="uni-scot")])


def test_an_unknown_achievement_is_not_found() -> None:
    with raises("achievement_not_found", NotFound):
        check_revocation(None, "uni-north", "uni-north:nope")
    with raises("achievement_not_found", NotFound):
        fold([corrected(1, A, title="x")])


def test_a_correction_keeps_who_and_what_it_is_about() -> None:
    states = fold([recorded(1, A)])
    for field, value in (("learner_id", "L-9"), ("result_id", "r9")):
        with raises("correction_changes_identity"):
            check_correction(states[AID], "uni-north", replace(A, **{field: value}))


def test_a_correction_to_the_latest_content_is_a_no_op() -> None:
    state = fold([recorded(1, A)])[AID]
    assert correction_is_noop(state, A)
    assert not correction_is_noop(state, replace(A, title="changed"))


def test_a_result_is_recorded_once() -> None:
    with raises("already_recorded", Conflict):
        fold([recorded(1, A), recorded(2, A)])


# R-AW-5 / R-AW-8 ----------------------------------------------------------------------

def award(seq: int, award_id: str, *ids: str, supersedes: tuple[str, ...] = ()) -> AwardConferred:
    return AwardConferred(seq, award_id, "pgcert-ds", "uni-north", ids, supersedes)


def test_an_award_locks_the_credit_it_used() -> None:
    states = fold([recorded(1, A), recorded(2, B), award(3, "W1", AID)])
    assert states[AID].used_by_award == "W1" and states[BID].used_by_award is None


def test_credit_used_by_an_award_cannot_count_for_another() -> None:
    with raises("already_used_by_award", Conflict):
        fold([recorded(1, A), award(2, "W1", AID), award(3, "W2", AID)])


def test_a_higher_award_of_the_stack_may_reuse_what_it_supersedes() -> None:
    states = fold([recorded(1, A), recorded(2, B), award(3, "W1", AID),
                   award(4, "W2", AID, BID, supersedes=("W1",))])
    assert states[AID].used_by_award == states[BID].used_by_award == "W2"


@pytest.mark.parametrize(("entries", "code"), [
    ([recorded(1, A), revoked(2, A), award(3, "W1", AID)], "achievement_revoked"),
    ([recorded(1, A), award(2, "W1", AID, AID)], "duplicate_achievement"),
    ([recorded(1, A), award(2, "W1")], "award_uses_nothing"),
    ([award(1, "W1", AID)], "achievement_not_found"),
])
def test_an_award_uses_live_credit_once(entries, code) -> None:
    with raises(code):
        fold(entries)


def test_revoking_credit_used_by_an_award_is_recorded() -> None:
    state = fold([recorded(1, A), award(2, "W1", AID), revoked(3, A)])[AID]
    assert state.status is Status.REVOKED and state.used_by_award == "W1"


# the stored form ----------------------------------------------------------------------

LEDGER = [recorded(1, A), recorded(2, B), corrected(3, A, title="Data Science I"),
          award(4, "W1", AID, BID), revoked(5, B)]
AT = datetime(2026, 7, 1, 9, 30, tzinfo=UTC)


def test_every_entry_survives_its_stored_form_and_chains() -> None:
    events = [entry_event(e, learner_id="L-0000001", recorded_at=AT) for e in LEDGER]
    assert [entry_from_event(ev) for ev in events] == LEDGER
    assert {ev["kind"] for ev in events} == set(EVENT_TYPES)
    assert events[0]["recorded_at"] == "2026-07-01T09:30:00Z"
    assert verify(link(events)).ok
    assert fold(entry_from_event(ev) for ev in events) == fold(LEDGER)


def test_an_unknown_kind_is_refused() -> None:
    with raises("unknown_entry_kind"):
        entry_from_event({"kind": "deleted", "ledger_seq": 1})


# property: the fold does not depend on how the entries are batched --------------------

@given(ops, st.lists(st.integers(0, 40), max_size=4).map(sorted))
def test_fold_is_independent_of_batching(steps, cuts) -> None:
    entries = valid_ledger(steps)
    bounds = [0, *(min(c, len(entries)) for c in cuts), len(entries)]
    states: dict = {}
    for start, end in pairwise(bounds):
        states = fold(entries[start:end], states)
    assert states == fold(entries)


def test_an_achievements_history_says_what_changed_when_by_whom_and_why():
    """R-LG-3: the history of one achievement among its learner's entries: recorded, each
    correction with the fields it changed (against the content before it, not the
    original), the revocation with its reason, and the awards that used it."""
    award = AwardConferred(5, "claim-1", "pgcert-ds", "uni-scot", (AID, BID))
    entries = [recorded(1, A), recorded(2, B), corrected(3, A, grade=Grade("UK-PERCENT", "72")),
               corrected(4, A, grade=Grade("UK-PERCENT", "72"), credit=Credit(
                   Decimal("20"), CreditScheme.CATS)), award, revoked(6, A)]
    at = [f"2026-07-0{n}T09:00:00Z" for n in range(1, 7)]
    steps = history(AID, zip(entries, at, strict=True))
    assert [(h.ledger_seq, h.kind, h.by, h.recorded_at) for h in steps] == [
        (1, "recorded", "uni-north", at[0]), (3, "corrected", "uni-north", at[2]),
        (4, "corrected", "uni-north", at[3]), (5, "award_conferred", "uni-scot", at[4]),
        (6, "revoked", "uni-north", at[5])]
    assert steps[1].changes == (FieldChange("grade.value", A.grade.value, "72"),)
    assert steps[2].changes == (FieldChange("credit.value", "15", "20"),)
    assert (steps[1].reason, steps[3].award_id) == ("marking error", "claim-1")
    assert [h.kind for h in history(BID, zip(entries, at, strict=True))] == [
        "recorded", "award_conferred"]


def test_a_field_a_correction_adds_or_drops_is_a_change_from_or_to_none():
    assert field_changes(A, replace(A, notional_hours=150)) == (
        FieldChange("notional_hours", None, 150),)
    assert field_changes(A, A) == ()
