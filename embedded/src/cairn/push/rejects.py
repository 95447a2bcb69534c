"""The rows a push could not record, written beside the results file so that a registrar
can fix them and send them again: `results.csv.rejected.csv` for a CSV (the original
columns as they were, after `line`, `outcome` and `reasons`: `cairn push-results` reads
that file as it is, ignoring the three, so the fixed file is pushed as any other), and
`<file>.rejected.jsonl` for JSON files (`{"line", "outcome", "errors", "result"}` a line).

Kept in step with the saved progress: the progress records the file's size after each
batch, and a resumed push cuts the file back to it, so a batch answered but not saved
before an interruption is written once, when it is sent again."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cairn.push.files import Row, csv_header

REJECT_COLUMNS = ("line", "outcome", "reasons")


def rejects_path(results_file: Path, kind: str = "rejected") -> Path:
    """`results.csv.rejected.csv` for a push; `kind` "not-revoked" for a revocation run."""
    suffix = ".csv" if results_file.suffix.lower() == ".csv" else ".jsonl"
    return results_file.with_name(f"{results_file.name}.{kind}{suffix}")


def csv_column(field: str) -> str:
    """The CSV column a result's field comes from ("credit.value" -> "credit_value",
    "subjects[1].percent" -> "subjects"); a field of no single column, as it is."""
    column = field.split("[")[0].replace(".", "_")
    return "course_code" if column == "course" else column


def describe(errors: Sequence[dict[str, Any]], *, csv_file: bool, codes: bool = False) -> str:
    """One line for a row's errors: "credit_value: must be greater than 0, got -5", or
    with `codes` their reasons' codes: "credit_value: invalid_credit"."""
    def name(field: str) -> str:
        return csv_column(field) if csv_file else field
    def says(error: dict[str, Any]) -> Any:
        return error.get("reason") if codes else error.get("message") or error.get("reason")
    return "; ".join(f"{name(str(e.get('field', 'body')))}: {says(e)}" for e in errors)


class RejectsFile:
    """Appends the rows a push could not record (rejected or conflicting)."""

    def __init__(self, results_file: Path, kind: str = "rejected") -> None:
        self.path = rejects_path(results_file, kind)
        self._csv = results_file.suffix.lower() == ".csv"
        columns, self._delimiter = csv_header(results_file) if self._csv else ([], ",")
        self._header = [*REJECT_COLUMNS, *columns] if self._csv else []  # the file's own

    def start(self) -> int:
        """A new file (a push from its first batch); its size."""
        self.path.write_text(self._encode([self._header]) if self._csv else "",
                             encoding="utf-8")
        return self.size()

    def resume(self, size: int) -> None:
        """Cut the file back to `size`, its size when the progress was last saved."""
        if size <= 0 or not self.path.exists() or self.path.stat().st_size < size:
            self.start()  # never started (a progress saved before this file existed), gone
            return        # or shortened by hand: what it held is lost, not rebuilt
        with self.path.open("r+b") as fh:
            fh.truncate(size)

    def write(self, rejects: Sequence[tuple[Row, str, list[dict[str, Any]]]]) -> int:
        """Append (row, outcome, errors) for each; the file's size after, on disk."""
        if rejects:
            with self.path.open("a", encoding="utf-8", newline="") as fh:
                fh.write(self._encode(self._record(row, outcome, errors)
                                      for row, outcome, errors in rejects)
                         if self._csv else "".join(
                             json.dumps({"line": row.line, "outcome": outcome,
                                         "errors": errors, "result": row.source},
                                        ensure_ascii=False) + "\n"
                             for row, outcome, errors in rejects))
                fh.flush()
                os.fsync(fh.fileno())  # before the progress that counts these rows
        return self.size()

    def size(self) -> int:
        return self.path.stat().st_size

    def finish(self, total_rejects: int) -> Path | None:
        """The file, or None (and no file) when the whole push had nothing to reject."""
        if total_rejects:
            return self.path
        self.path.unlink(missing_ok=True)
        return None

    def _record(self, row: Row, outcome: str, errors: list[dict[str, Any]]) -> list[str]:
        source = row.source if isinstance(row.source, dict) else {}
        return [str(row.line), outcome, describe(errors, csv_file=True),
                *(source.get(column) or "" for column in self._header[len(REJECT_COLUMNS):])]

    def _encode(self, records: Any) -> str:
        out = io.StringIO()
        csv.writer(out, delimiter=self._delimiter).writerows(records)
        return out.getvalue()
