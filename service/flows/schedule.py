"""The schedule pass of one cohort: read what stands, ask the one plan what is due, and
carry each due item out (calendar changes, prompts, reminders, the digest)."""

from __future__ import annotations

import logging

from service.core.plan import Due, Plan, plan
from service.flows.cohort import Cohort
from service.flows.digest import send_scheduled_digest
from service.flows.invitations import send_calendar_changes, series_version
from service.flows.prompts import send_prompt
from service.store.actions import done_keys
from service.store.models import Participant
from service.store.participants import participant_states, roster

log = logging.getLogger("circleback")

__all__ = ["schedule_pass"]


async def schedule_pass(cohort: Cohort) -> tuple[int, Plan]:
    """Queue everything that is due now. Returns (items done, the plan it followed)."""
    sequence = await series_version(cohort)
    states = await participant_states(cohort.id, cohort.series_uid)
    result = plan(cohort.config, cohort.clock.now(), states, await done_keys(cohort.id),
                  series_sequence=sequence)
    if not result.due:
        return 0, result
    people = await roster(cohort.id)
    done = 0
    for due in result.due:
        if await _carry_out(cohort, due, people):
            done += 1
    return done, result


async def _carry_out(cohort: Cohort, due: Due, people: dict[str, Participant]) -> bool:
    if due.kind == "digest":
        assert due.slot is not None
        return await send_scheduled_digest(cohort, due.key, due.slot)
    participant = people[due.participant or ""]
    if due.kind == "calendar":
        return await send_calendar_changes(cohort, due, participant)
    return await send_prompt(cohort, due, participant)
