"""Carry out what the schedule says is due: compose the mail and queue it, with the
action's key, in one transaction."""

from __future__ import annotations

import logging
from datetime import datetime
from email.message import EmailMessage

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from service.compose import compose_prompt
from service.core.schedule import Due, checkins, question_for
from service.flows.cohort import Cohort
from service.flows.digest import build_and_queue_digest
from service.flows.invitations import checkin_view
from service.store.models import Action, Participant
from service.store.outbox import enqueue

log = logging.getLogger("circleback.actions")


class AlreadyDone(Exception):
    """Another run (or another daemon) did this action first."""


async def perform(cohort: Cohort, due: Due) -> bool:
    """Do one due action exactly once. Returns False when it had been done already."""
    now = cohort.clock.now()
    try:
        async with in_transaction():
            if await Action.exists(key=due.key):
                raise AlreadyDone
            # The primary key on Action.key is the real guard between racing daemons.
            await Action.create(key=due.key, cohort_id=cohort.id, kind=due.kind, done_at=now)
            if due.kind in ("prompt", "reminder"):
                assert due.checkin is not None
                await _queue_prompt(cohort, await _participant(cohort, due), due, now)
            elif due.kind == "digest":
                assert due.slot is not None
                await build_and_queue_digest(cohort, now, slot=due.slot)
            else:
                raise ValueError(f"unknown action {due.kind}")
    except (AlreadyDone, IntegrityError):
        return False
    return True


async def _participant(cohort: Cohort, due: Due) -> Participant:
    return await Participant.get(cohort_id=cohort.id, email=due.participant)


def prompt_message(cohort: Cohort, participant: Participant, kind: str, number: int, key: str,
                   now: datetime) -> EmailMessage:
    """The prompt (or reminder) for check-in ``number`` to one participant."""
    series = checkins(cohort.config.checkins)
    checkin = next(c for c in series if c.number == number)
    goal = participant.goal if number > 1 and participant.goal else None
    return compose_prompt(
        sender=cohort.sender(), recipient=cohort.recipient(participant),
        cohort_name=cohort.config.cohort.name, checkin=checkin_view(cohort, checkin),
        question=question_for(cohort.config, number), goal_reminder=goal,
        envelope=cohort.envelope(key, listed=True, participant=participant),
        now=now, last=checkin.number == series[-1].number,
        needs_consent=cohort.config.cohort.stories_need_consent and not participant.consented,
        reminder=kind == "reminder",
    )


async def _queue_prompt(cohort: Cohort, participant: Participant, due: Due, now: datetime) -> None:
    assert due.checkin is not None
    message = prompt_message(cohort, participant, due.kind, due.checkin, due.key, now)
    await enqueue(message, cohort_id=cohort.id, kind=due.kind, now=now, participant=participant,
                  checkin_number=due.checkin, mail_from=cohort.config.mail.address)
    log.info("Queued the %s for check-in %d to %s.", due.kind, due.checkin, participant.email)
