"""The ledger's own commands of `python -m ledger` (beside every service's, shared.cli).

  verify [--heads FILE]
            recompute every learner's hash chain (R-LG-4); exit status 1 if one is broken.
            With --heads, each chain is also checked against its head in FILE, as the last
            good run kept it, and FILE is replaced by today's heads once every chain is good
            (service_layer.audit: anchors). Keep FILE outside the database's reach.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import orjson
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger.service_layer.audit import Anchor, LedgerCheck, verify_ledger

log = structlog.get_logger(__name__)


async def verify(engine: AsyncEngine, argv: Sequence[str] = ()) -> int:
    """Every chain verified (service_layer.audit): progress on stderr, each broken chain
    and the totals logged, a summary on stdout; the exit status."""
    parser = argparse.ArgumentParser(prog="python -m ledger verify",
                                     description="Recompute every learner's hash chain.")
    parser.add_argument("--heads", type=Path, help="anchors: the chains' heads as the last "
                        "good run found them (JSON lines), replaced by today's when all is good")
    args = parser.parse_args(list(argv))
    started = time.monotonic()
    anchors = _read_heads(args.heads) if args.heads is not None else {}
    heads = HeadsFile(args.heads) if args.heads is not None else None

    def progress(check: LedgerCheck) -> None:
        sys.stderr.write(f"\r{check.learners:,} learners, {check.entries:,} entries read, "
                         f"{len(check.broken)} broken chains")
        sys.stderr.flush()

    try:
        check = await verify_ledger(engine, anchors=anchors, on_page=progress,
                                    on_head=heads.add if heads is not None else None)
    except BaseException:
        if heads is not None:
            heads.discard()
        raise
    digest = heads.close(keep=check.ok) if heads is not None else None
    seconds = round(time.monotonic() - started, 1)
    sys.stderr.write("\n")
    for broken in check.broken:
        log.error("ledger.chain_broken", learner_id=broken.learner_id,
                  first_bad_seq=broken.first_bad_seq, reason=broken.reason,
                  detail=broken.detail)
    log.info("ledger.verified", learners=check.learners, entries=check.entries,
             anchored=check.anchored, broken=len(check.broken), heads_digest=digest,
             seconds=seconds)
    lines = [f"{'OK' if check.ok else 'BROKEN'}: {check.learners:,} learners' chains, "
             f"{check.entries:,} entries, {seconds} s"]
    if args.heads is not None:
        lines.append(f"  {check.anchored:,} checked against their heads in {args.heads}; "
                     + (f"today's heads written there, {digest}" if check.ok else
                        "left as they were (the last good heads)"))
    lines += [f"  {b.learner_id}: {b.reason} at ledger_seq {b.first_bad_seq}: {b.detail}"
              for b in check.broken]
    print("\n".join(lines))
    return 0 if check.ok else 1


def _read_heads(path: Path) -> dict[str, Anchor]:
    """The anchors in `path` (none yet when it does not exist: the first run)."""
    if not path.exists():
        return {}
    anchors: dict[str, Anchor] = {}
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            try:
                learner_id, seq, digest = orjson.loads(line)
            except (orjson.JSONDecodeError, ValueError, TypeError):
                raise SystemExit(f"{path}:{number}: not a head ([learner_id, ledger_seq, "
                                 "hash]); restore the file from its copy") from None
            anchors[learner_id] = (seq, digest)
    return anchors


class HeadsFile:
    """Today's heads, one JSON line each ([learner_id, ledger_seq, hash]), written beside
    `path` and moved over it only when every chain is good."""

    def __init__(self, path: Path) -> None:
        self.path, self._tmp = path, path.with_name(path.name + ".new")
        self._fh = self._tmp.open("wb")
        self._sha = hashlib.sha256()

    def add(self, learner_id: str, ledger_seq: int, digest: str) -> None:
        line = orjson.dumps([learner_id, ledger_seq, digest]) + b"\n"
        self._sha.update(line)
        self._fh.write(line)

    def close(self, *, keep: bool) -> str | None:
        """"sha256:<hex>" of the file written (to note down elsewhere), or None when not
        kept."""
        if not keep:
            self.discard()
            return None
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        self._tmp.replace(self.path)
        return "sha256:" + self._sha.hexdigest()

    def discard(self) -> None:
        self._fh.close()
        self._tmp.unlink(missing_ok=True)
