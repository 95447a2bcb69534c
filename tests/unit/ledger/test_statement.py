"""The consolidated statement (issue 4 item 4): credit as given and normalised (R-CR-2..4),
levels (R-LV), totals by level and member, the associate cap flag (R-MB-2)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given

from ledger.domain.achievements import AwardConferred, Status, fold
from ledger.domain.associate_cap import POSTGRADUATE, UNDERGRADUATE, LevelBand
from ledger.domain.results import Origin
from ledger.domain.statement import (
    DEFAULT_STATEMENT_POLICY,
    LearnerRegistration,
    StatementPolicy,
    Totals,
    award_lines,
    build_statement,
    issued_by,
    statement_json,
)
from shared.domain.credit import ConversionMethod, ConversionPolicy, Credit, to_ects, to_uk_credits
from shared.domain.levels import Framework, Level
from tests.unit.ledger.builders import corrected, ops, recorded, result, revoked, valid_ledger

D = Decimal
MEMBERS = {"uni-north": Framework.FHEQ, "uni-scot": Framework.SCQF, "uni-eu": Framework.EQF}
LEARNER = LearnerRegistration("L-0000001", "uni-north")
ASSOCIATE = LearnerRegistration("L-0000001", "uni-north", associate=True)
BY_HOURS = StatementPolicy(conversion=ConversionPolicy(method=ConversionMethod.HOURS))


def statement(entries, registration=LEARNER, policy=DEFAULT_STATEMENT_POLICY):
    return build_statement(fold(entries).values(), registration, MEMBERS, policy=policy)


MICRO = result("m1", institution="uni-eu", credit="6", scheme="ECTS", level=("EQF", 6),
               notional_hours=150)


def test_r_cr_4_worked_example_by_ratio() -> None:
    (line,) = statement([recorded(1, MICRO)]).lines
    assert line.credit == Credit(D(6), "ECTS")  # as given (R-CR-3)
    assert (line.uk_credits, line.ects) == (12, 6)


def test_r_cr_4_worked_example_by_hours() -> None:
    s = statement([recorded(1, MICRO)], policy=BY_HOURS)
    assert (s.lines[0].uk_credits, s.lines[0].ects) == (15, 6)
    assert s.total == Totals(D(15), D(6))


def test_a_line_shows_the_achievement() -> None:
    sub = result("r1", credit="15", level=("FHEQ", 7))
    (line,) = statement([recorded(1, sub)]).lines
    assert (line.member, line.course, line.title, line.grade) == (
        "uni-north", sub.course, sub.title, sub.grade)
    assert (line.uk_credits, line.ects, line.uk_display, line.ects_display) == (
        15, D("7.5"), "15", "7.5")
    assert line.level == Level(Framework.FHEQ, 7)
    assert set(line.level_equivalents) == {Level(Framework.SCQF, 11), Level(Framework.EQF, 7)}
    assert (line.status, line.counted, line.origin) == (Status.CURRENT, True, Origin.MEMBER)


def test_only_one_to_one_level_equivalents_are_shown() -> None:  # R-LV-3
    fheq6 = statement([recorded(1, result(level=("FHEQ", 6)))]).lines[0]
    assert fheq6.level_equivalents == (Level(Framework.EQF, 6),)  # not SCQF 9 or 10
    eqf5 = statement([recorded(1, result(level=("EQF", 5)))]).lines[0]
    assert eqf5.level_equivalents == ()


def test_display_has_at_most_one_decimal_but_sums_stay_exact() -> None:  # R-CR-3
    s = statement([recorded(1, result("a", credit="12.25")), recorded(2, result("b", credit="0.05"))])
    assert s.total.uk_credits == D("12.30") and s.lines[0].uk_display == "12.3"
    assert s.total.ects == D("6.15") and s.total.ects_display == "6.2"


def test_totals_leave_out_revoked_and_count_corrected_at_their_latest() -> None:
    a = result("a", credit="15")
    b = result("b", institution="uni-scot", credit="20", level=("SCQF", 11))
    c = result("c", credit="30")
    s = statement([recorded(1, a), recorded(2, b), recorded(3, c), revoked(4, c),
                   corrected(5, a, credit=Credit(D(10), "CATS"))])
    assert s.total == Totals(D(30), D(15))
    assert [(line.status, line.counted) for line in s.lines] == [
        (Status.CORRECTED, True), (Status.CURRENT, True), (Status.REVOKED, False)]
    assert s.by_member == {"uni-north": Totals(D(10), D(5)), "uni-scot": Totals(D(20), D(10))}
    assert s.by_level == {"FHEQ:7": Totals(D(10), D(5)), "SCQF:11": Totals(D(20), D(10))}
    assert s.by_home_level == {"FHEQ:7": Totals(D(30), D(15))}  # SCQF 11 is FHEQ 7
    assert s.ledger_seq == 5


def test_home_level_totals_guess_nothing() -> None:  # R-LV-3
    entries = [recorded(1, result("a", institution="uni-eu", level=("EQF", 5))),
               recorded(2, result("b", level=("FHEQ", 3)))]
    s = statement(entries)
    assert set(s.by_home_level) == {"level_ambiguous", "FHEQ:3"}
    scot = build_statement(fold(entries).values(), LearnerRegistration("L", "uni-scot"), MEMBERS)
    assert set(scot.by_home_level) == {"level_ambiguous", "level_unmapped"}


def test_a_member_sees_only_what_it_issued() -> None:
    states = fold([recorded(1, result("a")), recorded(2, result("b", institution="uni-scot"))])
    assert [s.issuer for s in issued_by(states.values(), "uni-scot")] == ["uni-scot"]


# R-MB-2 -------------------------------------------------------------------------------

def ug(n: int, credit: str, institution: str = "uni-north", **kw):
    return recorded(n, result(f"u{n}", institution=institution, credit=credit,
                              level=("FHEQ", 6) if institution == "uni-north" else ("SCQF", 9),
                              **kw))


def test_an_associate_past_60_undergraduate_credits_at_one_member_is_flagged() -> None:
    s = statement([ug(1, "45"), ug(2, "30"), ug(3, "60", "uni-scot")], ASSOCIATE)
    (flag,) = s.associate_cap_flags
    assert (flag.member, flag.band, flag.uk_credits, flag.cap, flag.over_by) == (
        "uni-north", "undergraduate", 75, 60, 15)
    assert len(s.lines) == 3  # still recorded and shown


def test_an_associate_past_180_postgraduate_credits_is_flagged() -> None:
    entries = [recorded(n, result(f"p{n}", institution="uni-scot", credit="60",
                                  level=("SCQF", 11 + n % 2))) for n in range(1, 5)]
    (flag,) = statement(entries, ASSOCIATE).associate_cap_flags
    assert (flag.member, flag.band, flag.uk_credits) == ("uni-scot", "postgraduate", 240)


def test_the_cap_is_at_most_not_below() -> None:
    assert statement([ug(1, "30"), ug(2, "30")], ASSOCIATE).associate_cap_flags == ()


def test_only_associates_are_capped() -> None:
    assert statement([ug(1, "90")], LEARNER).associate_cap_flags == ()


def test_revoked_and_rpl_credit_do_not_count_toward_the_cap_by_default() -> None:
    entries = [ug(1, "50"), ug(2, "40"), revoked(3, result("u2", credit="40",
                                                          level=("FHEQ", 6))),
               ug(4, "40", origin=Origin.RPL)]
    assert statement(entries, ASSOCIATE).associate_cap_flags == ()
    counted = StatementPolicy(rpl_counts_toward_associate_cap=True)
    assert statement(entries, ASSOCIATE, counted).associate_cap_flags[0].uk_credits == 90


def test_the_caps_are_parameters() -> None:
    tight = StatementPolicy(associate_caps=(LevelBand("undergraduate", D(40), UNDERGRADUATE.levels),
                                            POSTGRADUATE))
    assert statement([ug(1, "45")], ASSOCIATE).associate_cap_flags == ()
    assert statement([ug(1, "45")], ASSOCIATE, tight).associate_cap_flags[0].cap == 40


def test_ects_credit_is_capped_in_uk_credits() -> None:
    micro = result("e1", institution="uni-eu", credit="35", scheme="ECTS", level=("EQF", 6))
    (flag,) = statement([recorded(1, micro)], ASSOCIATE).associate_cap_flags
    assert (flag.member, flag.uk_credits) == ("uni-eu", 70)


# property: totals are the sum of the latest values of what is not revoked ------------

@given(ops)
def test_totals_equal_the_sum_of_non_revoked_latest_values(steps) -> None:
    states = fold(valid_ledger(steps))
    s = build_statement(states.values(), LEARNER, MEMBERS)
    live = [st.latest for st in states.values() if st.status is not Status.REVOKED]
    assert s.total == Totals(sum((to_uk_credits(x.credit) for x in live), D(0)),
                             sum((to_ects(x.credit) for x in live), D(0)))
    for table in (s.by_level, s.by_member, s.by_home_level):
        assert sum((t.uk_credits for t in table.values()), D(0)) == s.total.uk_credits
        assert sum((t.ects for t in table.values()), D(0)) == s.total.ects
    assert len(s.lines) == len(states)


def test_awards_are_listed_with_the_award_that_superseded_each() -> None:  # R-AW-8, R-AW-5
    a, b = result("a", credit="20"), result("b", credit="40")
    lower = AwardConferred(3, "W1", "pgcert-ds", "uni-north", ("uni-north:a",))
    higher = AwardConferred(4, "W2", "pgdip-ds", "uni-north", ("uni-north:a", "uni-north:b"),
                            supersedes=("W1",))
    chain = [recorded(1, a), recorded(2, b), lower, higher]
    at = datetime(2026, 7, 1, tzinfo=UTC)
    awards = award_lines([(lower, at), (higher, at)])
    s = build_statement(fold(chain).values(), LEARNER, MEMBERS, awards=awards)
    assert [(w.award_id, w.superseded_by) for w in s.awards] == [("W1", "W2"), ("W2", None)]
    assert s.total == Totals(D(60), D(30))  # used credit is still the learner's credit
    assert {line.achievement_id: line.used_by_award for line in s.lines} == {
        "uni-north:a": "W2", "uni-north:b": "W2"}
    [first, second] = statement_json(s)["awards"]
    assert first == {"award_id": "W1", "qualification_id": "pgcert-ds",
                     "conferring_member": "uni-north", "achievements": ["uni-north:a"],
                     "conferred_at": "2026-07-01T00:00:00+00:00", "ledger_seq": 3,
                     "superseded_by": "W2"}
    assert second["superseded_by"] is None and second["achievements"] == [
        "uni-north:a", "uni-north:b"]
