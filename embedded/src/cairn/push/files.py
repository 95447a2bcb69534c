"""Reading a results file, or a file of results to revoke: CSV, JSON (an array, or
{"results": [...]}) or JSON lines. The CSV columns are documented in the README
("Pushing a results file", "Revoking results")."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CSV_COLUMNS = ("result_id", "learner_id", "institution_id", "course_code", "title",
               "credit_value", "credit_scheme", "level_framework", "level_value", "subjects",
               "grade_scale", "grade_value", "assessed_on")
OPTIONAL_CSV_COLUMNS = ("course_institution_id", "origin", "notional_hours")


@dataclass(frozen=True)
class Row:
    line: int  # where it is in the file, for the summary
    result: dict[str, Any] | None  # None when it is not to be sent (`problem`)
    problem: RowProblem | None = None  # set when the row is not to be sent
    source: Any = None  # the row as the file has it: a CSV record, a JSON item or line


class RowProblem(ValueError):
    """Why a row is not sent: the file itself makes it unreadable (`field`: its CSV column,
    or "row"), or the pushing member may not send it (cairn.push.pusher)."""

    def __init__(self, field: str, message: str, reason: str = "unreadable") -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message, self.reason = field, message, reason

    def errors(self) -> list[dict[str, str]]:
        """As the ledger's `errors` list of a rejected item."""
        return [{"field": self.field, "reason": self.reason, "message": self.message}]


def fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def csv_header(path: Path) -> tuple[list[str], str]:
    """The columns of a CSV results file, in its order, and its separator."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        delimiter = _delimiter(fh.readline())
        fh.seek(0)
        return next(csv.reader(fh, delimiter=delimiter), []), delimiter


def _delimiter(header_line: str) -> str:
    """",", or ";" (what a spreadsheet writes where "," is the decimal comma) or a tab:
    the one the header line holds most of (none of them: ",")."""
    return max((",", ";", "\t"), key=header_line.count)


def read_rows(path: Path) -> Iterator[Row]:
    """The rows of a results file, each the body of `POST /ledger/v1/results`."""
    yield from _rows(path, CSV_COLUMNS, _from_csv, lambda item: item)


def read_revocations(path: Path, reason: str | None = None) -> Iterator[Row]:
    """The rows of a file of results to revoke, each `{"result_id", "reason"}`: a CSV with
    a `result_id` column and, optionally, `reason` (any other column is ignored, so a
    results file or its rejects file will do), or JSON items with those fields. A row's
    own reason comes first, then `reason`; a row with neither is not sent."""
    def revocation(item: dict[str, Any]) -> dict[str, Any]:
        result_id, own = item.get("result_id"), item.get("reason")
        if not isinstance(result_id, str) or not result_id.strip():
            raise RowProblem("result_id", "the result id to revoke is missing", "missing")
        if own is not None and not isinstance(own, str):
            raise RowProblem("reason", "a reason is text", "invalid")
        why = (own or "").strip() or reason
        if not why:
            raise RowProblem("reason", "no reason: fill in the reason column, or give "
                                       "--reason for every row", "reason_required")
        out = {"result_id": result_id.strip(), "reason": why}
        if isinstance(item.get("institution_id"), str):  # checked against the pusher's
            out["institution_id"] = item["institution_id"].strip()
        return out

    yield from _rows(path, ("result_id",), revocation, revocation)


Convert = Callable[[dict[str, Any]], dict[str, Any]]  # raises RowProblem


def _rows(path: Path, columns: Sequence[str], from_csv: Convert, from_json: Convert
          ) -> Iterator[Row]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        yield from _csv_rows(path, columns, from_csv)
    elif suffix in (".jsonl", ".ndjson"):
        with path.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, start=1):
                if line.strip():
                    yield _json_row(n, line, from_json)
    elif suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        items = data.get("results") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise ValueError('a JSON results file is an array or {"results": [...]}')
        for n, item in enumerate(items, start=1):
            yield _item_row(n, item, from_json)
    else:
        raise ValueError(f"unknown results file type {suffix!r}: use .csv, .json or .jsonl")


def _json_row(n: int, line: str, convert: Convert) -> Row:
    try:
        item = json.loads(line)
    except json.JSONDecodeError as error:
        return Row(n, None, RowProblem("row", f"malformed JSON: {error.msg}"), line.rstrip("\n"))
    return _item_row(n, item, convert)


def _item_row(n: int, item: Any, convert: Convert) -> Row:
    if not isinstance(item, dict):
        return Row(n, None, RowProblem("row", "a result is a JSON object"), item)
    try:
        return Row(n, convert(item), source=item)
    except RowProblem as error:
        return Row(n, None, error, item)


def _csv_rows(path: Path, columns: Sequence[str], convert: Convert) -> Iterator[Row]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        delimiter = _delimiter(fh.readline())
        fh.seek(0)
        reader = csv.DictReader(fh, delimiter=delimiter)
        missing = [c for c in columns if c not in (reader.fieldnames or ())]
        if missing:
            raise ValueError(f"the CSV header lacks: {', '.join(missing)}")
        width = len(reader.fieldnames or ())
        for record in reader:
            line = reader.line_num
            try:
                extra = record.pop(None, None) or []  # values past the header's columns
                given = sum(value is not None for value in record.values()) + len(extra)
                if given != width:  # a short row's missing values are None
                    raise RowProblem("row", f"has {given} values, the header {width} columns")
                yield Row(line, convert(record), source=record)
            except RowProblem as error:
                yield Row(line, None, error, record)


def _from_csv(r: dict[str, str]) -> dict[str, Any]:
    institution = r["institution_id"].strip()
    result: dict[str, Any] = {
        "result_id": r["result_id"].strip(), "learner_id": r["learner_id"].strip(),
        "institution_id": institution,
        "course": {"institution_id": (r.get("course_institution_id") or institution).strip(),
                   "code": r["course_code"].strip()},
        "title": r["title"].strip(),
        "credit": {"value": r["credit_value"].strip(), "scheme": r["credit_scheme"].strip()},
        "level": {"framework": r["level_framework"].strip(),
                  "value": _int(r["level_value"], "level_value")},
        "subjects": _subjects(r["subjects"]),
        "grade": {"scale": r["grade_scale"].strip(), "value": r["grade_value"].strip()},
        "assessed_on": r["assessed_on"].strip(),
        "origin": (r.get("origin") or "member").strip(),
    }
    if not r["course_code"].strip():
        del result["course"]  # RPL general credit (R-LG-5)
    if (r.get("notional_hours") or "").strip():
        result["notional_hours"] = _int(r["notional_hours"], "notional_hours")
    return result


def _int(text: str, column: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise RowProblem(column, f"{text!r} is not a whole number") from None


def _subjects(text: str) -> list[dict[str, Any]]:
    """"100366:60;100367:40" (HECoS code : percent, separated by ';')."""
    shares = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        code, _, percent = part.partition(":")
        if not percent:
            raise RowProblem("subjects", f"{part!r} is not HECOS:PERCENT")
        shares.append({"hecos": code.strip(), "percent": percent.strip()})
    return shares
