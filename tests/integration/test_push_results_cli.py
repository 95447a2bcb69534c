"""`cairn push-results` against the real ledger: a CSV of thousands of rows in batches,
interrupted and resumed without duplicates, a summary with reasons (issue 4, item 6)."""

from __future__ import annotations

import csv
import json
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.routing import Mount

from cairn.push.files import CSV_COLUMNS
from cairn.push.pusher import (
    PushAborted,
    check_file,
    check_revocations,
    progress_path,
    push_file,
    revoke_file,
)
from cairn.push.rejects import rejects_path
from cairn.push.report import (
    check_summary_text,
    revocation_check_summary_text,
    revocation_summary_text,
    summary_text,
)
from ledger.adapters.tables import entries
from shared.messaging.memory_bus import InProcessBus
from tests.plugins.services import auth, running, unique

pytestmark = pytest.mark.integration


@asynccontextmanager
async def ledger_client(database, inst: str):
    """The ledger on `database`, and an HTTP client calling it as member `inst`."""
    async with running("ledger", database, InProcessBus(), run_workers=False) as (app, _):
        gateway = Starlette(routes=[Mount("/ledger", app=app)])
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway),
                                     base_url="http://cairn",
                                     headers=auth("institution", inst)) as client:
            yield app, client


def write_csv(path: Path, inst: str, n: int) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for i in range(n):
            row = {"result_id": f"R{i:05d}", "learner_id": f"L-{inst}-{i % 400}",
                   "institution_id": inst, "course_code": f"M{i % 12}",
                   "title": f"Module {i % 12}", "credit_value": "15", "credit_scheme": "CATS",
                   "level_framework": "FHEQ", "level_value": str(4 + i % 4),
                   "subjects": "100366:60;100367:40", "grade_scale": "UK-PERCENT",
                   "grade_value": str(40 + i % 50), "assessed_on": "2026-06-20"}
            if i == 7:
                row["subjects"] = "100366"  # unreadable in the file itself
            if i == 11:
                row["assessed_on"] = "2999-01-01"  # the ledger rejects it
            if i == 13:
                row["credit_scheme"] = "POINTS"
            if i == 1500:  # in the batch sent twice: in the rejects file once
                row["credit_value"] = "-15"
            writer.writerow(row)


async def test_a_csv_is_pushed_in_batches_resumed_and_summarised(migrated_database, tmp_path):
    inst = unique("uni")
    path = tmp_path / "results.csv"
    write_csv(path, inst, 2500)
    async with ledger_client(migrated_database, inst) as (app, client):
        first = await push_file(path, client, batch_size=1000, stop_after=1)
        assert first.batches_done == 1  # interrupted after one batch
        saved = json.loads(progress_path(path).read_text())
        assert saved["batches_done"] == 1

        # The process died after its second batch was answered but before it saved:
        # that batch is sent again and answers "duplicate", recording nothing twice.
        await push_file(path, client, batch_size=1000, stop_after=1)
        progress_path(path).write_text(json.dumps(saved | {"batches_done": 1}))
        done = await push_file(path, client, batch_size=1000)

        async with app.state.ctx.engine.connect() as conn:
            stored = (await conn.execute(select(func.count()).select_from(entries)
                                         .where(entries.c.institution_id == inst))).scalar_one()

    s = done.summary
    assert done.batches_done == 3
    assert stored == 2496  # every good row once
    # batch 1: 998 created + 2 rejected; batch 2 (sent twice): 999 duplicates the second
    # time + 1 rejected; batch 3: 499 created; and the row the file itself could not give.
    assert (s.created, s.duplicate, s.conflict, s.rejected) == (998 + 499, 999, 0, 4)
    assert s.reasons == {"subjects: unreadable": 1, "assessed_on: assessed_in_future": 1,
                         "credit_scheme: invalid_credit": 1,
                         "credit_value: invalid_credit": 1}  # named by CSV column
    text = summary_text(done, 3, rejects_path(path))
    assert "Done" in text and "rejected   4" in text
    assert "R00011  assessed_on: assessed_on 2999-01-01 is after today" in text
    assert f"every row not recorded, with its reasons: {rejects_path(path)}" in text

    # Every row not recorded, once, as the file had it, with why: fixed there, and pushed.
    with rejects_path(path).open(newline="") as fh:
        rejected = list(csv.DictReader(fh))
    assert [(r["line"], r["result_id"], r["reasons"].split(":")[0]) for r in rejected] == [
        ("9", "R00007", "subjects"), ("13", "R00011", "assessed_on"),
        ("15", "R00013", "credit_scheme"), ("1502", "R01500", "credit_value")]
    fixes = {"subjects": "100366:100", "assessed_on": "2026-06-20", "credit_scheme": "CATS",
             "credit_value": "15"}
    for row in rejected:
        column = row["reasons"].split(":")[0]
        row[column] = fixes[column]
    fixed = tmp_path / "fixed.csv"
    with fixed.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rejected[0]))
        writer.writeheader()
        writer.writerows(rejected)
    async with ledger_client(migrated_database, inst) as (_, client):
        again = await push_file(fixed, client)
    assert (again.summary.created, again.summary.rejected) == (4, 0)
    assert not rejects_path(fixed).exists()  # nothing left to fix


async def test_a_check_counts_what_the_push_would_do_and_records_nothing(migrated_database,
                                                                         tmp_path):
    """`push-results --check`: the file sent as dry runs. A results file partly pushed
    before, with one mark since changed: the check counts exactly what the push then
    does, lists the rows it would not record, and records nothing, saves no progress."""
    inst = unique("uni")
    earlier, path = tmp_path / "earlier.csv", tmp_path / "results.csv"
    write_csv(earlier, inst, 20)
    write_csv(path, inst, 30)
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[2]["grade_value"] == "42"
    rows[2]["grade_value"] = "45"  # R00002: marked again since it was pushed
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    async with ledger_client(migrated_database, inst) as (app, client):
        await push_file(earlier, client, batch_size=8)

        async def stored() -> int:
            async with app.state.ctx.engine.connect() as conn:
                return (await conn.execute(select(func.count()).select_from(entries).where(
                    entries.c.institution_id == inst))).scalar_one()

        before = await stored()
        checked = await check_file(path, client, batch_size=8, institution=inst)
        assert await stored() == before == 17  # rows 7, 11 and 13 were never recorded
        assert not progress_path(path).exists()
        with rejects_path(path, "problems").open(newline="") as fh:
            problems = [(r["line"], r["result_id"], r["outcome"]) for r in csv.DictReader(fh)]
        pushed = await push_file(path, client, batch_size=8, institution=inst)
        assert await stored() == before + 10

    c, p = checked.summary, pushed.summary
    assert (c.created, c.duplicate, c.conflict, c.rejected) == (10, 16, 1, 3)
    assert (p.created, p.duplicate, p.conflict, p.rejected) == (10, 16, 1, 3)
    assert c.reasons == p.reasons
    assert checked.batches_done == pushed.batches_done == 4
    assert problems == [("9", "R00007", "rejected"),  # unreadable in the file: listed first
                        ("4", "R00002", "conflict"), ("13", "R00011", "rejected"),
                        ("15", "R00013", "rejected")]
    text = check_summary_text(checked, 4, rejects_path(path, "problems"))
    assert "Checked 4 of 4 batches, 30 rows: nothing was recorded" in text
    assert "would be recorded  10" in text and "conflict           1" in text
    assert f"every row that would not be recorded, with its reasons: " \
           f"{rejects_path(path, 'problems')}" in text


async def test_a_row_for_another_member_is_rejected_unsent_not_the_whole_batch(
        migrated_database, tmp_path):
    inst, other = unique("uni"), unique("uni")
    path = tmp_path / "results.csv"
    write_csv(path, inst, 20)
    text = path.read_text().splitlines()
    text[5] = text[5].replace(inst, other)  # line 6: R00004, another member's row
    path.write_text("\n".join(text) + "\n")
    async with ledger_client(migrated_database, inst) as (_, client):
        with pytest.raises(PushAborted,  # the ledger's answer to such a batch
                           match=r"refused the batch: 403 wrong_tenant: results\[4\] is for"):
            await push_file(path, client, restart=True)
        done = await push_file(path, client, institution=inst, restart=True)
    s = done.summary
    assert (s.created, s.rejected) == (16, 4)  # with rows 7, 11 and 13 of write_csv
    assert s.reasons["institution_id: wrong_tenant"] == 1
    with rejects_path(path).open(newline="") as fh:
        rejected = {r["result_id"]: r for r in csv.DictReader(fh)}
    assert rejected["R00004"]["line"] == "6"
    assert rejected["R00004"]["reasons"] == (
        f"institution_id: the file is pushed as {inst}, this row is for {other}: a member "
        "records only its own results")


def amend_csv(path: Path, changes: dict[str, dict[str, str]]) -> None:
    """`path` with the rows of these result ids changed (column -> value)."""
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        row.update(changes.get(row["result_id"], {}))
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


async def test_a_file_pushed_again_with_correct_sends_its_changed_rows_as_corrections(
        migrated_database, tmp_path):
    """R-LG-2: a different result under a recorded id is a conflict, "the institution must
    send a correction"; --correct sends it (R-LG-3). Refused corrections are rejected
    rows with the ledger's reason; a push sent again corrects nothing twice."""
    inst = unique("uni")
    path = tmp_path / "results.csv"
    write_csv(path, inst, 30)
    async with ledger_client(migrated_database, inst) as (app, client):
        first = await push_file(path, client, institution=inst)
        assert (first.summary.created, first.summary.rejected) == (27, 3)  # rows 7, 11, 13
        revoked = await client.post(f"/ledger/v1/achievements/{inst}:R00003/revocation",
                                    json={"reason": "academic misconduct"})
        assert revoked.status_code == 201

        # The exam board moderated R00002's mark; R00003 (revoked) and R00004 (now naming
        # another learner: a mistake, not a correction) changed too.
        amend_csv(path, {"R00002": {"grade_value": "75"}, "R00003": {"grade_value": "60"},
                         "R00004": {"learner_id": f"L-{inst}-399"}})
        plain = await push_file(path, client, institution=inst)
        assert (plain.summary.duplicate, plain.summary.conflict, plain.summary.corrected) == (
            24, 3, 0)
        assert "push again with --correct REASON" in summary_text(plain, 1)

        # Same file, now with --correct: sent again from its first batch, not "done".
        done = await push_file(path, client, institution=inst,
                               correct="Exam board 2026-06-30: marks moderated")
        s = done.summary
        assert (s.created, s.corrected, s.duplicate, s.conflict, s.rejected) == (
            0, 1, 24, 0, 5)
        assert s.reasons["result_id: already_revoked"] == 1
        assert s.reasons["learner_id: correction_changes_identity"] == 1
        text = summary_text(done, 1, rejects_path(path))
        assert "corrected  1" in text and "'Exam board 2026-06-30: marks moderated'" in text
        with rejects_path(path).open(newline="") as fh:
            rejected = {r["result_id"]: r for r in csv.DictReader(fh)}
        assert set(rejected) == {"R00003", "R00004", "R00007", "R00011", "R00013"}
        assert rejected["R00003"]["outcome"] == "rejected"
        assert rejected["R00003"]["reasons"] == (
            f"result_id: correction refused: {inst}:R00003 is already revoked")
        assert rejected["R00004"]["reasons"].startswith("learner_id: correction refused: ")

        # What the learner and the registrar now see: the moderated mark, the original kept.
        read = (await client.get(f"/ledger/v1/achievements/{inst}:R00002")).json()
        assert (read["status"], read["corrections"]) == ("corrected", 1)
        assert (read["original"]["grade"]["value"], read["latest"]["grade"]["value"]) == (
            "42", "75")

        # The same file pushed later without --correct: the corrected row is what the
        # ledger holds now (a duplicate); the other two are still conflicts.
        later = await push_file(path, client, institution=inst, restart=True)
        assert (later.summary.duplicate, later.summary.conflict) == (25, 2)

        # Pushed again (an interrupted push resent): nothing appended, nothing corrected.
        again = await push_file(path, client, institution=inst, restart=True,
                                correct="Exam board 2026-06-30: marks moderated")
        assert (again.summary.corrected, again.summary.duplicate) == (0, 25)
        async with app.state.ctx.engine.connect() as conn:
            kinds = (await conn.execute(
                select(entries.c.kind).where(entries.c.result_id == "R00002",
                                             entries.c.institution_id == inst)
                .order_by(entries.c.ledger_seq))).scalars().all()
        assert kinds == ["recorded", "corrected"]

        # An appeal restores R00002's first mark, and the file says 42 again: that is the
        # result first recorded (R-LG-2: a duplicate), but no longer what the ledger holds.
        amend_csv(path, {"R00002": {"grade_value": "42"}})
        plain = await push_file(path, client, institution=inst, restart=True)
        assert (plain.summary.duplicate, plain.summary.conflict) == (24, 3)
        assert plain.summary.reasons["result_id: corrected_since"] == 1
        restored = await push_file(path, client, institution=inst, restart=True,
                                   correct="Appeal upheld 2026-08-01: first mark restored")
        assert (restored.summary.corrected, restored.summary.duplicate) == (1, 24)
        read = (await client.get(f"/ledger/v1/achievements/{inst}:R00002")).json()
        assert (read["status"], read["corrections"], read["latest"]["grade"]["value"]) == (
            "corrected", 2, "42")
        settled = await push_file(path, client, institution=inst, restart=True)
        assert (settled.summary.duplicate, settled.summary.conflict) == (25, 2)


async def test_a_row_of_a_result_revoked_since_is_a_conflict_not_a_duplicate(
        migrated_database, tmp_path):
    """A results file exported again after a member revoked one of its results (R-LG-3)
    still holds the row as it was recorded: the ledger answers `duplicate` (R-LG-2), with
    the achievement's status; the push and its check count the row a `conflict`,
    `revoked_since`, so the registrar sees that the file counts a result the ledger no
    longer does. `--correct` cannot undo a revocation: the ledger's refusal is listed."""
    inst = unique("uni")
    path = tmp_path / "results.csv"
    write_csv(path, inst, 12)
    async with ledger_client(migrated_database, inst) as (_app, client):
        first = await push_file(path, client, institution=inst)
        assert (first.summary.created, first.summary.rejected) == (10, 2)  # rows 7 and 11
        revoked = await client.post(f"/ledger/v1/achievements/{inst}:R00005/revocation",
                                    json={"reason": "academic misconduct"})
        assert revoked.status_code == 201

        checked = await check_file(path, client, institution=inst)
        plain = await push_file(path, client, institution=inst, restart=True)
        for done in (checked, plain):
            s = done.summary
            assert (s.created, s.duplicate, s.conflict, s.rejected) == (0, 9, 1, 2)
            assert s.reasons["result_id: revoked_since"] == 1
        with rejects_path(path).open(newline="") as fh:
            rows = {r["result_id"]: r for r in csv.DictReader(fh)}
        assert rows["R00005"]["outcome"] == "conflict"
        assert rows["R00005"]["reasons"].startswith("result_id: recorded as this row, since "
                                                    "revoked")
        assert "the ledger holds another result under the same id, or revoked it" in (
            summary_text(plain, 1))
        assert "Done (1 of 1 batch, 12 rows)" in summary_text(plain, 1)

        fixed = await push_file(path, client, institution=inst, restart=True,
                                correct="Exam board 2026-06-30")
        assert (fixed.summary.corrected, fixed.summary.duplicate, fixed.summary.rejected) == (
            0, 9, 3)
        assert fixed.summary.reasons["result_id: already_revoked"] == 1
        read = (await client.get(f"/ledger/v1/achievements/{inst}:R00005")).json()
        assert (read["status"], read["corrections"]) == ("revoked", 0)


async def test_a_file_of_result_ids_is_revoked_resumably_and_what_cannot_be_is_listed(
        migrated_database, tmp_path):
    """`cairn revoke-results` (R-LG-3): each row's own reason, else --reason; revoked once
    however often the file is sent, an interrupted run resumed; what the ledger refuses
    (no such result, revoked before for another reason) and what is not sent (no id, another
    member's row) is listed beside the file with its reason."""
    inst = unique("uni")
    results = tmp_path / "results.csv"
    write_csv(results, inst, 30)
    path = tmp_path / "misconduct.csv"
    path.write_text("result_id,institution_id,reason\n"
                    f"R00001,{inst},Panel 2026-07-01: plagiarism\n"
                    f"R00002,{inst},\n"  # the default reason
                    f"R00003,{inst},\n"  # revoked before, another reason: refused
                    f"R00005,{inst},\n"  # revoked before, the same reason: as the first time
                    f"R99999,{inst},\n"  # never recorded
                    f",{inst},no id\n"
                    "R00006,uni-elsewhere,\n"  # another member's: not sent
                    f"R00001,{inst},Panel 2026-07-01: plagiarism\n"  # twice in the file
                    f"R00008,{inst},\n"
                    f"R00002,{inst},Another reason\n")  # revoked above: refused
    default = "Academic misconduct panel 2026-07-14"
    async with ledger_client(migrated_database, inst) as (app, client):
        await push_file(results, client, institution=inst)
        for rid, why in (("R00003", "Withdrawn by the learner"), ("R00005", default)):
            answer = await client.post(f"/ledger/v1/achievements/{inst}:{rid}/revocation",
                                       json={"reason": why})
            assert answer.status_code == 201

        # Checked first (--check): what the revocations will do, nothing revoked.
        checked = await check_revocations(path, client, institution=inst, reason=default,
                                          batch_size=2)
        c = checked.summary
        assert (checked.batches_done, c.revoked, c.duplicate, c.rejected) == (4, 3, 2, 5)
        assert not progress_path(path, "revocations").exists()
        with rejects_path(path, "problems").open(newline="") as fh:
            problems = {(r["line"], r["result_id"]) for r in csv.DictReader(fh)}
        assert problems == {("4", "R00003"), ("6", "R99999"), ("7", ""), ("8", "R00006"),
                            ("11", "R00002")}
        text = revocation_check_summary_text(checked, 4, rejects_path(path, "problems"))
        assert "nothing was revoked" in text and "would be revoked  3" in text
        assert "check it again: nothing of it was revoked" in text
        assert (await client.get(f"/ledger/v1/achievements/{inst}:R00001")).json()[
            "status"] == "current"

        first = await revoke_file(path, client, institution=inst, reason=default,
                                  batch_size=2, stop_after=1)  # interrupted: R00001, R00002
        assert (first.batches_done, first.summary.revoked, first.summary.rejected) == (1, 2, 2)
        done = await revoke_file(path, client, institution=inst, reason=default, batch_size=2)
        s = done.summary
        assert (done.batches_done, s.revoked, s.duplicate, s.rejected) == (4, 3, 2, 5)
        assert s.reasons == c.reasons  # the check said so
        assert dict(s.reasons) == {"result_id: missing": 1, "institution_id: wrong_tenant": 1,
                                   "result_id: already_revoked": 2,
                                   "result_id: achievement_not_found": 1}
        assert (6, "R99999", f"result_id: revocation refused: no achievement {inst}:R99999"
                ) in s.examples
        text = revocation_summary_text(done, 4, rejects_path(path, "not-revoked"))
        assert "revoked    3" in text and "duplicate  2" in text and "rejected   5" in text
        with rejects_path(path, "not-revoked").open(newline="") as fh:
            refused = {(r["line"], r["result_id"]): r for r in csv.DictReader(fh)}
        assert set(refused) == problems
        assert refused[("4", "R00003")]["institution_id"] == inst  # the file's own columns

        # Sent again from the start: nothing appended.
        again = await revoke_file(path, client, institution=inst, reason=default,
                                  batch_size=2, restart=True)
        assert (again.summary.revoked, again.summary.duplicate) == (0, 5)
        read = (await client.get(f"/ledger/v1/achievements/{inst}:R00001")).json()
        assert read["status"] == "revoked"
        async with app.state.ctx.engine.connect() as conn:
            revoked = (await conn.execute(
                select(entries.c.result_id, func.count()).where(
                    entries.c.institution_id == inst, entries.c.kind == "revoked")
                .group_by(entries.c.result_id))).all()
        assert dict(revoked) == {"R00001": 1, "R00002": 1, "R00003": 1, "R00005": 1,
                                 "R00008": 1}
        assert results.exists() and not rejects_path(results, "not-revoked").exists()
