"""Settings refuse the demo secret outside local mode; tokens carry role and tenant;
problems are RFC 9457 with stable codes."""

from __future__ import annotations

import time

import jwt
import pytest
from pydantic import ValidationError

from shared.auth import (
    Principal,
    decode_token,
    mint_token,
    require_institution,
    require_learner_or_admin,
    require_role,
)
from shared.contracts import CloudEvent, decode_event, encode_event, new_event
from shared.contracts.events import InstitutionRegisteredV1, payload_of
from shared.errors import Problem, validation_problem
from shared.settings import DEMO_AUTH_SECRET, ServiceSettings

SECRET = "x" * 40


def test_local_mode_accepts_the_demo_secret() -> None:
    assert ServiceSettings().auth_secret.get_secret_value() == DEMO_AUTH_SECRET


@pytest.mark.parametrize("secret", [DEMO_AUTH_SECRET, "short-secret"])
def test_production_refuses_the_demo_or_a_short_secret(secret: str) -> None:
    with pytest.raises(ValidationError, match="CAIRN_AUTH_SECRET"):
        ServiceSettings(CAIRN_MODE="production", CAIRN_AUTH_SECRET=secret)


def test_production_accepts_a_private_secret(monkeypatch) -> None:
    monkeypatch.setenv("CAIRN_MODE", "production")
    monkeypatch.setenv("CAIRN_AUTH_SECRET", SECRET)
    assert ServiceSettings().mode == "production"


def test_a_minted_token_decodes_to_its_principal() -> None:
    assert decode_token(SECRET, mint_token(SECRET, "uni-north", "institution")) == Principal(
        "uni-north", "institution")


@pytest.mark.parametrize(("token", "code"), [
    (lambda: mint_token("another-secret-of-enough-length!!", "a", "admin"), "invalid_token"),
    (lambda: jwt.encode({"sub": "a", "role": "admin", "exp": int(time.time()) - 10}, SECRET),
     "token_expired"),
    (lambda: jwt.encode({"sub": "a", "role": "root", "exp": int(time.time()) + 60}, SECRET),
     "invalid_token"),
    (lambda: jwt.encode({"sub": "a", "role": "admin"}, SECRET), "invalid_token"),
])
def test_bad_tokens_are_401(token, code: str) -> None:
    with pytest.raises(Problem) as error:
        decode_token(SECRET, token())
    assert (error.value.status, error.value.code) == (401, code)


def test_tenancy_checks() -> None:
    north = Principal("uni-north", "institution")
    require_institution(north, "uni-north")
    for caller, iid in ((north, "uni-scot"), (Principal("admin", "admin"), "uni-north"),
                        (Principal("uni-north", "learner"), "uni-north")):
        with pytest.raises(Problem) as error:
            require_institution(caller, iid)
        assert error.value.status == 403
    require_learner_or_admin(Principal("L-1", "learner"), "L-1")
    require_learner_or_admin(Principal("root", "admin"), "L-1")
    with pytest.raises(Problem):
        require_learner_or_admin(Principal("L-2", "learner"), "L-1")
    with pytest.raises(Problem):
        require_role(north, "admin")


def test_validation_errors_name_each_field() -> None:
    problem = validation_problem([
        {"loc": ("body", "credit", "value"), "type": "greater_than", "msg": "must be > 0"},
        {"loc": ("query", "limit"), "type": "less_than_equal", "msg": "too big"},
    ])
    body = problem.body("/x")
    assert body["status"] == 422 and body["code"] == "validation_failed"
    assert body["type"].endswith("/validation_failed")
    assert [e["field"] for e in body["errors"]] == ["credit.value", "query.limit"]


def test_envelope_round_trips_and_types_follow_the_convention() -> None:
    event = new_event(InstitutionRegisteredV1(
        institution_id="uni-north", revision=1, name="North", country="GB-ENG",
        framework="FHEQ", awarding_powers={"framework": "FHEQ", "max_level": 8}),
        subject="uni-north")
    again = decode_event(encode_event(event))
    assert again == event and again.specversion == "1.0" and again.source == "/cairn/catalogue"
    assert payload_of(again).name == "North"
    with pytest.raises(ValidationError):
        CloudEvent(id="1", source="/x", type="InstitutionRegistered", time=event.time, data={})
    unknown = event.model_copy(update={"type": "cairn.catalogue.institution.registered.v9"})
    assert payload_of(unknown) is None  # a newer version this reader does not know
