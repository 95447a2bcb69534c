"""Dependencies point inward (STYLE §1, §5): a domain package imports only the standard
library and the pure parts of `shared`; no service imports another service."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("catalogue", "ledger", "transfer", "award")
DOMAIN_MAY_IMPORT = {
    "shared.domain",
    "shared.contracts.values",
    # R-LG-4 (issue 4): the ledger's hash chain needs RFC 8785 canonical JSON from a
    # maintained library, not a hand-rolled one; rfc8785 is pure Python, no I/O.
    "rfc8785",
    # ...and its ingest path the same bytes from orjson (pure C, no I/O), proven equal on
    # the ledger's values by tests/unit/ledger/test_canonical.py.
    "orjson",
}
SHARED_PURE = ROOT / "shared" / "src" / "shared" / "domain"


def imports_of(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def is_allowed_in_domain(module: str, own: str) -> bool:
    top = module.split(".")[0]
    if top in sys.stdlib_module_names or top == "__future__":
        return True
    if module == own or module.startswith(f"{own}.domain"):
        return True
    return any(module == allowed or module.startswith(allowed + ".")
               for allowed in DOMAIN_MAY_IMPORT)


def domain_files() -> list[tuple[str, Path]]:
    files = [(svc, p) for svc in SERVICES
             for p in (ROOT / "services" / svc / "src" / svc / "domain").rglob("*.py")]
    files += [("shared", p) for p in SHARED_PURE.rglob("*.py")]
    return files


@pytest.mark.parametrize(("owner", "path"), domain_files(),
                         ids=lambda v: str(v.relative_to(ROOT)) if isinstance(v, Path) else v)
def test_domain_imports_no_framework(owner: str, path: Path) -> None:
    own = "shared.domain" if owner == "shared" else owner
    bad = [f"{path.relative_to(ROOT)}:{line} imports {module}"
           for line, module in imports_of(path) if not is_allowed_in_domain(module, own)]
    assert not bad, "domain code must stay pure:\n" + "\n".join(bad)


@pytest.mark.parametrize("service", SERVICES)
def test_no_service_imports_another(service: str) -> None:
    others = set(SERVICES) - {service}
    bad = [f"{path.relative_to(ROOT)}:{line} imports {module}"
           for path in (ROOT / "services" / service).rglob("*.py")
           for line, module in imports_of(path) if module.split(".")[0] in others]
    assert not bad, "services talk through events, never imports:\n" + "\n".join(bad)


def test_shared_imports_no_service() -> None:
    bad = [f"{path.relative_to(ROOT)}:{line} imports {module}"
           for path in (ROOT / "shared").rglob("*.py")
           for line, module in imports_of(path) if module.split(".")[0] in SERVICES]
    assert not bad, "\n".join(bad)


def test_the_walk_catches_a_framework_import(tmp_path: Path) -> None:
    bad = tmp_path / "rule.py"
    bad.write_text("import sqlalchemy\nfrom fastapi import APIRouter\nimport decimal\n")
    flagged = [m for _, m in imports_of(bad) if not is_allowed_in_domain(m, "ledger")]
    assert flagged == ["sqlalchemy", "fastapi"]


def test_every_domain_package_is_walked() -> None:
    walked = {owner for owner, _ in domain_files()}
    assert walked == {*SERVICES, "shared"}
