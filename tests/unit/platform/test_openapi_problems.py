"""Every service's OpenAPI documents its errors as they are answered (shared.openapi):
RFC 9457 problems as application/problem+json, with the edge's refusals of a body
(400, 413, 415, and 503 when busy) and of a parameter (422) on each operation that can
meet them."""

from __future__ import annotations

import pytest

from award.bootstrap import create_app as award_app
from catalogue.bootstrap import create_app as catalogue_app
from ledger.bootstrap import create_app as ledger_app
from transfer.bootstrap import create_app as transfer_app

APPS = {"ledger": ledger_app, "catalogue": catalogue_app, "transfer": transfer_app,
        "award": award_app}
PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def operations(spec: dict):
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", operation


@pytest.mark.parametrize("service", sorted(APPS))
def test_every_error_is_documented_as_a_problem(service) -> None:
    spec = APPS[service]().openapi()
    assert spec["components"]["schemas"]["Problem"]["required"] == ["type", "code", "title",
                                                                    "status"]
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for name, operation in operations(spec):
        responses = operation["responses"]
        for status, response in responses.items():
            if status >= "400":
                assert response["content"] == PROBLEM, (name, status)
        if "requestBody" in operation:
            assert {"400", "413", "415", "422", "503"} <= set(responses), name
            assert "`overloaded`" in responses["503"]["description"], name  # shared.admission
        if operation.get("parameters"):
            assert "422" in responses, name


def test_the_ledgers_own_errors_are_listed() -> None:
    spec = dict(operations(ledger_app().openapi()))
    assert "503" in spec["GET /v1/learners/{lid}/statement"]["responses"]  # min_ledger_seq
    assert "404" in spec["GET /v1/achievements/{aid}"]["responses"]
    assert {"404", "409"} <= set(spec["POST /v1/achievements/{aid}/corrections"]["responses"])
    assert "409" in spec["POST /v1/results"]["responses"]
