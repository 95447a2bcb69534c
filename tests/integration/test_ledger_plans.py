"""The ledger's hot statements reach their rows through an index, whatever the size of
the ledger: none of them may read the whole entries table (or the learners or the
statements) to find a few learners' rows.

Each is checked as PostgreSQL runs it in production: asyncpg prepares it, and after five
runs PostgreSQL may keep one plan made for any parameters (a generic plan). That is how
the relay's held-back check came to read the whole table every 50 ms (fixed and tested in
test_outbox_relay.py). 20,000 entries, not yet analysed, are enough to show such a plan:
the test first checks that a plain count of some learners' entries is planned as a read
of the whole table there, so a passing test is not a table too small to tell."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from ledger.adapters import entries, statements
from ledger.adapters.publication import ENTRIES
from shared.messaging.log_relay import INDEX_ONLY
from tests.plugins.plans import generic_plan

pytestmark = pytest.mark.integration

ROWS = 20_000
LEARNERS = "'{L-1,L-2,L-3}'"  # a batch's learners, as unnest($1::text[]) gets them

# Each hot statement with arguments of its types (what asyncpg binds), as SQL literals.
HOT = {
    "chain heads (ingest)": (entries._HEADS, (LEARNERS,)),
    "recorded results (ingest, R-LG-2)": (entries._RECORDED, ("'{m-1,m-1}'", "'{r-1,r-2}'")),
    "latest amendments (ingest, R-LG-3)": (entries._AMENDMENTS, (LEARNERS, "'{m-1:r-1}'")),
    "fresh statements (statement read)": (statements._FRESH, (LEARNERS, "1")),
    "stale learners (projection)": (statements._STALE, (LEARNERS, "1")),
    "statement sources (projection)": (statements._SOURCES, (LEARNERS,)),
    "relay: next rows": (ENTRIES.select, ("'100'", "1", "5000")),
    "relay: held back?": (ENTRIES.pending, ("'100'", "1")),
}
# A bitmap scan of one learner's rows by the primary key is fine; a sequential scan of
# these tables reads them whole (the catalogue replica is a few members: scanned).
WHOLE_TABLE = ("Seq Scan on entries", "Seq Scan on learners", "Seq Scan on statements")


@pytest.fixture
async def big_ledger(fresh_ledger_database: str) -> AsyncIterator[asyncpg.Connection]:
    """A ledger of 20,000 entries over 5,000 learners, each registered and with a
    stored statement; nothing analysed yet (as after a results-day load)."""
    dsn = fresh_ledger_database.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"""
            INSERT INTO ledger.entries (learner_id, ledger_seq, kind, achievement_id,
              institution_id, result_id, fingerprint, event_id, event, prev_hash, hash,
              recorded_at)
            SELECT 'L-' || (g % 5000), g / 5000 + 1, 'recorded', 'm-1:r-' || g, 'm-1',
                   'r-' || g, 'sha256:f', 'e-' || g, '{{"kind":"recorded"}}', 'sha256:p',
                   'sha256:h', now()
            FROM generate_series(0, {ROWS - 1}) AS g""")
        await conn.execute("""
            INSERT INTO ledger.learners (learner_id, home_member, associate, revision)
            SELECT 'L-' || g, 'm-1', false, 1 FROM generate_series(0, 4999) AS g""")
        await conn.execute("""
            INSERT INTO ledger.statements (learner_id, ledger_seq, registration, framework,
                                           format, body)
            SELECT 'L-' || g, 4, 1, 'FHEQ', 1, repeat('x', 2000)
            FROM generate_series(0, 4999) AS g""")
        yield conn
    finally:
        await conn.close()


async def test_the_hot_statements_never_read_a_whole_table(big_ledger):
    some = "SELECT count(*) FROM ledger.entries WHERE learner_id > $1"
    assert "Seq Scan on entries" in await generic_plan(big_ledger, some, ("'L-1'",)), \
        "the ledger is too small to show a plan that reads the whole table"
    plans = {name: await generic_plan(big_ledger, sql, args) for name, (sql, args) in HOT.items()}
    plans["relay: backlog"] = await generic_plan(big_ledger, ENTRIES.backlog, ("'100'", "1", "100000"),
                                                 INDEX_ONLY)  # as the relay runs it
    bad = {name: plan for name, plan in plans.items()
           if any(scan in plan for scan in WHOLE_TABLE)}
    assert not bad, "\n\n".join(f"{name}:\n{plan}" for name, plan in bad.items())
