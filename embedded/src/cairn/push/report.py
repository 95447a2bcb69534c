"""What `cairn push-results` prints: a progress bar on stderr and a closing summary."""

from __future__ import annotations

import sys
from pathlib import Path

from cairn.push.pusher import Progress


def progress_bar(progress: Progress, total_batches: int) -> None:
    s, width = progress.summary, 30
    done = int(width * progress.batches_done / max(total_batches, 1))
    sys.stderr.write(f"\r[{'#' * done}{'.' * (width - done)}] batch {progress.batches_done}/"
                     f"{total_batches}  created {s.created}  "
                     + (f"corrected {s.corrected}  " if progress.correction_reason else "")
                     + f"duplicate {s.duplicate}  "
                     f"conflict {s.conflict}  rejected {s.rejected}")
    sys.stderr.flush()


def summary_text(progress: Progress, total_batches: int, rejects: Path | None = None) -> str:
    """`rejects`: the file the rows not recorded were written to (cairn.push.rejects)."""
    s = progress.summary
    complete = progress.batches_done >= total_batches
    lines = ["", f"{'Done' if complete else 'Interrupted: run again to resume'} "
                 f"({progress.batches_done} of {total_batches} batches, {s.rows} rows)",
             f"  accepted   {s.created}"]
    if progress.correction_reason is not None:
        lines.append(f"  corrected  {s.corrected}  (a different result was recorded under "
                     f"the same id: corrected, {progress.correction_reason!r})")
    lines += [f"  duplicate  {s.duplicate}  (already recorded)",
              f"  conflict   {s.conflict}  (a different result under the same id"
              + (": push again with --correct REASON to send these as corrections)"
                 if s.conflict else ")"),
              f"  rejected   {s.rejected}"]
    if s.reasons:
        lines.append("  reasons:")
        lines += [f"    {n:>6}  {why}" for why, n in s.reasons.most_common(15)]
        lines.append("  first examples (line, result id, why):")
        lines += [f"    {line:>6}  {rid}  {why}" for line, rid, why in s.examples[:10]]
    if rejects is not None and s.conflict + s.rejected:
        lines.append(f"  every row not recorded, with its reasons: {rejects}")
        if rejects.suffix == ".csv":
            lines.append("  (fix the rows there and push that file: its first three columns "
                         "are ignored)")
    return "\n".join(lines)
