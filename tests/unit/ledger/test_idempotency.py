"""R-LG-2: idempotent on (institution, result id); a different result is a conflict."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ledger.domain.idempotency import (
    Decision,
    conflict_message,
    decide,
    decide_batch,
    result_conflict,
)


def test_a_new_key_is_new() -> None:
    assert decide(None, "sha256:a") is Decision.NEW


def test_the_same_result_again_is_same() -> None:
    assert decide("sha256:a", "sha256:a") is Decision.SAME


def test_a_different_result_under_the_id_is_a_conflict() -> None:
    assert decide("sha256:a", "sha256:b") is Decision.CONFLICT
    error = result_conflict("uni-north", "2026-000123", achievement_id="uni-north:2026-000123")
    assert error.status == 409 and error.code == "result_id_conflict"
    assert error.details == {"institution_id": "uni-north", "result_id": "2026-000123",
                             "achievement_id": "uni-north:2026-000123",
                             "achievement_status": "current",
                             "matches_latest": False}
    assert error.message.endswith("send a correction to change it")


def test_a_conflict_says_what_became_of_the_achievement_holding_the_id() -> None:
    """R-LG-2 with R-LG-3: the id's achievement corrected to exactly this result needs
    nothing; a revoked one cannot be corrected."""
    assert conflict_message("uni-north", "R1", "corrected", matches_latest=True) == (
        "uni-north already recorded a different result under id R1, since corrected to "
        "this one: nothing to do")
    assert conflict_message("uni-north", "R1", "revoked").endswith(
        "since revoked: a revoked result cannot be corrected")
    assert conflict_message("uni-north", "R1", "corrected").endswith(
        "; send a correction to change it")


def test_a_batch_repeating_a_result_records_it_once() -> None:
    key = ("uni-north", "r1")
    items = [(key, "f1"), (("uni-north", "r2"), "f2"), (key, "f1"), (key, "fX")]
    assert decide_batch({}, items) == [Decision.NEW, Decision.NEW, Decision.SAME,
                                       Decision.CONFLICT]


def test_a_retried_batch_is_all_same() -> None:
    items = [(("uni-north", f"r{i}"), f"f{i}") for i in range(5)]
    stored = dict(items)
    assert set(decide_batch(stored, items)) == {Decision.SAME}


keys = st.tuples(st.sampled_from(["uni-north", "uni-scot"]), st.sampled_from(["r1", "r2", "r3"]))
prints = st.sampled_from(["f1", "f2"])


@given(existing=st.dictionaries(keys, prints), items=st.lists(st.tuples(keys, prints)))
def test_a_batch_decides_as_one_result_after_another(existing, items) -> None:
    before = dict(existing)
    stored, expected = dict(existing), []
    for key, fingerprint in items:
        decision = decide(stored.get(key), fingerprint)
        stored.setdefault(key, fingerprint)
        expected.append(decision)
    assert decide_batch(existing, items) == expected
    assert existing == before  # the caller's map is left alone
