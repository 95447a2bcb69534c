"""Catalogue rule violations (stable codes; the shared HTTP edge maps them to 4xx)."""

from __future__ import annotations

from shared.domain.errors import Conflict, NotFound, RuleViolation

CatalogueRuleViolation = RuleViolation

__all__ = ["CatalogueRuleViolation", "Conflict", "NotFound"]
