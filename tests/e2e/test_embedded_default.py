"""The embedded default as `make run` starts it (`cairn run`): one process, PostgreSQL
from the wheel under CAIRN_DATA_DIR, the in-process bus, the demo consortium, on
CAIRN_PORT, with tokens signed by CAIRN_AUTH_SECRET."""

from __future__ import annotations

import time

import httpx
import pytest

from shared.auth import mint_token
from shared.settings import DEMO_AUTH_SECRET
from tests.e2e.conftest import SECRET

pytestmark = pytest.mark.e2e


def test_make_run_serves_the_demo_consortium_with_its_own_secret(embedded):
    base, tmp_path = embedded
    admin = {"Authorization": f"Bearer {mint_token(SECRET, 'consortium-admin', 'admin')}"}
    members = httpx.get(f"{base}/catalogue/v1/institutions", headers=admin)
    assert members.status_code == 200
    frameworks = {m["framework"] for m in members.json()}
    assert len(members.json()) >= 3 and {"FHEQ", "SCQF", "EQF"} <= frameworks
    courses = httpx.get(f"{base}/catalogue/v1/courses", params={"limit": 200}, headers=admin)
    items = courses.json()["items"]
    assert len(items) >= 36
    assert any(c["course"].get("micro_credential") for c in items)
    assert any(c["course"].get("eu_micro_credential") for c in items)

    # Tokens signed with the demo secret are refused once CAIRN_AUTH_SECRET is set.
    demo = {"Authorization": f"Bearer {mint_token(DEMO_AUTH_SECRET, 'x', 'admin')}"}
    assert httpx.get(f"{base}/catalogue/v1/institutions", headers=demo).status_code == 401

    # Every sub-app's lifespan ran: the other services' replicas were fed by the bus.
    for service in ("ledger", "transfer", "award"):
        deadline = time.monotonic() + 30
        while True:
            counts = httpx.get(f"{base}/{service}/v1/catalogue-replica", headers=admin).json()
            if counts["counts"]["courses"] >= len(items):
                break
            assert time.monotonic() < deadline, f"{service} replica: {counts}"
            time.sleep(0.3)
        assert httpx.get(f"{base}/{service}/docs").status_code == 200

    # Demo learners hold results at several members, one corrected and one revoked (R-LG-3).
    statuses: set[str] = set()
    for learner in ("L-0000001", "L-0000002"):
        me = {"Authorization": f"Bearer {mint_token(SECRET, learner, 'learner')}"}
        statement = httpx.get(f"{base}/ledger/v1/learners/{learner}/statement", headers=me)
        assert statement.status_code == 200, statement.text
        members = {a["member"] for a in statement.json()["achievements"]}
        assert len(members) >= 2
        statuses.update(a["status"] for a in statement.json()["achievements"])
        verify = httpx.get(f"{base}/ledger/v1/learners/{learner}/verify", headers=me)
        assert verify.json()["ok"] is True
    assert {"current", "corrected", "revoked"} <= statuses

    # A path no service takes is answered as a problem, like any other error.
    for path in ("/nothing", "/ledger/v1/achievements/a%0Ab"):
        missing = httpx.get(f"{base}{path}", headers=admin)
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        assert missing.json()["code"] == "not_found"

    # The banner told where to open it and gave a token per role.
    log = (tmp_path / "cairn.log").read_text()
    assert f"{base}/catalogue/docs" in log
    for role in ("admin", "institution", "learner"):
        assert f"\n    {role} " in log
    assert (tmp_path / "data" / "postgres").is_dir()  # CAIRN_DATA_DIR holds the database
