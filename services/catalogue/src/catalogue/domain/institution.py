"""Members of the consortium (R-MB-1): id, name, country, level framework, awarding powers."""

from __future__ import annotations

from dataclasses import dataclass, replace

from shared.domain.levels import Framework, Level


@dataclass(frozen=True)
class Institution:
    institution_id: str
    name: str
    country: str
    framework: Framework
    awarding_powers: Level  # framework + highest level it may confer at
    revision: int = 1

    def same_details(self, other: Institution) -> bool:
        return replace(other, revision=self.revision) == self


def register_institution(current: Institution | None, proposed: Institution) -> Institution | None:
    """R-MB-1: the member's new record, or None when nothing changed (a no-op PUT)."""
    if current is None:
        return replace(proposed, revision=1)
    if current.same_details(proposed):
        return None
    return replace(proposed, revision=current.revision + 1)
