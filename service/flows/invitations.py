"""Keep every participant's calendar in line with the config: the first invitation, an
updated series, a moved or cancelled check-in, a late joiner, a leaver.

What each participant's calendar was last told is stored (``CalendarCopy``) in the same
transaction as the messages that told it, so every change is sent once, across restarts
and reloads, and never again.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from email.message import EmailMessage

from tortoise.transactions import in_transaction

from service.calendar import itip as calendar
from service.calendar.series import Changes, Shape, changes, desired_shape, participant_spec, utc_key
from service.compose import CheckinView, compose_invite
from service.core.durations import format_duration, parse_duration
from service.core.schedule import Checkin, checkins, question_for, series_checkins, series_key
from service.flows.cohort import Cohort
from service.store.models import Action, CalendarCopy, Participant, SeriesState
from service.store.outbox import enqueue

log = logging.getLogger("circleback.calendar")


def base_spec(cohort: Cohort, sequence: int) -> calendar.SeriesSpec:
    c = cohort.config.checkins
    title = c.title or f"{cohort.config.cohort.name}: check-in"
    description = (
        f"Our regular check-in call. Before each one you get an email asking: "
        f"{question_for(cohort.config, 2)}\n\nJoin: {c.location}\n\n"
        "Reply to the check-in emails to share what you tried."
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
    return "on the dates below"


async def current_sequence(cohort: Cohort, shape: Shape) -> int:
    """The series' SEQUENCE, raised by one whenever the config's series changes
    (RFC 5546 2.1.4: a change the attendees must see bumps SEQUENCE)."""
    fingerprint = json.dumps(shape.to_json(), sort_keys=True)
    async with in_transaction():
        state, _ = await SeriesState.get_or_create(
            cohort_id=cohort.id, defaults={"uid": series_key(cohort.config), "sequence": 0})
        if state.fingerprint != fingerprint:
            if state.fingerprint and await CalendarCopy.filter(uid=state.uid).exists():
                state.sequence += 1
                log.info("The check-in series changed; calendars get version %d.", state.sequence)
            state.fingerprint = fingerprint
            await state.save()
        return state.sequence


async def sync_calendars(cohort: Cohort) -> int:
    """Send each participant whatever their calendar is missing. Returns messages queued."""
    shape = desired_shape(cohort.config)
    sequence = await current_sequence(cohort, shape)
    uid = series_key(cohort.config)
    queued = 0
    for p in await Participant.filter(cohort_id=cohort.id).order_by("id"):
        if p.status == "stopped" or p.bounce_state == "hard":
            continue  # they asked for no more mail, or mail cannot reach them
        copy = await CalendarCopy.get_or_none(participant=p, uid=uid)
        old = Shape.from_json(copy.shape) if copy else None
        todo = changes(old, shape, removed=p.status == "removed")
        if todo.empty:
            continue
        # Every message to a calendar carries a higher SEQUENCE than the one before it, or
        # the client ignores it: a leaver's CANCEL changes nothing for the others, so it
        # goes one above what that calendar last saw.
        own = sequence if copy is None or copy.sequence < sequence else copy.sequence + 1
        queued += await _send_changes(cohort, p, shape, todo, own, uid)
    return queued


async def _send_changes(cohort: Cohort, p: Participant, shape: Shape, todo: Changes,
                        sequence: int, uid: str) -> int:
    now = cohort.clock.now()
    messages: list[tuple[str, EmailMessage]] = []
    if todo.request:
        message = await request_message(cohort, p, sequence, todo.what, now, shape=shape)
        if message is None:
            return 0  # nothing left of the series for this participant
        messages.append(("invite", message))
    for key in todo.cancel_occurrences:
        messages.append(("cancel", cancel_message(cohort, p, sequence, now, recurrence_key=key)))
    if todo.cancel_series:
        messages.append(("cancel", cancel_message(cohort, p, sequence, now)))
    parts = (["request"] if todo.request else []) + [f"cancel-{k}" for k in todo.cancel_occurrences]
    parts += ["cancel-series"] if todo.cancel_series else []
    action = f"calendar:{p.email}:{sequence}:{'+'.join(parts)}"
    async with in_transaction():
        # The action key is the guard between two daemons doing this at the same moment.
        await Action.create(key=action[:255], cohort_id=cohort.id, kind="calendar", done_at=now)
        for kind, message in messages:
            await enqueue(message, cohort_id=cohort.id, kind=kind, now=now, participant=p,
                          mail_from=cohort.config.mail.address)
        await CalendarCopy.update_or_create(
            participant=p, uid=uid,
            defaults={"sequence": sequence, "shape": shape.to_json() if p.status != "removed"
                      else {**shape.to_json(), "series_cancelled": True}, "updated_at": now})
    what = ("the invitation" if todo.request and not todo.what else
            f"an updated invitation ({', '.join(todo.what)})" if todo.request else
            "a cancellation of the series" if todo.cancel_series else
            f"{len(todo.cancel_occurrences)} cancelled check-in(s)")
    log.info("Queued %s for %s.", what, p.email)
    return len(messages)


def _people(cohort: Cohort, p: Participant) -> tuple[calendar.Organizer, calendar.Attendee]:
    # ORGANIZER is the participant's own tokenised address, so the calendar client's REPLY
    # comes back to our mailbox, authenticated (iMIP, RFC 6047 2.2: replies go to ORGANIZER).
    organizer = calendar.Organizer(name=cohort.config.facilitator.name,
                                   address=cohort.reply_address(p))
    return organizer, calendar.Attendee(name=p.name, email=p.email)


async def request_message(cohort: Cohort, p: Participant, sequence: int, what: list[str],
                          now: datetime, *, shape: Shape | None = None) -> EmailMessage | None:
    """The series as a REQUEST for one participant (None when nothing is left for them)."""
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
    envelope = cohort.envelope(f"invite:{p.email}:{sequence}")
    return compose_invite(
        sender=cohort.sender(), recipient=cohort.recipient(p),
        cohort_name=cohort.config.cohort.name, facilitator_name=cohort.config.facilitator.name,
        checkins=views, every_text=every_text(cohort), ics=ics, method="REQUEST",
        envelope=envelope, now=now, change=", ".join(what) if what else None)


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
    key = f"cancel:{p.email}:{sequence}:{recurrence_key or 'all'}"
    return compose_invite(
        sender=cohort.sender(), recipient=cohort.recipient(p),
        cohort_name=cohort.config.cohort.name, facilitator_name=cohort.config.facilitator.name,
        checkins=views, every_text=every_text(cohort), ics=ics, method="CANCEL",
        envelope=cohort.envelope(key), now=now)
