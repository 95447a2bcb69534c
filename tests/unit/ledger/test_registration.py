"""R-MB-2 registrations: reading a batch item (each field at fault named) and deciding
what a proposed registration changes (the revision grows only on a change)."""

from __future__ import annotations

import pytest

from ledger.domain.registration import (
    Outcome,
    Registration,
    Stored,
    decide,
    read_registration,
)
from shared.domain.errors import RuleViolation


def fields_at_fault(item) -> list[str]:
    with pytest.raises(RuleViolation) as caught:
        read_registration(item)
    return [e["field"] for e in caught.value.details["errors"]]


def test_a_good_item_reads_and_associate_defaults_to_false() -> None:
    assert read_registration({"learner_id": "L-1.a_b", "home_member": "uni-north"}) == (
        Registration("L-1.a_b", "uni-north", False))
    assert read_registration({"learner_id": "L" * 128, "home_member": "u",
                              "associate": True}).associate


@pytest.mark.parametrize(("item", "fields"), [
    ({"learner_id": "-L1", "home_member": "uni"}, ["learner_id"]),
    ({"learner_id": "L" * 129, "home_member": "uni"}, ["learner_id"]),
    ({"learner_id": "L 1", "home_member": "uni"}, ["learner_id"]),
    ({"learner_id": 7, "home_member": "uni"}, ["learner_id"]),
    ({"learner_id": "L1", "home_member": "u" * 65}, ["home_member"]),
    ({"learner_id": "L1"}, ["home_member"]),
    ({"learner_id": "L1", "home_member": "uni", "associate": 1}, ["associate"]),
    ({"learner_id": "L1", "home_member": "uni", "associate": None}, ["associate"]),
    ({"learner_id": "L1", "home_member": "uni", "colour": "blue"}, ["colour"]),
    ({}, ["learner_id", "home_member"]),
    (["L1", "uni"], ["body"]),
])
def test_a_bad_item_names_each_field(item, fields) -> None:
    assert fields_at_fault(item) == fields


def test_decide_creates_at_1_changes_to_the_next_revision_and_else_changes_nothing() -> None:
    new = Registration("L1", "uni", True)
    assert decide(None, new) == (Outcome.CREATED, 1)
    assert decide(Stored("uni", True, 3), new) == (Outcome.UNCHANGED, 3)
    assert decide(Stored("uni", False, 3), new) == (Outcome.UPDATED, 4)
    assert decide(Stored("other", True, 1), new) == (Outcome.UPDATED, 2)
