"""Reading a results file: CSV, JSON (an array, or {"results": [...]}) or JSON lines.
The CSV columns are documented in the README ("Pushing a results file")."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
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
    suffix = path.suffix.lower()
    if suffix == ".csv":
        yield from _csv_rows(path)
    elif suffix in (".jsonl", ".ndjson"):
        with path.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, start=1):
                if line.strip():
                    yield _json_row(n, line)
    elif suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        items = data.get("results") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise ValueError('a JSON results file is an array or {"results": [...]}')
        for n, item in enumerate(items, start=1):
            yield _item_row(n, item)
    else:
        raise ValueError(f"unknown results file type {suffix!r}: use .csv, .json or .jsonl")


def _json_row(n: int, line: str) -> Row:
    try:
        item = json.loads(line)
    except json.JSONDecodeError as error:
        return Row(n, None, RowProblem("row", f"malformed JSON: {error.msg}"), line.rstrip("\n"))
    return _item_row(n, item)


def _item_row(n: int, item: Any) -> Row:
    if isinstance(item, dict):
        return Row(n, item, source=item)
    return Row(n, None, RowProblem("row", "a result is a JSON object"), item)


def _csv_rows(path: Path) -> Iterator[Row]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        delimiter = _delimiter(fh.readline())
        fh.seek(0)
        reader = csv.DictReader(fh, delimiter=delimiter)
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or ())]
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
                yield Row(line, _from_csv(record), source=record)
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
