"""R-LG-4: each learner's events form a hash chain over RFC 8785 canonical JSON, and
verification names the first bad link."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import rfc8785
from hypothesis import assume, given
from hypothesis import strategies as st

from ledger.domain.canonical import canonical_json, to_json_value
from ledger.domain.chain import (
    GENESIS,
    ChainEntry,
    anchor_fault,
    chain,
    event_hash,
    link,
    verify,
)

EVENTS = [{"kind": "recorded", "ledger_seq": n, "learner_id": "L-0000001",
           "result": {"credit": {"value": "15", "scheme": "CATS"}, "grade": "6" + str(n)}}
          for n in range(1, 7)]


def stored(events=EVENTS) -> list[ChainEntry]:
    return list(link(events))


def test_genesis_is_sha256_of_nothing_written_as_zeros() -> None:
    assert GENESIS == "sha256:" + "0" * 64


def test_the_construction_is_the_documented_one() -> None:
    # An auditor with only hashlib and an RFC 8785 library recomputes it.
    event = {"b": [1, True, None], "a": "é", "ledger_seq": 1}
    raw = b"sha256:" + b"0" * 64 + b"\n" + b'{"a":"\xc3\xa9","b":[1,true,null],"ledger_seq":1}'
    assert rfc8785.dumps(event) == raw[72:]
    assert event_hash(GENESIS, event) == "sha256:" + hashlib.sha256(raw).hexdigest()


def test_key_order_does_not_change_the_hash() -> None:
    a = {"x": 1, "y": {"p": "1", "q": "2"}}
    b = {"y": {"q": "2", "p": "1"}, "x": 1}
    assert event_hash(GENESIS, a) == event_hash(GENESIS, b)


def test_chain_links_each_hash_to_the_previous() -> None:
    hashes = chain(GENESIS, EVENTS)
    assert hashes[0] == event_hash(GENESIS, EVENTS[0])
    assert hashes[3] == event_hash(hashes[2], EVENTS[3])
    assert [e.stored_hash for e in stored()] == hashes


def test_an_intact_chain_verifies() -> None:
    result = verify(stored())
    assert result.ok and result.checked == 6 and result.first_bad_seq is None
    assert result.last_hash == chain(GENESIS, EVENTS)[-1]


def test_an_empty_chain_verifies() -> None:
    assert verify([]).ok


def test_a_changed_event_is_named() -> None:
    rows = stored()
    rows[3] = replace(rows[3], event={**rows[3].event, "result": {"credit": {
        "value": "150", "scheme": "CATS"}, "grade": "64"}})
    result = verify(rows)
    assert (result.ok, result.first_bad_seq, result.reason, result.checked) == (
        False, 4, "hash_mismatch", 3)


def test_a_changed_stored_hash_is_named() -> None:
    rows = stored()
    rows[2] = replace(rows[2], stored_hash="sha256:" + "1" * 64)
    result = verify(rows)
    assert (result.first_bad_seq, result.reason) == (3, "hash_mismatch")


def test_a_rehashed_forgery_breaks_the_next_link() -> None:
    # The forger recomputes entry 3's hash after changing it; entry 4 still points back
    # at the old one.
    rows = stored()
    forged = {**rows[2].event, "result": {"credit": {"value": "60", "scheme": "CATS"}}}
    rows[2] = replace(rows[2], event=forged, stored_hash=event_hash(rows[1].stored_hash, forged))
    result = verify(rows)
    assert (result.first_bad_seq, result.reason) == (4, "prev_link_broken")


def test_a_deleted_entry_is_a_gap_named_at_the_next_seq() -> None:
    rows = stored()
    del rows[2]
    result = verify(rows)
    assert (result.first_bad_seq, result.reason) == (4, "sequence_gap")
    assert "3 missing" in result.detail


def test_a_deleted_first_entry_is_a_gap() -> None:
    result = verify(stored()[1:])
    assert (result.first_bad_seq, result.reason, result.checked) == (2, "sequence_gap", 0)


def test_a_reordered_pair_is_named() -> None:
    rows = stored()
    # Swap the contents of entries 3 and 4, keeping their places (sequence numbers).
    rows[2], rows[3] = (replace(rows[3], ledger_seq=3), replace(rows[2], ledger_seq=4))
    result = verify(rows)
    assert (result.first_bad_seq, result.reason) == (3, "prev_link_broken")


def test_rows_read_out_of_order_are_named() -> None:
    rows = stored()
    rows[2], rows[3] = rows[3], rows[2]
    result = verify(rows)
    assert (result.first_bad_seq, result.reason) == (4, "sequence_gap")
    result = verify([rows[0], rows[1], rows[1]])
    assert (result.first_bad_seq, result.reason) == (2, "sequence_out_of_order")


def test_a_broken_prev_link_is_named() -> None:
    rows = stored()
    rows[4] = replace(rows[4], stored_prev_hash=GENESIS)
    assert (verify(rows).first_bad_seq, verify(rows).reason) == (5, "prev_link_broken")


def test_an_event_that_is_no_longer_json_is_named() -> None:
    rows = stored()
    rows[1] = replace(rows[1], event={"n": 2**60})  # beyond JSON's safe integers
    assert (verify(rows).first_bad_seq, verify(rows).reason) == (2, "not_canonical")


def test_verification_can_start_from_a_checkpoint() -> None:
    rows = stored()
    result = verify(rows[3:], prev_hash=rows[2].stored_hash, first_seq=4)
    assert result.ok and result.checked == 3


def test_values_become_json_safe() -> None:
    value = {"credit": Decimal("7.50"), "on": date(2026, 6, 20), "tags": ("a", "b"),
             "at": datetime(2026, 6, 20, 10, 0, tzinfo=UTC)}
    assert to_json_value(value) == {"credit": "7.50", "on": "2026-06-20", "tags": ["a", "b"],
                                    "at": "2026-06-20T10:00:00Z"}
    assert canonical_json(to_json_value(value)).startswith(b'{"at":"2026-06-20T10:00:00Z"')


@pytest.mark.parametrize("bad", [1.5, datetime(2026, 1, 1), {1: "x"}, object()])
def test_floats_naive_times_and_odd_keys_have_no_json_form(bad) -> None:  # R-CR-3
    with pytest.raises((TypeError, ValueError)):
        to_json_value(bad)


# properties ---------------------------------------------------------------------------

leaves = (st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1)
          | st.text(st.characters(exclude_categories=("Cs",)), max_size=8))
json_values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=4), inner, max_size=3),
                           max_leaves=12)
events = st.dictionaries(st.text(max_size=6), json_values, min_size=1, max_size=5)


@given(st.lists(events, max_size=8))
def test_any_chain_of_events_verifies(evs) -> None:
    result = verify(link(evs))
    assert result.ok and result.checked == len(evs)


def _changed(value, data):
    """`value` with one part changed somewhere inside it (a leaf, a key or an item)."""
    if isinstance(value, dict) and value and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(value)))
        return {**value, key: _changed(value[key], data)}
    if isinstance(value, list) and value and data.draw(st.booleans()):
        i = data.draw(st.integers(0, len(value) - 1))
        return [*value[:i], _changed(value[i], data), *value[i + 1:]]
    new = data.draw(json_values)
    assume(rfc8785.dumps(new) != rfc8785.dumps(value))
    return new


@given(st.lists(events, min_size=1, max_size=6), st.data())
def test_changing_any_field_of_any_event_fails_at_exactly_that_seq(evs, data) -> None:
    rows = list(link(evs))
    k = data.draw(st.integers(0, len(rows) - 1))
    key = data.draw(st.sampled_from(sorted(rows[k].event)))
    changed = {**rows[k].event, key: _changed(rows[k].event[key], data)}
    rows[k] = replace(rows[k], event=changed)
    result = verify(rows)
    assert (result.ok, result.first_bad_seq, result.reason, result.checked) == (
        False, k + 1, "hash_mismatch", k)


def test_an_anchor_shows_what_a_chain_alone_cannot() -> None:
    """A chain rebuilt after a change, every later hash recomputed, verifies on its own;
    against the head an earlier verification kept, it is `rewritten`; one cut short,
    `truncated`; one that only grew since holds its anchor."""
    entries = stored()
    anchor = (4, entries[3].stored_hash)
    changed = [*EVENTS[:1], {**EVENTS[1], "result": {"grade": "99"}}, *EVENTS[2:]]
    rebuilt = list(link(changed))
    assert verify(rebuilt).ok
    assert anchor_fault(anchor, rebuilt[3].stored_hash, 6)[0] == "rewritten"
    assert anchor_fault(anchor, None, 3) == (
        "truncated", "the chain ends at ledger_seq 3; it reached 4 when anchored")
    assert anchor_fault(anchor, entries[3].stored_hash, 6) is None
