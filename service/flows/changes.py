"""What a change to a cohort sends, before it is made, and queuing exactly that.

The commands that change a cohort (`participants add|remove|import|pause|...`,
`reschedule`, `cancel`) first ask ``calendar_preview`` what the calendars will be sent.
It runs the schedule pass's own steps (the roster sync, the series' SEQUENCE, the one
plan) with the changed config, inside a transaction that is rolled back, so the answer
is the daemon's own and nothing of it is kept. Once the change is written,
``queue_calendar`` carries out the same calendar items for real: each under its action
key, so the daemon's next pass (or its reload) finds them done and queues nothing again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from service.core.plan import Due, plan
from service.core.schedule import series_checkins
from service.core.series import ChangeKey, utc_key
from service.flows.cohort import Cohort
from service.flows.invitations import send_calendar_changes, series_version
from service.store.actions import done_keys
from service.store.db import transaction
from service.store.leases import live_holders
from service.store.models import Participant
from service.store.participants import participant_states, roster, sync_participants

__all__ = ["CalendarItem", "calendar_preview", "has_started", "queue_calendar", "running_daemons"]

ItemKind = Literal["invitation", "update", "cancel-checkins", "cancel-series"]


@dataclass(frozen=True)
class CalendarItem:
    """The calendar mail one participant gets because of a change."""

    email: str
    name: str
    kind: ItemKind
    what: tuple[ChangeKey, ...] = ()  # an update: what it changes
    checkins: tuple[int, ...] = ()  # cancel-checkins: which check-ins


class _RolledBack(Exception):  # not an error: how a preview leaves nothing behind
    def __init__(self, items: list[CalendarItem]) -> None:
        self.items = items


async def _calendar_due(cohort: Cohort) -> tuple[list[Due], dict[str, Participant]]:
    """The schedule pass's first steps with the cohort's config: the roster as the config
    lists it, the series' SEQUENCE, and the calendar items of the plan."""
    now = cohort.clock.now()
    await sync_participants(cohort.id, cohort.config.participants, now)
    sequence = await series_version(cohort)
    states = await participant_states(cohort.id, cohort.series_uid)
    result = plan(cohort.config, now, states, await done_keys(cohort.id), series_sequence=sequence)
    return [d for d in result.due if d.kind == "calendar"], await roster(cohort.id)


def _item(cohort: Cohort, due: Due, p: Participant) -> CalendarItem:
    assert due.calendar is not None
    todo = due.calendar.changes
    if todo.cancel_series:
        return CalendarItem(p.email, p.name, "cancel-series")
    if todo.request:
        return CalendarItem(p.email, p.name, "update" if todo.what else "invitation", todo.what)
    numbers = {utc_key(c.original_start): c.number for c in series_checkins(cohort.config.checkins)}
    return CalendarItem(p.email, p.name, "cancel-checkins",
                        checkins=tuple(sorted(numbers[k] for k in todo.cancel_occurrences
                                              if k in numbers)))


async def calendar_preview(cohort: Cohort,
                           change: Callable[[], Awaitable[object]] | None = None
                           ) -> list[CalendarItem]:
    """What the calendars would be sent now with ``cohort.config`` (and after ``change``,
    a participant's transition, when given). Nothing is written: the steps run in a
    transaction that is rolled back, and what they would log is not logged (it did not
    happen: "... joined", "the series changed")."""
    logger = logging.getLogger("circleback")  # and its children, which inherit its level
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        async with transaction():
            if change is not None:
                await change()
            due, people = await _calendar_due(cohort)
            raise _RolledBack([_item(cohort, d, people[d.participant or ""]) for d in due])
    except _RolledBack as done:
        return done.items
    finally:
        logger.setLevel(level)


async def queue_calendar(cohort: Cohort, only: str | None = None) -> list[CalendarItem]:
    """Queue the calendar items due now with ``cohort.config`` (the ones
    ``calendar_preview`` announced; ``only``: those of this participant), each with its
    action key; what was queued."""
    due, people = await _calendar_due(cohort)
    queued = []
    for d in due:
        if only is not None and d.participant != only:
            continue
        p = people[d.participant or ""]
        if await send_calendar_changes(cohort, d, p):
            queued.append(_item(cohort, d, p))
    return queued


async def running_daemons(cohort: Cohort) -> set[str]:
    """The daemons (and `run --once` runs) alive on this database now. While one runs with
    the config it loaded, it would undo calendar changes queued behind its back: it has to
    be reloaded instead."""
    return await live_holders(cohort.clock.now())


async def has_started(cohort: Cohort) -> bool:
    """Has circleback done anything for this cohort yet? Before its first run nothing is
    queued by a change: the first run sends what the config says then (a config still
    being written is not mailed out piece by piece)."""
    return bool(await done_keys(cohort.id))
