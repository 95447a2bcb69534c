"""Registering learners (R-MB-2): home member and associate status, one (PUT) or up to
10,000 at once (the batch); one use case for both. Every created or changed registration
emits `cairn.ledger.learner.registered.v1` through the ledger's outbox table, in the
transaction that writes it; an unchanged one emits nothing.

Decisions:
- An institution may register a learner whose home member is itself, and may change a
  registration only while it is that learner's home member; moving a learner to another
  home member is the administrator's act.
- A breach of that makes the whole request 403 and writes nothing, like an item for
  another institution in a results batch (recording.check_tenancy): it is a misuse of
  the credential, not bad data. An item naming another home member is refused before
  anything is read; a learner whose current home member is another institution, once
  the registrations are read (for the last time under the learners' locks; the
  transaction rolls back).
- The event goes through the outbox table and its relay, the achievements through the
  entries table's own relay: on `ledger.events` a registration is ordered with the
  learner's other registrations (`revision`), not with their achievements.
- A batch reports per item (created / updated / unchanged / rejected); the good items
  are written together, in one transaction, with one statement for the registrations
  and one for their events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from ledger.adapters import registrations as repo
from ledger.adapters.entries import lock_learners
from ledger.adapters.tables import outbox
from ledger.domain.registration import (
    Outcome,
    Registration,
    Stored,
    decide,
    read_registration,
)
from ledger.service_layer.recording import WrongTenant, violation_errors
from shared.contracts import CloudEvent, new_event
from shared.contracts.events import LearnerRegisteredV1
from shared.domain.errors import RuleViolation
from shared.messaging.outbox import append_keyed_to_outbox

MAX_BATCH = 10_000
_YIELD_EVERY = 500


@dataclass
class ItemOutcome:
    index: int
    learner_id: str | None
    outcome: Outcome
    home_member: str | None = None
    associate: bool | None = None
    revision: int | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)


def check_tenancy(acting_institution: str | None, items: Sequence[Any]) -> None:
    """An institution's items name itself as home member (an administrator's may name any)."""
    if acting_institution is None:
        return
    for index, item in enumerate(items):
        claimed = item.get("home_member") if isinstance(item, Mapping) else None
        if isinstance(claimed, str) and claimed != acting_institution:
            raise WrongTenant("wrong_tenant", "An institution registers only its own learners",
                              detail=f"learners[{index}] names home member {claimed!r}, the "
                                     f"token is for {acting_institution!r}", index=index)


async def register_learners(engine: AsyncEngine, items: Sequence[Any], *,
                            acting_institution: str | None) -> list[ItemOutcome]:
    """Each batch item, in order; one outcome per item. `acting_institution` None: an
    administrator."""
    check_tenancy(acting_institution, items)
    outcomes: list[ItemOutcome | None] = [None] * len(items)
    first: dict[str, tuple[int, Registration]] = {}  # learner id: its first good item
    repeats: list[tuple[int, str]] = []
    for index, item in enumerate(items):
        if index % _YIELD_EVERY == _YIELD_EVERY - 1:
            await asyncio.sleep(0)  # a big batch must not hold up the process's other requests
        try:
            proposed = read_registration(item)
        except RuleViolation as error:
            lid = item.get("learner_id") if isinstance(item, Mapping) else None
            outcomes[index] = ItemOutcome(index, lid if isinstance(lid, str) else None,
                                          Outcome.REJECTED, errors=violation_errors(error))
            continue
        earlier = first.get(proposed.learner_id)
        if earlier is None:
            first[proposed.learner_id] = (index, proposed)
        elif earlier[1] == proposed:
            repeats.append((index, proposed.learner_id))  # answered after the first
        else:
            outcomes[index] = ItemOutcome(index, proposed.learner_id, Outcome.REJECTED, errors=[
                {"field": "learner_id", "reason": "repeated_in_batch",
                 "message": f"learners[{earlier[0]}] registers {proposed.learner_id} "
                            "differently in this batch"}])
    if first:
        for done in await _register(engine, list(first.values()), acting_institution):
            outcomes[done.index] = done
    for index, lid in repeats:  # the first item did the work
        done = outcomes[first[lid][0]]
        assert done is not None
        outcomes[index] = ItemOutcome(index, lid, Outcome.UNCHANGED, done.home_member,
                                      done.associate, done.revision)
    return outcomes  # type: ignore[return-value]


async def register_learner(engine: AsyncEngine, learner_id: str, home_member: str,
                           associate: bool, *, acting_institution: str | None) -> ItemOutcome:
    """One learner (the PUT)."""
    if acting_institution is not None and acting_institution != home_member:
        raise WrongTenant("wrong_tenant", "An institution registers only its own learners",
                          detail=f"home_member is {home_member!r}, the token for "
                                 f"{acting_institution!r}")
    try:
        [done] = await _register(engine, [(0, Registration(learner_id, home_member, associate))],
                                 acting_institution)
    except WrongTenant as error:  # as the batch's, without the item's index
        raise WrongTenant(error.code, error.message) from None
    return done


@dataclass
class _Plan:
    """What one transaction writes, decided over `current`, and what it answers."""

    current: dict[str, Stored]
    outcomes: list[ItemOutcome]
    saved: list[tuple[Registration, int]]
    events: list[tuple[str, CloudEvent]]


def _plan(proposed: list[tuple[int, Registration]], current: dict[str, Stored]) -> _Plan:
    outcomes, saved, events = [], [], []
    for index, registration in proposed:
        lid = registration.learner_id
        outcome, revision = decide(current.get(lid), registration)
        outcomes.append(ItemOutcome(index, lid, outcome, registration.home_member,
                                    registration.associate, revision))
        if outcome is not Outcome.UNCHANGED:
            saved.append((registration, revision))
            events.append((lid, new_event(LearnerRegisteredV1(
                learner_id=lid, home_member=registration.home_member,
                associate=registration.associate, revision=revision), subject=lid)))
    return _Plan(current, outcomes, saved, events)


def _check_current_home(plan: _Plan, proposed: list[tuple[int, Registration]],
                        acting_institution: str | None) -> None:
    if acting_institution is None:
        return
    for index, registration in proposed:
        stored = plan.current.get(registration.learner_id)
        if stored is not None and stored.home_member != acting_institution:
            raise WrongTenant(
                "wrong_tenant", "Only the learner's home member or an administrator may "
                "change the registration",
                detail=f"learners[{index}]: {registration.learner_id} is registered with "
                       "another home member", index=index)


_PLAN_BEFORE_LOCKING = 64  # registrations from which the plan is made before locking


async def _register(engine: AsyncEngine, proposed: list[tuple[int, Registration]],
                    acting_institution: str | None) -> list[ItemOutcome]:
    """One transaction, each learner once. For a big batch the plan (decisions and their
    events, ~25 µs per event) is made first over the registrations read without locks;
    then, under the learners' locks (sorted, before any write), they are read again and
    the plan stands if no other writer changed them meanwhile (the usual case), else it
    is made again. A 10,000-learner batch takes nearly every lock bucket: they are held
    for the read and the writes, not for building the events. The tenancy check uses
    the locked read."""
    learner_ids = [r.learner_id for _, r in proposed]
    async with engine.begin() as conn:
        plan = None
        if len(proposed) >= _PLAN_BEFORE_LOCKING:
            plan = _plan(proposed, await repo.current_registrations(conn, learner_ids))
            _check_current_home(plan, proposed, acting_institution)  # 403 before locking
        await lock_learners(conn, learner_ids)
        current = await repo.current_registrations(conn, learner_ids)
        if plan is None or plan.current != current:
            plan = _plan(proposed, current)
        _check_current_home(plan, proposed, acting_institution)
        await repo.save_registrations(conn, plan.saved)
        await append_keyed_to_outbox(conn, outbox, LearnerRegisteredV1.topic, plan.events)
    return plan.outcomes
