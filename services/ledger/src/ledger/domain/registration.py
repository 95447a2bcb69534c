"""A learner's registration (R-MB-2): home member and associate status. Reading one item
of a bulk registration without a validation framework (10,000 per request), and deciding
what a proposed registration changes.

Decisions:
- The revision starts at 1 and grows by one on every change; sending the current values
  again changes nothing (`unchanged`), so a retry is harmless.
- In one batch, a learner named again with the same values is `unchanged` (the first item
  did the work); named again with other values, the later item is rejected: which of the
  two should win is the sender's to say, and answering the same on a retry needs one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from shared.domain.errors import RuleViolation

# A learner number, and a member's result id: letters, digits and ._- (parts of URLs)
IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
LEARNER_ID = IDENTIFIER
MEMBER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # shared.contracts Identifier
_FIELDS = frozenset({"learner_id", "home_member", "associate"})


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Registration:
    learner_id: str
    home_member: str
    associate: bool


@dataclass(frozen=True, slots=True)
class Stored:
    home_member: str
    associate: bool
    revision: int


def read_registration(item: Any) -> Registration:
    """One batch item ({learner_id, home_member, associate}); every problem named at once
    in a RuleViolation `validation_failed`."""
    if not isinstance(item, dict):
        raise RuleViolation("validation_failed", "an item must be an object", errors=[
            {"field": "body", "reason": "object_required",
             "message": "an item is {learner_id, home_member, associate}"}])
    errors = [{"field": key, "reason": "unknown_field",
               "message": f"{key} is not a field of a registration"}
              for key in sorted(set(item) - _FIELDS)]
    for key, pattern in (("learner_id", LEARNER_ID), ("home_member", MEMBER_ID)):
        value = item.get(key)
        if value is None:
            errors.append({"field": key, "reason": "missing", "message": f"{key} is required"})
        elif not isinstance(value, str) or not pattern.match(value):
            errors.append({"field": key, "reason": "invalid_identifier",
                           "message": f"{key} must be a string matching {pattern.pattern}"})
    associate = item.get("associate", False)
    if not isinstance(associate, bool):
        errors.append({"field": "associate", "reason": "boolean_required",
                       "message": "associate must be true or false"})
    if errors:
        raise RuleViolation("validation_failed", "the registration is not valid", errors=errors)
    return Registration(item["learner_id"], item["home_member"], associate)


def decide(current: Stored | None, proposed: Registration) -> tuple[Outcome, int]:
    """The outcome of registering `proposed` over `current`, and the revision after it."""
    if current is None:
        return Outcome.CREATED, 1
    if (current.home_member, current.associate) == (proposed.home_member, proposed.associate):
        return Outcome.UNCHANGED, current.revision
    return Outcome.UPDATED, current.revision + 1
