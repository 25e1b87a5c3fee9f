"""Done actions: the record that stops a double send. The unique (cohort, key) is the
guard between two daemons doing the same thing at the same moment; the keys are built
in ``service.core.keys``."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from tortoise.exceptions import IntegrityError

from service.core import keys
from service.core.states import ActionKind
from service.store.models import Action, Participant

__all__ = ["AlreadyDone", "done_keys", "record_action", "record_away", "record_wish", "was_done"]


class AlreadyDone(Exception):
    """Another run (or another daemon) did this action first."""


async def record_action(cohort_id: str, key: str, kind: ActionKind, now: datetime, *,
                        participant: Participant | None = None, checkin: int | None = None,
                        note: str = "") -> None:
    """Record the action inside the transaction that queues its mail; AlreadyDone when
    it was done before (the caller's transaction then rolls back)."""
    if await Action.exists(cohort_id=cohort_id, key=key):
        raise AlreadyDone(key)
    try:
        await Action.create(cohort_id=cohort_id, key=key, kind=kind, done_at=now,
                            participant=participant, checkin_number=checkin, note=note)
    except IntegrityError as exc:  # the other daemon's insert committed first
        raise AlreadyDone(key) from exc


async def was_done(cohort_id: str, key: str) -> bool:
    return await Action.exists(cohort_id=cohort_id, key=key)


async def done_keys(cohort_id: str) -> dict[str, datetime]:
    """Every action the cohort has done: key -> when."""
    rows = await Action.filter(cohort_id=cohort_id).values_list("key", "done_at")
    return {str(key): done_at for key, done_at in rows}


async def record_wish(cohort_id: str, key: str, participant: Participant, wish: str,
                      now: datetime) -> None:
    """A participant's latest wish at the last check-in (another round, or wrap up):
    the newest answer counts."""
    updated = await Action.filter(cohort_id=cohort_id, key=key).update(note=wish, done_at=now)
    if not updated:
        try:
            await Action.create(cohort_id=cohort_id, key=key, kind="round", done_at=now,
                                participant=participant, note=wish)
        except IntegrityError:
            await Action.filter(cohort_id=cohort_id, key=key).update(note=wish, done_at=now)


async def record_away(cohort_id: str, participant: Participant,
                      kind: Literal["pause", "stop", "resume"], now: datetime, *,
                      until: datetime | None = None) -> None:
    """A participant's own pause (until a moment; None: until "resume"), stop or resume
    has just taken effect: kept so that `status` and the facilitator's digest can say who
    was away when (the participant row only holds how things stand now)."""
    try:
        await record_action(cohort_id, keys.away_key(kind, participant.email, now), kind, now,
                            participant=participant, note=until.isoformat() if until else "")
    except AlreadyDone:
        pass  # the same word at the same moment (a message read twice): recorded once
