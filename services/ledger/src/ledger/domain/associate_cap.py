"""R-MB-2: associate learners (modules without a degree registration) may
accumulate, by default, at most 60 credits at an undergraduate level and 180 at
a postgraduate level at one member. Past that, results are still recorded; the
statement flags it, per member, with the figures.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from shared.domain.levels import Framework, Level


@dataclass(frozen=True)
class LevelBand:
    """A band of levels, per framework (inclusive ranges), and its cap in UK credits."""

    name: str
    cap: Decimal
    levels: tuple[tuple[Framework, int, int], ...]

    def covers(self, level: Level) -> bool:
        return any(fw is level.framework and low <= level.value <= high
                   for fw, low, high in self.levels)


# R-MB-2 defaults. Each framework's own levels place a result, so no mapping
# is needed and nothing is guessed (R-LV-3). FHEQ 3 is below both bands.
UNDERGRADUATE = LevelBand("undergraduate", Decimal(60), (
    (Framework.FHEQ, 4, 6), (Framework.SCQF, 7, 10), (Framework.EQF, 1, 6)))
POSTGRADUATE = LevelBand("postgraduate", Decimal(180), (
    (Framework.FHEQ, 7, 8), (Framework.SCQF, 11, 12), (Framework.EQF, 7, 8)))
DEFAULT_ASSOCIATE_CAPS = (UNDERGRADUATE, POSTGRADUATE)


@dataclass(frozen=True)
class AssociateCapFlag:
    member: str
    band: str
    uk_credits: Decimal  # accumulated at that member, in that band
    cap: Decimal

    @property
    def over_by(self) -> Decimal:
        return self.uk_credits - self.cap


def associate_cap_flags(credits: Iterable[tuple[str, Level, Decimal]],
                        bands: Iterable[LevelBand]) -> tuple[AssociateCapFlag, ...]:
    """Flags for every (member, band) whose UK credits exceed the band's cap.
    `credits` lists (member, level, UK credits) of what counts; sorted output."""
    bands = tuple(bands)
    sums: dict[tuple[str, str], Decimal] = {}
    for member, level, uk in credits:
        for band in bands:
            if band.covers(level):
                sums[member, band.name] = sums.get((member, band.name), Decimal(0)) + uk
    caps = {band.name: band.cap for band in bands}
    return tuple(AssociateCapFlag(member, name, total, caps[name])
                 for (member, name), total in sorted(sums.items()) if total > caps[name])
