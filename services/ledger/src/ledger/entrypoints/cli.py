"""The ledger's own commands of `python -m ledger` (beside every service's, shared.cli).

  verify    recompute every learner's hash chain (R-LG-4); exit status 1 if one is broken
"""

from __future__ import annotations

import sys
import time

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger.service_layer.audit import LedgerCheck, verify_ledger

log = structlog.get_logger(__name__)


async def verify(engine: AsyncEngine) -> int:
    """Every chain verified (service_layer.audit): progress on stderr, each broken chain
    and the totals logged, a summary on stdout; the exit status."""
    started = time.monotonic()

    def progress(check: LedgerCheck) -> None:
        sys.stderr.write(f"\r{check.learners:,} learners, {check.entries:,} entries read, "
                         f"{len(check.broken)} broken chains")
        sys.stderr.flush()

    check = await verify_ledger(engine, on_page=progress)
    seconds = round(time.monotonic() - started, 1)
    sys.stderr.write("\n")
    for broken in check.broken:
        log.error("ledger.chain_broken", learner_id=broken.learner_id,
                  first_bad_seq=broken.first_bad_seq, reason=broken.reason,
                  detail=broken.detail)
    log.info("ledger.verified", learners=check.learners, entries=check.entries,
             broken=len(check.broken), seconds=seconds)
    lines = [f"{'OK' if check.ok else 'BROKEN'}: {check.learners:,} learners' chains, "
             f"{check.entries:,} entries, {seconds} s"]
    lines += [f"  {b.learner_id}: {b.reason} at ledger_seq {b.first_bad_seq}: {b.detail}"
              for b in check.broken]
    print("\n".join(lines))
    return 0 if check.ok else 1
