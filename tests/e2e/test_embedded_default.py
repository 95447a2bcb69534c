"""The embedded default as `make run` starts it (`cairn run`): one process, PostgreSQL
from the wheel under CAIRN_DATA_DIR, the in-process bus, the demo consortium, on
CAIRN_PORT, with tokens signed by CAIRN_AUTH_SECRET."""

from __future__ import annotations

import os
import subprocess
import time

import httpx
import pytest

from cairn.push.files import CSV_COLUMNS
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


def test_a_registrar_checks_a_results_file_before_pushing_it(embedded):
    """`cairn push-results --check` against `cairn run`: exit status 1 while a row would
    not be recorded, 0 once the file is fixed; nothing recorded until the push. Then
    `cairn revoke-results --check` likewise, the revocation, and the file's row of the
    revoked result is a conflict (`revoked_since`)."""
    base, tmp_path = embedded
    path = tmp_path / "results.csv"
    rows = [f"E2E-{i},L-E2E-{i},uni-north,DS701,Data Science Foundations,{credit},CATS,FHEQ,7,"
            f"100366:100,UK-PERCENT,6{i},2026-06-20" for i, credit in enumerate(("15", "-15", "15"))]
    path.write_text(",".join(CSV_COLUMNS) + "\n" + "\n".join(rows) + "\n")

    def cairn(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["cairn", "push-results", str(path), "--institution", "uni-north",
                               "--url", base, *args], env={**os.environ, "CAIRN_AUTH_SECRET": SECRET},
                              capture_output=True, text=True, timeout=60)

    def recorded() -> int:
        me = {"Authorization": f"Bearer {mint_token(SECRET, 'uni-north', 'institution')}"}
        page = httpx.get(f"{base}/ledger/v1/institutions/uni-north/results", headers=me,
                         params={"after": "E2E-", "limit": 10}).json()
        return sum(item["achievement_id"].startswith("uni-north:E2E-") for item in page["results"])

    bad = cairn("--check")
    assert bad.returncode == 1, bad.stderr
    assert "would be recorded  2" in bad.stdout and "rejected           1" in bad.stdout
    assert (tmp_path / "results.csv.problems.csv").exists() and recorded() == 0
    path.write_text(path.read_text().replace(",-15,", ",15,"))
    good = cairn("--check")
    assert (good.returncode, recorded()) == (0, 0), good.stdout + good.stderr
    assert "would be recorded  3" in good.stdout
    assert not (tmp_path / "results.csv.problems.csv").exists()
    pushed = cairn()
    assert (pushed.returncode, recorded()) == (0, 3), pushed.stdout + pushed.stderr
    again = cairn("--check")
    assert again.returncode == 0 and "duplicate          3" in again.stdout
    assert "--check does not combine" in cairn("--check", "--correct", "remark").stderr

    # A misconduct panel voids E2E-0: its revocation checked first (E2E-9 was never
    # recorded), then made; the results file pushed again now shows the difference.
    voids = tmp_path / "voids.csv"
    voids.write_text("result_id,reason\nE2E-0,Panel 2026-07-14\nE2E-9,Panel 2026-07-14\n")

    def revoke(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["cairn", "revoke-results", str(voids), "--institution",
                               "uni-north", "--url", base, *args],
                              env={**os.environ, "CAIRN_AUTH_SECRET": SECRET},
                              capture_output=True, text=True, timeout=60)

    def status() -> str:
        me = {"Authorization": f"Bearer {mint_token(SECRET, 'uni-north', 'institution')}"}
        return httpx.get(f"{base}/ledger/v1/achievements/uni-north:E2E-0",
                         headers=me).json()["status"]

    checked = revoke("--check")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "would be revoked  1" in checked.stdout and "rejected          1" in checked.stdout
    assert status() == "current"
    voids.write_text("result_id,reason\nE2E-0,Panel 2026-07-14\n")
    assert revoke("--check").returncode == 0 and status() == "current"
    assert revoke().returncode == 0 and status() == "revoked"
    after = cairn("--check")
    assert after.returncode == 1 and "revoked_since" in after.stdout, after.stdout
