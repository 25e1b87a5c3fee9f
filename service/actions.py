"""Carry out what the schedule says is due: compose the mail and queue it, with the
action's key, in one transaction."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from email.message import EmailMessage

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from service import calendar
from service.cohort import Cohort, series_sequence
from service.compose import CheckinView, Envelope, compose_invite, compose_prompt, compose_reminder
from service.digest import build_and_queue_digest
from service.durations import format_duration, parse_duration
from service.models import Action, Participant
from service.outbox import enqueue
from service.schedule import Checkin, Due, checkins, invite_key, question_for, series_key

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
            if due.kind == "invite":
                await _queue_invite(cohort, await _participant(cohort, due), now)
            elif due.kind in ("prompt", "reminder"):
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


def series_spec(cohort: Cohort, sequence: int) -> calendar.SeriesSpec:
    c = cohort.config.checkins
    title = c.title or f"{cohort.config.cohort.name}: check-in"
    description = (
        f"Our regular check-in call. {question_for(cohort.config, 1)}\n\n"
        f"Join: {c.location}\n\nReply to the check-in emails to share what you tried."
    )
    return calendar.SeriesSpec(
        uid=series_key(cohort.config), summary=title, description=description,
        location=c.location, timezone=cohort.config.cohort.timezone, first_start=c.first,
        duration=c.duration, rrule=c.rrule, sequence=sequence,
    )


def checkin_view(cohort: Cohort, checkin: Checkin) -> CheckinView:
    return CheckinView(number=checkin.number, start=checkin.start, end=checkin.end,
                       location=cohort.config.checkins.location)


def every_text(cohort: Cohort) -> str:
    c = cohort.config.checkins
    if c.every:
        named = {"1d": "every day", "1w": "every week", "2w": "every other week"}
        return named.get(c.every, f"every {format_duration(parse_duration(c.every))}")
    return f"on a schedule ({c.rrule})"


async def invite_message(cohort: Cohort, participant: Participant, now: datetime) -> EmailMessage:
    """The series invitation (METHOD:REQUEST) for one participant."""
    sequence = await series_sequence(cohort)
    spec = series_spec(cohort, sequence)
    recipient = cohort.recipient(participant)
    # ORGANIZER is the participant's own tokenised address, so the calendar client's REPLY
    # comes back to our mailbox, authenticated.
    organizer = calendar.Organizer(name=cohort.config.facilitator.name,
                                   address=recipient.reply_address)
    attendee = calendar.Attendee(name=participant.name, email=participant.email)
    ics = calendar.build_request(spec, organizer, attendee, dtstamp=now.astimezone(UTC))
    upcoming = [checkin_view(cohort, c) for c in checkins(cohort.config.checkins)
                if c.end.astimezone(UTC) > now]
    key = invite_key(participant.email, sequence)
    return compose_invite(
        sender=cohort.sender(), recipient=recipient, cohort_name=cohort.config.cohort.name,
        facilitator_name=cohort.config.facilitator.name, checkins=upcoming,
        every_text=every_text(cohort), ics=ics, method="REQUEST",
        envelope=Envelope(message_id=cohort.message_id(key)), now=now,
    )


async def _queue_invite(cohort: Cohort, participant: Participant, now: datetime) -> None:
    message = await invite_message(cohort, participant, now)
    await enqueue(message, cohort_id=cohort.id, kind="invite", now=now, participant=participant,
                  mail_from=cohort.config.mail.address)
    log.info("Queued the calendar invitation for %s.", participant.email)


def prompt_message(cohort: Cohort, participant: Participant, kind: str, number: int, key: str,
                   now: datetime) -> EmailMessage:
    """The prompt (or reminder) for check-in ``number`` to one participant."""
    checkin = next(c for c in checkins(cohort.config.checkins) if c.number == number)
    goal = participant.goal if number > 1 and participant.goal else None
    compose = compose_prompt if kind == "prompt" else compose_reminder
    return compose(
        sender=cohort.sender(), recipient=cohort.recipient(participant),
        cohort_name=cohort.config.cohort.name, checkin=checkin_view(cohort, checkin),
        question=question_for(cohort.config, number), goal_reminder=goal,
        envelope=Envelope(message_id=cohort.message_id(key), list_id=cohort.list_id(),
                          unsubscribe_mailto=f"{cohort.reply_address(participant)}?subject=stop"),
        now=now,
    )


async def _queue_prompt(cohort: Cohort, participant: Participant, due: Due, now: datetime) -> None:
    assert due.checkin is not None
    message = prompt_message(cohort, participant, due.kind, due.checkin, due.key, now)
    await enqueue(message, cohort_id=cohort.id, kind=due.kind, now=now, participant=participant,
                  checkin_number=due.checkin, mail_from=cohort.config.mail.address)
    log.info("Queued the %s for check-in %d to %s.", due.kind, due.checkin, participant.email)
