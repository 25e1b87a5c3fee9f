"""Prompts and reminders: compose one participant's mail for a check-in and queue it with
the action's key, in one transaction."""

from __future__ import annotations

import logging
from datetime import datetime
from email.message import EmailMessage

from service.compose import PollView, compose_prompt
from service.core.plan import Due
from service.core.polls import poll_times
from service.core.schedule import checkins
from service.flows.cohort import Cohort
from service.flows.invitations import checkin_view
from service.store.actions import AlreadyDone, record_action
from service.store.db import transaction
from service.store.models import Participant
from service.store.outbox import enqueue

log = logging.getLogger("circleback.prompts")

__all__ = ["poll_view", "prompt_message", "send_prompt"]


def prompt_message(cohort: Cohort, participant: Participant, kind: str, number: int, seed: str,
                   now: datetime) -> EmailMessage:
    """The prompt (or reminder) for check-in ``number`` to one participant."""
    series = checkins(cohort.config.checkins)
    checkin = next(c for c in series if c.number == number)
    goal = participant.goal if number > 1 and participant.goal else None
    return compose_prompt(
        sender=cohort.sender(), recipient=cohort.recipient(participant),
        cohort_name=cohort.config.cohort.name, checkin=checkin_view(cohort, checkin),
        question=cohort.question(number), goal_reminder=goal,
        envelope=cohort.envelope(seed, listed=True, participant=participant),
        now=now, last=checkin.number == series[-1].number,
        needs_consent=cohort.config.cohort.stories_need_consent and not participant.consented,
        reminder=kind == "reminder",
        poll=poll_view(cohort, number, now),
    )


def poll_view(cohort: Cohort, number: int, now: datetime) -> PollView | None:
    """The poll the prompt of check-in ``number`` carries, unless it has closed already."""
    poll = cohort.config.poll_for(number)
    times = poll_times(cohort.config, poll) if poll is not None else None
    if poll is None or times is None or now >= times.closes:
        return None
    return PollView(poll.question, poll.options, times.closes)


async def send_prompt(cohort: Cohort, due: Due, participant: Participant) -> bool:
    """Queue the prompt or reminder the plan says is due; False when it was done already."""
    assert due.checkin is not None and due.kind in ("prompt", "reminder")
    now = cohort.clock.now()
    message = prompt_message(cohort, participant, due.kind, due.checkin, due.key, now)
    try:
        async with transaction():
            await record_action(cohort.id, due.key, due.kind, now, participant=participant,
                                checkin=due.checkin)
            await enqueue(message, cohort_id=cohort.id, kind=due.kind, now=now,
                          participant=participant, checkin_number=due.checkin,
                          mail_from=cohort.config.mail.address)
    except AlreadyDone:
        return False
    log.info("Queued the %s for check-in %d to %s.", due.kind, due.checkin, participant.email)
    return True
