"""Verifying the whole ledger (R-LG-4), `python -m ledger verify`: every learner's chain
recomputed in one pass, a page at a time; each broken chain named with its first bad
link (a changed event, a removed entry, an event that is not JSON), the others still
checked. On a database of its own, on the real PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from ledger.domain.canonical import canonical_json
from ledger.domain.chain import event_hash
from ledger.entrypoints import cli
from ledger.service_layer.audit import BrokenChain, verify_ledger
from shared.messaging.memory_bus import InProcessBus
from tests.integration.test_ledger_api import result
from tests.plugins.services import auth, running, unique

pytestmark = pytest.mark.integration


async def test_every_chain_is_verified_and_each_broken_one_named(fresh_ledger_database):
    iid = unique("uni")
    a, b, c, d = (unique(f"L{n}") for n in "abcd")
    items = [result(iid, lid, f"{lid}-{i}") for lid, n in ((a, 3), (b, 2), (c, 4), (d, 1))
             for i in range(n)]
    async with running("ledger", fresh_ledger_database, InProcessBus(),
                       run_workers=False) as (app, client):
        batch = await client.post("/v1/results/batch", json={"results": items},
                                  headers=auth("institution", iid))
        assert batch.json()["counts"]["created"] == 10, batch.text
        engine = app.state.ctx.engine
        pages: list[int] = []
        good = await verify_ledger(engine, page=3, on_page=lambda c: pages.append(c.entries))
        assert (good.ok, good.learners, good.entries, pages) == (True, 4, 10, [3, 6, 9, 10])

        async with engine.begin() as conn:  # past the append-only trigger, as a superuser
            await conn.execute(text("SET LOCAL session_replication_role = replica"))
            await conn.execute(text("DELETE FROM ledger.entries WHERE learner_id = :l "
                                    "AND ledger_seq = 2"), {"l": a})
            await conn.execute(text(
                "UPDATE ledger.entries SET event = replace(event, '\"value\":\"68\"', "
                "'\"value\":\"99\"') WHERE learner_id = :l AND ledger_seq = 2"), {"l": b})
            await conn.execute(text("UPDATE ledger.entries SET event = 'not json' "
                                    "WHERE learner_id = :l AND ledger_seq = 3"), {"l": c})
        bad = await verify_ledger(engine, page=3)
        one = (await client.get(f"/v1/learners/{b}/verify", headers=auth("learner", b))).json()

    assert (bad.ok, bad.learners, bad.entries) == (False, 4, 9)
    assert [(x.learner_id, x.first_bad_seq, x.reason) for x in bad.broken] == sorted([
        (a, 3, "sequence_gap"), (b, 2, "hash_mismatch"), (c, 3, "not_canonical")])
    assert isinstance(bad.broken[0], BrokenChain)
    assert bad.broken[0].detail == "expected ledger_seq 2, found 3: 2 missing"
    assert (one["ok"], one["first_bad_seq"], one["reason"]) == (False, 2, "hash_mismatch")

    env = {**os.environ, "DATABASE_URL": fresh_ledger_database, "CAIRN_LOG_LEVEL": "WARNING"}
    command = subprocess.run([sys.executable, "-m", "ledger", "verify"], env=env,
                             capture_output=True, text=True, timeout=120)
    assert command.returncode == 1, command.stderr
    assert command.stdout.startswith("BROKEN: 4 learners' chains, 9 entries")
    assert f"  {b}: hash_mismatch at ledger_seq 2: stored hash sha256:" in command.stdout
    assert "ledger.chain_broken" in command.stdout + command.stderr


async def test_an_empty_ledger_verifies(fresh_ledger_database):
    engine = create_async_engine(fresh_ledger_database)
    try:
        check = await verify_ledger(engine)
    finally:
        await engine.dispose()
    assert (check.ok, check.learners, check.entries) == (True, 0, 0)


async def test_anchored_heads_show_a_rewritten_history_and_removed_entries(
        fresh_ledger_database, tmp_path):
    """Someone past the trigger rewrites a chain with every later hash recomputed, drops
    a chain's newest entry, drops a whole chain: each chain still verifies on its own, but
    not against the heads the last good run kept outside the database (R-LG-4)."""
    iid = unique("uni")
    a, b, c, d = (unique(f"L{n}") for n in "abcd")
    items = [result(iid, lid, f"{lid}-{i}") for lid, n in ((a, 3), (b, 2), (c, 2), (d, 1))
             for i in range(n)]
    heads = tmp_path / "ledger-heads.jsonl"
    me = auth("institution", iid)
    async with running("ledger", fresh_ledger_database, InProcessBus(),
                       run_workers=False) as (app, client):
        await client.post("/v1/results/batch", json={"results": items}, headers=me)
        engine = app.state.ctx.engine
        assert await cli.verify(engine, ["--heads", str(heads)]) == 0
        kept = heads.read_text()
        assert [orjson.loads(line)[:2] for line in kept.splitlines()] == sorted(
            [[a, 3], [b, 2], [c, 2], [d, 1]])

        await client.post("/v1/results", json=result(iid, d, f"{d}-1"), headers=me)  # grows
        async with engine.begin() as conn:
            await conn.execute(text("SET LOCAL session_replication_role = replica"))
            rows = (await conn.execute(text(
                "SELECT ledger_seq, event, hash FROM ledger.entries WHERE learner_id = :l "
                "ORDER BY ledger_seq"), {"l": a})).all()
            prev = rows[0].hash
            for seq, event, _ in rows[1:]:  # seq 2 changed, then every later hash again
                event = orjson.loads(event)
                if seq == 2:
                    event["result"]["grade"]["value"] = "99"
                digest = event_hash(prev, event)
                await conn.execute(text(
                    "UPDATE ledger.entries SET event = :e, prev_hash = :p, hash = :h "
                    "WHERE learner_id = :l AND ledger_seq = :s"), {
                        "e": canonical_json(event).decode(), "p": prev, "h": digest, "l": a,
                        "s": seq})
                prev = digest
            await conn.execute(text("DELETE FROM ledger.entries WHERE learner_id = :l "
                                    "AND ledger_seq = 2"), {"l": b})
            await conn.execute(text("DELETE FROM ledger.entries WHERE learner_id = :l"),
                               {"l": c})

        alone = await verify_ledger(engine)
        assert (alone.ok, alone.learners) == (True, 3)  # the chains alone cannot tell
        anchored = await verify_ledger(engine, anchors=cli._read_heads(heads))
        assert anchored.anchored == 3
        assert [(x.learner_id, x.first_bad_seq, x.reason) for x in anchored.broken] == [
            (a, 3, "rewritten"), (b, 2, "truncated"), (c, 2, "chain_removed")]
        assert await cli.verify(engine, ["--heads", str(heads)]) == 1
        assert heads.read_text() == kept  # the last good heads stay the anchors
        assert not heads.with_name(heads.name + ".new").exists()

    env = {**os.environ, "DATABASE_URL": fresh_ledger_database, "CAIRN_LOG_LEVEL": "WARNING"}
    command = subprocess.run([sys.executable, "-m", "ledger", "verify", "--heads", str(heads)],
                             env=env, capture_output=True, text=True, timeout=120)
    assert command.returncode == 1, command.stderr
    assert f"  {b}: truncated at ledger_seq 2: the chain ends at ledger_seq 1" in command.stdout
    assert "left as they were (the last good heads)" in command.stdout
    unknown = subprocess.run([sys.executable, "-m", "ledger", "relay", "--heads", "x"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 2 and "unrecognized arguments: --heads x" in unknown.stderr
