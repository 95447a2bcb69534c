"""`cairn push-results`' file side, without a ledger: reading rows, naming the CSV column
at fault, and the rejects file kept in step with the saved progress (issue 4, item 6)."""

from __future__ import annotations

import csv
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from cairn.cli import main
from cairn.push import pusher
from cairn.push.files import CSV_COLUMNS, read_revocations, read_rows
from cairn.push.pusher import Progress, Summary
from cairn.push.rejects import RejectsFile, csv_column, describe, rejects_path

GOOD = {"result_id": "R1", "learner_id": "L-1", "institution_id": "uni-a", "course_code": "M1",
        "title": "Module", "credit_value": "15", "credit_scheme": "CATS",
        "level_framework": "FHEQ", "level_value": "5", "subjects": "100366:100",
        "grade_scale": "UK-PERCENT", "grade_value": "62", "assessed_on": "2026-06-20"}


def write_csv(path, rows, columns=CSV_COLUMNS):
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        writer.writerows(rows)


def test_a_csv_row_of_the_wrong_width_is_unreadable_not_a_crash(tmp_path):
    path = tmp_path / "r.csv"
    good = [GOOD[c] for c in CSV_COLUMNS]
    write_csv(path, [good, good[:4], [*good, "stray"], good])
    rows = list(read_rows(path))
    assert [r.result is not None for r in rows] == [True, False, False, True]
    assert rows[1].problem.errors() == [{"field": "row", "reason": "unreadable", "message":
                                         "has 4 values, the header 13 columns"}]
    assert rows[2].problem.message == "has 14 values, the header 13 columns"
    assert rows[0].source["credit_value"] == "15"  # the row as the file has it


def test_an_unreadable_value_names_its_column(tmp_path):
    path = tmp_path / "r.csv"
    write_csv(path, [[{**GOOD, "level_value": "five"}[c] for c in CSV_COLUMNS],
                     [{**GOOD, "subjects": "100366"}[c] for c in CSV_COLUMNS]])
    first, second = read_rows(path)
    assert (first.problem.field, first.problem.message) == ("level_value",
                                                            "'five' is not a whole number")
    assert second.problem.field == "subjects"


def test_a_field_is_named_by_its_csv_column():
    assert [csv_column(f) for f in ("credit.value", "level.framework", "subjects[1].percent",
                                    "course", "course.institution_id", "assessed_on")] == [
        "credit_value", "level_framework", "subjects", "course_code", "course_institution_id",
        "assessed_on"]
    errors = [{"field": "credit.value", "reason": "invalid_credit", "message": "must be > 0"},
              {"field": "grade", "reason": "grade_incomplete"}]
    assert describe(errors, csv_file=True) == "credit_value: must be > 0; grade: grade_incomplete"
    assert describe(errors, csv_file=False).startswith("credit.value: must be > 0")


def test_the_csv_rejects_file_keeps_the_original_columns_and_can_be_pushed_again(tmp_path):
    path = tmp_path / "results.csv"
    columns = [*CSV_COLUMNS, "notes"]
    write_csv(path, [[*(GOOD[c] for c in CSV_COLUMNS), "first"],
                     [*({**GOOD, "result_id": "R2", "credit_value": "-1"}[c]
                        for c in CSV_COLUMNS), "second"]], columns)
    rows = list(read_rows(path))
    rejects = RejectsFile(path)
    assert rejects.path == rejects_path(path) == tmp_path / "results.csv.rejected.csv"
    rejects.start()
    rejects.write([(rows[1], "rejected", [{"field": "credit.value", "reason": "invalid_credit",
                                           "message": "must be greater than 0, got -1"}])])
    with rejects.path.open(newline="") as fh:
        written = list(csv.DictReader(fh))
    assert written == [{"line": "3", "outcome": "rejected",
                        "reasons": "credit_value: must be greater than 0, got -1",
                        **{c: {**GOOD, "result_id": "R2", "credit_value": "-1"}[c]
                           for c in CSV_COLUMNS}, "notes": "second"}]
    [again] = read_rows(rejects.path)  # the rejects file is itself a results file
    assert again.result["result_id"] == "R2" and again.result["credit"]["value"] == "-1"


def test_a_resumed_push_cuts_the_rejects_file_back_to_its_saved_size(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text("".join(json.dumps({"result_id": f"R{i}"}) + "\n" for i in range(3)))
    rows = list(read_rows(path))
    errors = [{"field": "title", "reason": "missing", "message": "title is required"}]
    rejects = RejectsFile(path)
    assert rejects.path.name == "results.jsonl.rejected.jsonl"
    rejects.start()
    saved = rejects.write([(rows[0], "rejected", errors)])  # progress saved here
    rejects.write([(rows[1], "rejected", errors)])  # answered, then interrupted: not saved
    RejectsFile(path).resume(saved)
    resumed = RejectsFile(path)
    resumed.write([(rows[1], "rejected", errors)])  # sent again
    lines = [json.loads(line) for line in rejects.path.read_text().splitlines()]
    assert [(x["line"], x["result"]["result_id"]) for x in lines] == [(1, "R0"), (2, "R1")]
    assert lines[0]["errors"] == errors
    assert resumed.finish(2) == rejects.path
    assert RejectsFile(path).finish(0) is None and not rejects.path.exists()


def push_command(*args: str) -> str:
    """`cairn push-results ...`'s exit message (it must exit)."""
    return exit_message("push-results", *args)


def exit_message(command: str, *args: str) -> str:
    try:
        main([command, *args, "--institution", "uni-a", "--token", "not-used"])
    except SystemExit as stop:
        return str(stop.code)
    raise AssertionError("the command did not stop")


def test_a_file_the_command_cannot_use_is_one_line_not_a_traceback(tmp_path):
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes((",".join(CSV_COLUMNS) + "\n").encode() + "Café".encode("latin-1"))
    (tmp_path / "header.csv").write_text("result_id,title\n")
    (tmp_path / "broken.json").write_text("[1, 2")
    (tmp_path / "object.json").write_text('{"rows": []}')
    (tmp_path / "results.txt").write_text("")
    assert push_command(str(latin1)) == (
        f'cairn push-results: {latin1}: not UTF-8 text (it has the byte 0xe9): save it as '
        'UTF-8 (in a spreadsheet, "CSV UTF-8")')
    assert push_command(str(tmp_path / "header.csv")).endswith(
        "the CSV header lacks: learner_id, institution_id, course_code, credit_value, "
        "credit_scheme, level_framework, level_value, subjects, grade_scale, grade_value, "
        "assessed_on")
    assert "broken.json: Expecting" in push_command(str(tmp_path / "broken.json"))
    assert push_command(str(tmp_path / "object.json")).endswith(
        'a JSON results file is an array or {"results": [...]}')
    assert push_command(str(tmp_path / "results.txt")).endswith(
        "unknown results file type '.txt': use .csv, .json or .jsonl")
    assert push_command(str(tmp_path / "gone.csv")).endswith(
        "gone.csv: No such file or directory")


def test_a_ledger_out_of_reach_stops_the_push_resumably(tmp_path, monkeypatch):
    path = tmp_path / "results.csv"
    write_csv(path, [[GOOD[c] for c in CSV_COLUMNS]])
    with socket.socket() as probe:  # a loopback port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(pusher, "RETRIES", 1)
    message = push_command(str(path), "--url", f"http://127.0.0.1:{port}")
    assert message.startswith(f"\ncannot reach the ledger at http://127.0.0.1:{port} (")
    assert message.endswith("run the same command again to resume")


def test_a_csv_separated_by_semicolons_is_read_and_its_rejects_written_alike(tmp_path):
    """As a spreadsheet saves CSV where the decimal separator is a comma (NL, DE, FR)."""
    path = tmp_path / "results.csv"
    values = {**GOOD, "subjects": "100366:60;100367:40", "title": "Data, science"}
    with path.open("w", newline="") as fh:
        csv.writer(fh, delimiter=";").writerows([CSV_COLUMNS, [values[c] for c in CSV_COLUMNS]])
    [row] = read_rows(path)
    assert row.result["subjects"] == [{"hecos": "100366", "percent": "60"},
                                      {"hecos": "100367", "percent": "40"}]
    assert row.result["title"] == "Data, science"
    rejects = RejectsFile(path)
    rejects.start()
    rejects.write([(row, "rejected", [{"field": "title", "reason": "r", "message": "m"}])])
    assert rejects.path.read_text().splitlines()[0].startswith("line;outcome;reasons;result_id;")
    [again] = read_rows(rejects.path)
    assert again.result == row.result


def test_a_progress_saved_before_the_rejects_file_existed_starts_it_with_its_header(tmp_path):
    path = tmp_path / "results.csv"
    write_csv(path, [[GOOD[c] for c in CSV_COLUMNS]])
    rejects = RejectsFile(path)
    rejects.path.write_text("stale\n")
    rejects.resume(0)  # a progress file without rejects_bytes
    assert rejects.path.read_text().splitlines() == [",".join(["line", "outcome", "reasons",
                                                               *CSV_COLUMNS])]


def test_a_correction_needs_a_reason_said_in_one_line(tmp_path, capsys):
    path = tmp_path / "results.csv"
    write_csv(path, [[GOOD[c] for c in CSV_COLUMNS]])
    for reason, says in (("  ", "give the reason for the corrections"),
                         ("x" * 2001, "at most 2,000 characters, got 2,001")):
        assert push_command(str(path), "--correct", reason) == "2"  # argparse's usage error
        assert says in capsys.readouterr().err


def test_a_progress_saved_without_correct_is_not_resumed_by_a_push_with_it(tmp_path):
    """Its batches' conflicts were not corrected: a push with --correct starts over (and
    a progress file from before --correct existed reads as a push without it)."""
    saved = tmp_path / "progress.json"
    Progress("sha", 1000, 3, Summary(created=5)).save(saved)
    assert Progress.load(saved, "sha", 1000).batches_done == 3
    assert Progress.load(saved, "sha", 1000, correction_reason="Exam board").batches_done == 0
    Progress("sha", 1000, 2, Summary(), correction_reason="Exam board").save(saved)
    resumed = Progress.load(saved, "sha", 1000, correction_reason="Exam board")
    assert (resumed.batches_done, resumed.correction_reason) == (2, "Exam board")
    data = json.loads(saved.read_text())
    del data["correction_reason"]
    saved.write_text(json.dumps(data))
    assert Progress.load(saved, "sha", 1000, correction_reason="Exam board").batches_done == 0
    assert Progress.load(saved, "sha", 1000).batches_done == 2


def test_a_revocation_file_takes_each_rows_reason_then_the_default(tmp_path):
    """`cairn revoke-results` reads a CSV with a result_id column (others ignored, so a
    results file will do) or JSON items; a row's own reason comes before --reason, and a
    row with neither, or without an id, is not sent."""
    path = tmp_path / "revoke.csv"
    write_csv(path, [["R1", "Panel: plagiarism", "x"], ["R2", "", "y"], [" ", "why", "z"]],
              columns=("result_id", "reason", "other"))
    rows = list(read_revocations(path, "Default"))
    assert [r.result for r in rows[:2]] == [{"result_id": "R1", "reason": "Panel: plagiarism"},
                                            {"result_id": "R2", "reason": "Default"}]
    assert (rows[2].line, rows[2].problem.reason) == (4, "missing")
    assert [r.problem.errors()[0]["reason"] for r in read_revocations(path) if r.problem] == [
        "reason_required", "missing"]  # R2 has no reason of its own and there is no default

    results = tmp_path / "results.csv"
    write_csv(results, [[GOOD[c] for c in CSV_COLUMNS]])
    [row] = read_revocations(results, "Course withdrawn")
    assert row.result == {"result_id": "R1", "reason": "Course withdrawn",
                          "institution_id": "uni-a"}

    items = tmp_path / "revoke.jsonl"
    items.write_text('{"result_id": "R7", "reason": "Own"}\n{"result_id": "R8", "reason": 5}\n'
                     '["R9"]\n')
    rows = list(read_revocations(items, "Default"))
    assert rows[0].result == {"result_id": "R7", "reason": "Own"}
    assert [r.problem.reason for r in rows[1:]] == ["invalid", "unreadable"]


def test_a_revocation_file_with_no_result_id_column_is_one_line(tmp_path, capsys):
    path = tmp_path / "revoke.csv"
    write_csv(path, [["R1"]], columns=("id",))
    assert revoke_command(str(path), "--reason", "Panel") == (
        f"cairn revoke-results: {path}: the CSV header lacks: result_id")
    assert revoke_command(str(path), "--reason", " ") == "2"
    assert "give the reason for revoking" in capsys.readouterr().err


def revoke_command(*args: str) -> str:
    """`cairn revoke-results ...`'s exit message (it must exit)."""
    return exit_message("revoke-results", *args)


def ledger_answering(*answers):
    """A client whose ledger gives `answers` (status, Retry-After or None) in turn."""
    sent = []

    def answer(request):
        status, retry = answers[len(sent)]
        sent.append(request)
        headers = {} if retry is None else {"retry-after": retry}
        return httpx.Response(status, json={"code": "overloaded"}, headers=headers)
    return httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://l"), sent


async def test_a_busy_ledger_is_waited_for_as_it_asks_without_counting_failures(monkeypatch):
    """503 overloaded with Retry-After (shared.admission, results day): sent again after the
    delay it names, however often, up to BUSY_PATIENCE in all."""
    monkeypatch.setattr(pusher, "RETRIES", 1)  # any counted failure would end the push
    client, sent = ledger_answering((503, "0"), (429, "0"), (503, "0"), (200, None))
    async with client:
        answer = await pusher._post(client, pusher.BATCH_PATH, {"results": []})
    assert (answer.status_code, len(sent)) == (200, 4)


async def test_a_failing_ledger_or_one_busy_past_patience_ends_the_push(monkeypatch):
    monkeypatch.setattr(pusher, "RETRIES", 2)
    client, sent = ledger_answering((500, None), (503, None))  # no Retry-After: failures
    async with client:
        with pytest.raises(pusher.PushAborted, match=r"keeps failing \(503 overloaded"):
            await pusher._post(client, pusher.BATCH_PATH, {"results": []})
    assert len(sent) == 2
    monkeypatch.setattr(pusher, "BUSY_PATIENCE", 1.0)
    monkeypatch.setattr(pusher, "RETRIES", 1)
    client, sent = ledger_answering((503, "1"), (503, "1"))
    async with client:
        with pytest.raises(pusher.PushAborted):
            await pusher._post(client, pusher.BATCH_PATH, {"results": []})
    assert len(sent) == 2  # waited 1 s as told, then past its patience


def test_retry_after_is_read_in_seconds_at_most_a_minute():
    def of(status, value):
        return pusher.retry_after(httpx.Response(status, headers={"retry-after": value}))
    assert [of(503, "5"), of(429, "7"), of(503, "3600"), of(500, "5"),
            of(503, "Wed, 21 Oct 2026 07:28:00 GMT")] == [5.0, 7.0, 60.0, None, None]


def test_the_registrar_is_told_when_the_ledger_is_busy_and_the_push_goes_on(tmp_path, capsys):
    """A results-day ledger past its body budget answers 503 overloaded (shared.admission):
    the push says so, waits as told and sends the batch again."""
    answers = [(503, {"code": "overloaded"}, {"Retry-After": "0"}),
               (200, {"counts": {"created": 1}, "results": [
                   {"outcome": "created", "achievement_id": "uni-a:R1", "ledger_seq": 1}]}, {})]

    class Ledger(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["content-length"]))
            status, body, headers = answers.pop(0)
            data = json.dumps(body).encode()
            self.send_response(status)
            for name, value in {**headers, "content-type": "application/json",
                                "content-length": str(len(data))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ledger)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    path = tmp_path / "results.csv"
    write_csv(path, [[{**GOOD, "institution_id": "uni-a"}[c] for c in CSV_COLUMNS]])
    try:
        main(["push-results", str(path), "--institution", "uni-a", "--token", "t",
              "--url", f"http://127.0.0.1:{server.server_port}"])
    finally:
        server.shutdown()
    out = capsys.readouterr().out
    assert "the ledger is busy (503): sending it again in 0 s" in out
    assert "accepted   1" in out and not answers
