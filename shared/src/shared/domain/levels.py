"""Levels in their own frameworks and the one table that compares them (R-LV-1 to R-LV-3)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Framework(StrEnum):
    """R-LV-1: FHEQ (England, Wales, N. Ireland), SCQF (Scotland), EQF (Europe)."""

    FHEQ = "FHEQ"
    SCQF = "SCQF"
    EQF = "EQF"


# R-LV-1: the levels each framework has (SCQF: its higher-education levels).
FRAMEWORK_RANGES: dict[Framework, tuple[int, int]] = {
    Framework.FHEQ: (3, 8),
    Framework.SCQF: (7, 12),
    Framework.EQF: (1, 8),
}


class LevelError(ValueError):
    """Base for the level rules' refusals."""


class LevelOutOfRange(LevelError):
    """R-LV-1: a level the framework does not have."""


class LevelUnmapped(LevelError):
    """The mapping table gives no equivalent in the target framework."""

    reason = "level_unmapped"


class LevelAmbiguous(LevelError):
    """R-LV-3: one-to-many; nothing is guessed. `candidates` lists the possibilities."""

    reason = "level_ambiguous"

    def __init__(self, message: str, candidates: frozenset[Level]) -> None:
        super().__init__(message)
        self.candidates = candidates


@dataclass(frozen=True, order=False)
class Level:
    """A level stored in its own framework (R-LV-1). Levels of different frameworks
    are not ordered by `<`: compare them with `is_at_or_above` or `same_band`."""

    framework: Framework
    value: int

    def __post_init__(self) -> None:
        if not isinstance(self.framework, Framework):
            try:
                object.__setattr__(self, "framework", Framework(self.framework))
            except ValueError:
                raise LevelError(
                    f"unknown level framework {self.framework!r}; expected FHEQ, SCQF or EQF"
                ) from None
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            raise TypeError(f"a level's value is an int, not {type(self.value).__name__}")
        validate_level(self)

    def __str__(self) -> str:
        return f"{self.framework}:{self.value}"  # parse_level reads this back


def validate_level(level: Level) -> Level:
    """R-LV-1: the level exists in its framework; returns it unchanged."""
    low, high = FRAMEWORK_RANGES[level.framework]
    if not low <= level.value <= high:
        raise LevelOutOfRange(
            f"{level.framework} has levels {low}-{high}; {level.value} is outside them"
        )
    return level


# R-LV-2, the one mapping table. Every other comparison is derived from it:
# SCQF <-> EQF goes through FHEQ.
_FHEQ_EQUIVALENTS: dict[int, dict[Framework, frozenset[int]]] = {
    4: {Framework.SCQF: frozenset({7}), Framework.EQF: frozenset({5})},
    5: {Framework.SCQF: frozenset({8}), Framework.EQF: frozenset({5})},
    6: {Framework.SCQF: frozenset({9, 10}), Framework.EQF: frozenset({6})},
    7: {Framework.SCQF: frozenset({11}), Framework.EQF: frozenset({7})},
    8: {Framework.SCQF: frozenset({12}), Framework.EQF: frozenset({8})},
}


def _fheq_values(level: Level) -> frozenset[int]:
    """The FHEQ levels this level corresponds to (the pivot of the table)."""
    if level.framework is Framework.FHEQ:
        return frozenset({level.value}) if level.value in _FHEQ_EQUIVALENTS else frozenset()
    return frozenset(
        fheq for fheq, row in _FHEQ_EQUIVALENTS.items() if level.value in row[level.framework]
    )


def equivalents(level: Level, target: Framework) -> frozenset[Level]:
    """Every level of `target` that `level` corresponds to under R-LV-2.

    Empty when the table has no mapping (e.g. FHEQ 3, EQF 1-4); more than one
    when the mapping is one-to-many (R-LV-3: EQF 5, or FHEQ 6 into SCQF).
    Within its own framework a level is equivalent only to itself.
    """
    target = Framework(target)
    if level.framework is target:
        return frozenset({level})
    values: set[int] = set()
    for fheq in _fheq_values(level):
        if target is Framework.FHEQ:
            values.add(fheq)
        else:
            values |= _FHEQ_EQUIVALENTS[fheq][target]
    return frozenset(Level(target, value) for value in values)


def convert(level: Level, target: Framework) -> Level:
    """The single equivalent of `level` in `target`.

    R-LV-3: where the table is one-to-many nothing is guessed: LevelAmbiguous
    (the course or an agreement rule must state the level in `target`).
    """
    found = equivalents(level, target)
    if not found:
        raise LevelUnmapped(f"{level} has no equivalent in {Framework(target)} (R-LV-2)")
    if len(found) > 1:
        options = " or ".join(str(c) for c in sorted(found, key=lambda c: c.value))
        raise LevelAmbiguous(f"{level} could be {options} (R-LV-3)", found)
    (only,) = found
    return only


def is_at_or_above(level: Level, threshold: Level) -> bool | None:
    """Is `level` at or above `threshold`, across frameworks (R-AW-2 `at_or_above`)?

    None when the table cannot decide: the candidates straddle the threshold
    (R-LV-3, e.g. FHEQ 6 against SCQF 10) or neither level is mapped.
    """
    if level.framework is threshold.framework:
        return level.value >= threshold.value
    mine = equivalents(level, threshold.framework)
    if mine:
        if all(c.value >= threshold.value for c in mine):
            return True
        if all(c.value < threshold.value for c in mine):
            return False
        return None
    # `level` is unmapped (e.g. FHEQ 3): place the threshold in level's own
    # framework instead, which orders its levels. Only used when the forward
    # direction gives nothing, since a many-to-one mapping (FHEQ 4 and 5 -> EQF 5)
    # would otherwise hide an ambiguity.
    theirs = equivalents(threshold, level.framework)
    if not theirs:
        return None
    if all(level.value >= c.value for c in theirs):
        return True
    if all(level.value < c.value for c in theirs):
        return False
    return None


def same_band(a: Level, b: Level) -> bool:
    """Do `a` and `b` denote the same band under R-LV-2 (for search)?

    FHEQ 7, SCQF 11 and EQF 7 are one band; FHEQ 6 is in band with both SCQF 9
    and SCQF 10; two different levels of one framework never are.
    """
    return b in equivalents(a, b.framework)


_LEVEL_TEXT = re.compile(r"^\s*([A-Za-z]+)\s*[:\- ]?\s*(\d+)\s*$")


def parse_level(text: str) -> Level:
    """Read "FHEQ:7", "FHEQ-7", "FHEQ 7" or "fheq7" as a Level.

    Raises ValueError with the expected form, or LevelOutOfRange (a ValueError)
    for a level its framework does not have.
    """
    match = _LEVEL_TEXT.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f"cannot read {text!r} as a level: expected FRAMEWORK:N, e.g. 'FHEQ:7' "
            "(frameworks FHEQ, SCQF, EQF)"
        )
    name, number = match.groups()
    try:
        framework = Framework(name.upper())
    except ValueError:
        raise ValueError(
            f"cannot read {text!r} as a level: unknown framework {name!r} "
            "(expected FHEQ, SCQF or EQF)"
        ) from None
    return Level(framework, int(number))
