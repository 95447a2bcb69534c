"""The one base class for a broken domain rule. Pure: the HTTP edge (shared.errors) maps
it to problem+json, with the status its kind implies."""

from __future__ import annotations


class RuleViolation(Exception):
    """Input that breaks a rule: 422 unless a subclass says otherwise."""

    status = 422

    def __init__(self, code: str, message: str, **details: object) -> None:
        super().__init__(message)
        self.code, self.message, self.details = code, message, details


class NotFound(RuleViolation):
    status = 404


class Conflict(RuleViolation):
    status = 409
