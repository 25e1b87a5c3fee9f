"""Keep every participant's calendar in line with the config: the first invitation, an
updated series, a moved or cancelled check-in, a late joiner, a leaver.

What each participant's calendar was last told is stored (``CalendarCopy``) in the same
transaction as the messages that told it, so every change is sent once, across restarts
and reloads, and never again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage

from service.calendar import itip as calendar
from service.calendar.series import participant_spec
from service.compose import CheckinView, calendar_event_text, compose_invite
from service.compose.mime import one_line
from service.config.durations import parse_duration
from service.core import keys
from service.core.plan import Due
from service.core.schedule import Checkin, checkins, series_checkins, series_key
from service.core.series import ChangeKey, Shape, desired_shape, utc_key
from service.core.states import MailKind, ParticipantStatus
from service.flows.cohort import Cohort
from service.store.actions import AlreadyDone, record_action
from service.store.calendars import save_calendar_copy, series_sequence
from service.store.db import transaction
from service.store.models import Participant
from service.store.outbox import enqueue

log = logging.getLogger("circleback.calendar")


def base_spec(cohort: Cohort, sequence: int) -> calendar.SeriesSpec:
    c = cohort.config.checkins
    summary, description = calendar_event_text(
        cohort.config.cohort.name, c.title, c.location, cohort.question(2))
    # LOCATION (and URL) are one line: no control character of the config's reaches the ics.
    return calendar.SeriesSpec(
        uid=series_key(cohort.config), summary=summary, description=description,
        location=one_line(c.location), timezone=cohort.config.cohort.timezone, first_start=c.first,
        duration=c.duration, rrule=c.rrule, sequence=sequence,
    )


def checkin_view(cohort: Cohort, checkin: Checkin) -> CheckinView:
    return CheckinView(number=checkin.number, start=checkin.start, end=checkin.end,
                       location=cohort.config.checkins.location)


def every_days(cohort: Cohort) -> int | None:
    """``[checkins] every`` in whole days; None when an rrule sets the dates."""
    every = cohort.config.checkins.every
    if not every:
        return None
    delta = parse_duration(every)
    return delta.days if delta.days >= 1 and not delta.seconds else None


async def series_version(cohort: Cohort) -> int:
    """The SEQUENCE the calendars get now (raised when the config's series changed)."""
    return await series_sequence(cohort.id, cohort.series_uid, desired_shape(cohort.config))


async def send_calendar_changes(cohort: Cohort, due: Due, p: Participant) -> bool:
    """Queue the iTIP messages the plan says one participant's calendar is missing, with
    the action and the calendar's new shape, in one transaction. False: nothing to send
    (nothing is left of the series for them), or another daemon did it first."""
    assert due.calendar is not None
    todo, sequence, shape = due.calendar.changes, due.calendar.sequence, due.calendar.shape
    now = cohort.clock.now()
    messages: list[tuple[MailKind, EmailMessage]] = []
    if todo.request:
        message = await request_message(cohort, p, sequence, todo.what, now, shape=shape)
        if message is None:
            return False
        messages.append(("invite", message))
    for key in todo.cancel_occurrences:
        messages.append(("cancel", cancel_message(cohort, p, sequence, now, recurrence_key=key)))
    if todo.cancel_series:
        messages.append(("cancel", cancel_message(cohort, p, sequence, now)))
    told = shape if p.status != ParticipantStatus.REMOVED else replace(shape, series_cancelled=True)
    try:
        async with transaction():
            await record_action(cohort.id, due.key, "calendar", now, participant=p)
            for kind, message in messages:
                await enqueue(message, cohort_id=cohort.id, kind=kind, now=now, participant=p,
                              mail_from=cohort.config.mail.address)
            await save_calendar_copy(p, cohort.series_uid, sequence, told, now)
    except AlreadyDone:
        return False
    # For the operator: the change keys as they are (the participant's words are templates').
    what = ("the invitation" if todo.request and not todo.what else
            f"an updated invitation ({', '.join(todo.what)})" if todo.request else
            "a cancellation of the series" if todo.cancel_series else
            f"{len(todo.cancel_occurrences)} cancelled check-in(s)")
    log.info("Queued %s for %s.", what, p.email)
    return True


def _people(cohort: Cohort, p: Participant) -> tuple[calendar.Organizer, calendar.Attendee]:
    # ORGANIZER is the participant's own tokenised address, so the calendar client's REPLY
    # comes back to our mailbox, authenticated (iMIP, RFC 6047 2.2: replies go to ORGANIZER).
    organizer = calendar.Organizer(name=cohort.config.facilitator.name,
                                   address=cohort.reply_address(p))
    return organizer, calendar.Attendee(name=p.name, email=p.email)


async def request_message(cohort: Cohort, p: Participant, sequence: int, what: Sequence[ChangeKey],
                          now: datetime, *, shape: Shape | None = None) -> EmailMessage | None:
    """The series as a REQUEST for one participant (None when nothing is left for them);
    ``what`` is what it changes (empty: the first invitation)."""
    shape = shape or desired_shape(cohort.config)
    c = cohort.config.checkins
    joined = p.joined_at if p.joined_at > c.first.astimezone(UTC) else None
    spec = participant_spec(base_spec(cohort, sequence), shape, series_checkins(c), joined,
                            c.duration)
    if spec is None:
        return None
    organizer, attendee = _people(cohort, p)
    ics = calendar.build_request(spec, organizer, attendee, dtstamp=now.astimezone(UTC))
    first_key = spec.first_start.astimezone(UTC)
    views = [checkin_view(cohort, x) for x in checkins(c)
             if x.original_start.astimezone(UTC) >= first_key]
    envelope = cohort.envelope(keys.invite_seed(p.email, sequence))
    return compose_invite(
        sender=cohort.sender(), recipient=cohort.recipient(p),
        cohort_name=cohort.config.cohort.name, facilitator_name=cohort.config.facilitator.name,
        checkins=views, every_days=every_days(cohort), ics=ics, method="REQUEST",
        envelope=envelope, now=now, changes=what)


def cancel_message(cohort: Cohort, p: Participant, sequence: int, now: datetime, *,
                   recurrence_key: str | None = None) -> EmailMessage:
    """A CANCEL of one occurrence (named by its original start) or of the whole series."""
    c = cohort.config.checkins
    every = series_checkins(c)
    spec = base_spec(cohort, sequence)
    organizer, attendee = _people(cohort, p)
    if recurrence_key is not None:
        occurrence = next(x for x in every if utc_key(x.original_start) == recurrence_key)
        ics = calendar.build_cancel(spec, organizer, attendee, now.astimezone(UTC),
                                    recurrence_id=occurrence.original_start)
        views = [checkin_view(cohort, occurrence)]
    else:
        ics = calendar.build_cancel(spec, organizer, attendee, now.astimezone(UTC))
        upcoming = [x for x in every if x.end.astimezone(UTC) > now] or every[-1:]
        views = [checkin_view(cohort, x) for x in upcoming]
    key = keys.cancel_seed(p.email, sequence, recurrence_key)
    return compose_invite(
        sender=cohort.sender(), recipient=cohort.recipient(p),
        cohort_name=cohort.config.cohort.name, facilitator_name=cohort.config.facilitator.name,
        checkins=views, every_days=every_days(cohort), ics=ics, method="CANCEL",
        envelope=cohort.envelope(key), now=now)
