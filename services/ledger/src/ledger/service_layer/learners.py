"""Registering a learner (R-MB-2): home member and associate status.

Decision: an institution may register a learner whose home member is itself, and may
change a registration only while it is that learner's home member; moving a learner to
another home member is the administrator's act."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from ledger.adapters import entries as repo
from ledger.service_layer.recording import WrongTenant


@dataclass(frozen=True)
class Registration:
    learner_id: str
    home_member: str
    associate: bool
    revision: int
    outcome: str  # created | updated | unchanged


async def register_learner(engine: AsyncEngine, learner_id: str, home_member: str,
                           associate: bool, *, acting_institution: str | None) -> Registration:
    """`acting_institution` None: an administrator."""
    if acting_institution is not None and acting_institution != home_member:
        raise WrongTenant("wrong_tenant", "An institution registers only its own learners",
                          detail=f"home_member is {home_member!r}, the token for "
                                 f"{acting_institution!r}")
    async with engine.begin() as conn:
        await repo.lock_learners(conn, [learner_id])
        current = await repo.get_learner(conn, learner_id)
        if current is not None and acting_institution not in (None, current.home_member):
            raise WrongTenant("wrong_tenant", "Only the learner's home member or an "
                              "administrator may change the registration")
        if current is not None and (current.home_member, current.associate) == (
                home_member, associate):
            return Registration(learner_id, home_member, associate, current.revision,
                                "unchanged")
        revision = 1 if current is None else current.revision + 1
        await repo.save_learner(conn, learner_id, home_member, associate, revision)
    return Registration(learner_id, home_member, associate, revision,
                        "created" if revision == 1 else "updated")
