"""Pure: the one plan of what is due now, for one cohort: calendar changes, prompts,
reminders and the digest, each with its cohort-scoped idempotency key.

The flows record each key in the same transaction as the mail it queues (unique per
cohort), so an action is done once, across restarts and with several daemons sharing
a database. Nothing here reads a clock or a database: the caller passes ``now``, the
participants as they stand and the keys already done.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from service.config import Config
from service.core import keys
from service.core.rules import Standing, may_receive
from service.core.schedule import Checkin, checkins, digest_slots, digest_zone
from service.core.series import Changes, Shape, changes, desired_shape
from service.core.states import BounceState, ParticipantStatus

__all__ = ["CalendarDue", "Due", "DueKind", "ParticipantState", "Plan", "plan"]

DueKind = Literal["calendar", "prompt", "reminder", "digest"]


@dataclass(frozen=True)
class ParticipantState:
    """One participant as the plan sees them."""

    email: str
    status: ParticipantStatus = ParticipantStatus.ACTIVE
    paused_until: datetime | None = None
    bounce_state: BounceState = BounceState.OK
    joined_at: datetime | None = None
    replied: frozenset[int] = frozenset()  # check-in numbers with a story (or a skip)
    timezone: str = ""
    calendar: Shape | None = None  # what their calendar was last told; None: never invited
    calendar_sequence: int = 0  # the SEQUENCE it last saw
    calendar_at: datetime | None = None  # when their calendar was last sent something

    @property
    def standing(self) -> Standing:
        return Standing(ParticipantStatus(self.status), BounceState(self.bounce_state),
                        self.paused_until)


@dataclass(frozen=True)
class CalendarDue:
    """The iTIP messages one participant's calendar is missing."""

    changes: Changes
    sequence: int  # the SEQUENCE they carry (above anything that calendar saw before)
    shape: Shape  # what the calendar holds once they are sent


@dataclass(frozen=True)
class Due:
    kind: DueKind
    key: str
    participant: str | None = None
    checkin: int | None = None
    slot: datetime | None = None  # digests: the scheduled time (UTC)
    calendar: CalendarDue | None = None


@dataclass(frozen=True)
class Plan:
    due: list[Due] = field(default_factory=list)
    next_wakeup: datetime | None = None
    next_what: str = ""  # what happens then, in words (for the log)


def plan(
    config: Config,
    now: datetime,
    participants: Iterable[ParticipantState],
    done: Mapping[str, datetime] | Collection[str],
    *,
    series_sequence: int | None = None,
) -> Plan:
    """What is due now for one cohort, and when to look again.

    ``done``: the keys done already, with when (a plain collection: when unknown).
    ``series_sequence``: the series' current SEQUENCE; None leaves calendars out.

    A reminder never follows its prompt sooner than the configured spacing
    (``prompt_before - remind_before``): a prompt that went out late (the cohort started
    late, the participant joined late, the daemon was down) is not chased minutes after
    it arrived; when the spacing would end after the check-in starts, there is none.

    No prompt or reminder follows an invitation (or calendar update) or the digest to the
    same person sooner than ``[mail] message_gap``; one that would then come after its check-in
    has started is not sent."""
    people = list(participants)
    due: list[Due] = []
    calendar_now: set[str] = set()
    if series_sequence is not None:
        calendar = _calendar_due(config, people, done, series_sequence, now)
        calendar_now = {d.participant for d in calendar if d.participant}
        due += calendar
    series = checkins(config.checkins)
    if not series:
        return Plan(due=due)
    wakeups: list[tuple[datetime, str]] = []
    c = config.checkins
    digest_due, digest_at, digest_wakeup = _digest_due(config, people, series, done, now)

    def not_before(p: ParticipantState) -> datetime | None:
        """The earliest a prompt or reminder may reach p, after their other mail."""
        times = [t for t in (digest_at,) if t is not None]
        if p.email in calendar_now:
            times.append(now)
        elif series_sequence is not None and p.calendar_at is not None:
            times.append(p.calendar_at)
        return max(times) + config.mail.message_gap if times else None

    for checkin in series:
        start = checkin.start_utc
        prompt_at = start - c.prompt_before
        remind_at = start - c.remind_before if c.remind_before else None
        spacing = c.prompt_before - c.remind_before if c.remind_before else timedelta(0)
        if now < prompt_at:
            wakeups.append((prompt_at, f"the prompt for check-in {checkin.number}"))
            continue
        if now >= start:
            continue  # a prompt after its check-in is noise, not help
        for p in people:
            if not may_receive(p.standing, "prompt", now) or checkin.number in p.replied:
                continue
            gap_end = not_before(p)
            pkey = keys.prompt_key(checkin.number, p.email)
            if pkey not in done:
                if gap_end is None or now >= gap_end:
                    due.append(Due("prompt", pkey, p.email, checkin.number))
                elif gap_end < start:
                    wakeups.append((gap_end, f"the prompt for check-in {checkin.number}"))
            elif remind_at is not None:
                rkey = keys.reminder_key(checkin.number, p.email)
                prompted = done.get(pkey) if isinstance(done, Mapping) else None
                earliest = max(remind_at, (prompted or prompt_at) + spacing, gap_end or remind_at)
                if rkey in done or earliest >= start:
                    continue
                if now >= earliest:
                    due.append(Due("reminder", rkey, p.email, checkin.number))
                elif earliest > remind_at:
                    wakeups.append((earliest, f"a reminder for check-in {checkin.number}"))
        if remind_at is not None and now < remind_at:
            wakeups.append((remind_at, f"reminders for check-in {checkin.number}"))
        wakeups.append((start, f"check-in {checkin.number} starts"))

    due += digest_due
    if digest_wakeup is not None:
        wakeups.append((digest_wakeup, "the weekly digest"))
    if not wakeups:
        return Plan(due=due)
    when, what = min(wakeups)
    return Plan(due=due, next_wakeup=when, next_what=what)


def _digest_due(config: Config, people: list[ParticipantState], series: list[Checkin],
                done: Mapping[str, datetime] | Collection[str], now: datetime
                ) -> tuple[list[Due], datetime | None, datetime | None]:
    """The digest due now (if any), when the latest one went out, and the next slot.

    The latest slot that has passed is sent once; a digest missed during downtime is sent
    late, once, never twice (older missed slots are folded into it)."""
    c = config.checkins
    first_prompt = series[0].start_utc - c.prompt_before
    last_end = series[-1].end.astimezone(UTC)
    zone = digest_zone(config, (p.timezone for p in people), first_prompt)
    slots = digest_slots(config.digest, zone, first_prompt, last_end + timedelta(days=7))
    passed = [s for s in slots if s <= now]
    due: list[Due] = []
    sent_at: datetime | None = None
    if passed:
        dkey = keys.digest_key(passed[-1])
        if dkey not in done:
            due.append(Due("digest", dkey, slot=passed[-1]))
            sent_at = now
        elif isinstance(done, Mapping):
            sent_at = done.get(dkey)
    upcoming = [s for s in slots if s > now]
    return due, sent_at, upcoming[0] if upcoming else None


def _calendar_due(config: Config, people: list[ParticipantState], done: Collection[str],
                  sequence: int, now: datetime) -> list[Due]:
    """Each participant's calendar, brought in line with the config."""
    shape = desired_shape(config)
    out = []
    for p in people:
        removed = p.status == ParticipantStatus.REMOVED
        if not may_receive(p.standing, "cancel" if removed else "invite", now):
            continue  # they asked for no more mail, or mail cannot reach them
        todo = changes(p.calendar, shape, removed=removed)
        if todo.empty:
            continue
        # Every message to a calendar carries a higher SEQUENCE than the one before it, or
        # the client ignores it: a leaver's CANCEL changes nothing for the others, so it
        # goes one above what that calendar last saw.
        own = sequence if p.calendar is None or p.calendar_sequence < sequence \
            else p.calendar_sequence + 1
        parts = (["request"] if todo.request else []) + [f"cancel-{k}" for k in todo.cancel_occurrences]
        parts += ["cancel-series"] if todo.cancel_series else []
        key = keys.calendar_key(p.email, own, parts)
        if key not in done:
            out.append(Due("calendar", key, p.email, calendar=CalendarDue(todo, own, shape)))
    return out
