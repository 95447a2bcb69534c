"""What `cairn push-results` (and its `--check`) and `cairn revoke-results` print: a
progress bar on stderr and a closing summary."""

from __future__ import annotations

import sys
from pathlib import Path

from cairn.push.pusher import Progress, Summary

REVOCATION_COUNTS = ("revoked", "duplicate", "rejected")
CHECK_COUNTS = ("created", "duplicate", "conflict", "rejected")
_LABELS = {"created": "would record", "revoked": "would revoke"}  # a check writes nothing
# corrected_since, revoked_since, result_id_conflict: the reasons tell which
_CONFLICT = "the ledger holds another result under the same id, or revoked it"


def progress_bar(progress: Progress, total_batches: int,
                 counts: tuple[str, ...] | None = None, *, check: bool = False) -> None:
    """`counts`: the outcomes shown (a push's by default); `check`: a push's --check."""
    s, width = progress.summary, 30
    if counts is None:
        counts = ("created", *(("corrected",) if progress.correction_reason else ()),
                  "duplicate", "conflict", "rejected")
    done = int(width * progress.batches_done / max(total_batches, 1))
    sys.stderr.write(f"\r[{'#' * done}{'.' * (width - done)}] batch {progress.batches_done}/"
                     f"{total_batches}  " + "  ".join(
                         f"{_LABELS.get(name, name) if check else name} {getattr(s, name)}"
                         for name in counts))
    sys.stderr.flush()


def summary_text(progress: Progress, total_batches: int, rejects: Path | None = None) -> str:
    """`rejects`: the file the rows not recorded were written to (cairn.push.rejects)."""
    s = progress.summary
    lines = [_headline(progress, total_batches), f"  accepted   {s.created}"]
    if progress.correction_reason is not None:
        lines.append(f"  corrected  {s.corrected}  (a different result was recorded under "
                     f"the same id: corrected, {progress.correction_reason!r})")
    lines += [f"  duplicate  {s.duplicate}  (already recorded)",
              f"  conflict   {s.conflict}  ({_CONFLICT}"
              + ("; push again with --correct REASON to correct the results that can be)"
                 if s.conflict else ")"),
              f"  rejected   {s.rejected}"]
    return "\n".join(lines + _details(s, rejects, "not recorded", "push"))


def check_summary_text(progress: Progress, total_batches: int, rejects: Path | None = None
                       ) -> str:
    """After `--check`: what the push would do; `rejects`, the rows it would not record."""
    s = progress.summary
    lines = [f"\nChecked {progress.batches_done} of {_count(total_batches, 'batch')}, "
             f"{_count(s.rows, 'row')}: "
             "nothing was recorded",
             f"  would be recorded  {s.created}",
             f"  duplicate          {s.duplicate}  (already recorded)",
             f"  conflict           {s.conflict}  ({_CONFLICT}"
             + ("; push with --correct REASON to correct the results that can be)"
                if s.conflict else ")"),
             f"  rejected           {s.rejected}"]
    return "\n".join(lines + _details(s, rejects, "that would not be recorded", None,
                                    checked="recorded"))


def revocation_summary_text(progress: Progress, total_batches: int,
                            rejects: Path | None = None) -> str:
    """`rejects`: the file the rows not revoked were written to."""
    s = progress.summary
    lines = [_headline(progress, total_batches),
             f"  revoked    {s.revoked}",
             f"  duplicate  {s.duplicate}  (revoked before, with the same reason)",
             f"  rejected   {s.rejected}"]
    return "\n".join(lines + _details(s, rejects, "not revoked", "revoke"))


def revocation_check_summary_text(progress: Progress, total_batches: int,
                                  rejects: Path | None = None) -> str:
    """After `revoke-results --check`: what the revocations would do; `rejects`, the rows
    that would not be revoked."""
    s = progress.summary
    lines = [f"\nChecked {progress.batches_done} of {_count(total_batches, 'batch')}, "
             f"{_count(s.rows, 'row')}: "
             "nothing was revoked",
             f"  would be revoked  {s.revoked}",
             f"  duplicate         {s.duplicate}  (revoked before, with the same reason)",
             f"  rejected          {s.rejected}"]
    return "\n".join(lines + _details(s, rejects, "that would not be revoked", None,
                                    checked="revoked"))


def _count(n: int, noun: str) -> str:
    """"1 row", "30 rows", "1 batch", "4 batches"."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}{'es' if noun.endswith('ch') else 's'}"


def _headline(progress: Progress, total_batches: int) -> str:
    complete = progress.batches_done >= total_batches
    return (f"\n{'Done' if complete else 'Interrupted: run again to resume'} "
            f"({progress.batches_done} of {_count(total_batches, 'batch')}, "
            f"{_count(progress.summary.rows, 'row')})")


def _details(s: Summary, rejects: Path | None, which: str, verb: str | None, *,
             checked: str = "") -> list[str]:
    """`which`: the rows in `rejects` ("not recorded"); `verb`: what to do with that file
    once fixed (None for a check: nothing was sent, the file itself is to be fixed);
    `checked`: what a check did not do ("recorded")."""
    lines = []
    if s.reasons:
        lines.append("  reasons:")
        lines += [f"    {n:>6}  {why}" for why, n in s.reasons.most_common(15)]
        lines.append("  first examples (line, result id, why):")
        lines += [f"    {line:>6}  {rid}  {why}" for line, rid, why in s.examples[:10]]
    if rejects is not None and s.conflict + s.rejected:
        lines.append(f"  every row {which}, with its reasons: {rejects}")
        if verb is None:
            lines.append("  (fix them in the file itself and check it again: nothing of it "
                         f"was {checked})")
        elif rejects.suffix == ".csv":
            lines.append(f"  (fix the rows there and {verb} that file: its first three "
                         "columns are ignored)")
    return lines
