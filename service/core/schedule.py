"""Pure scheduling: given the config, the participants' state and now, what is due.

Every due action carries a unique key (``prompt:3:alice@example.com``). The daemon
records the key in the same transaction as the mail it queues, so an action is done
once, even across restarts or with several daemons sharing a database.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

from service.config import CheckinsConfig, Config, DigestConfig

DEFAULT_PROMPT = "What happened since last time? What did you try? One resource worth sharing?"
FIRST_PROMPT = (
    "What is one goal you want to make progress on while we keep meeting? "
    "Say it in a sentence or two: we will come back to it."
)


@dataclass(frozen=True)
class Checkin:
    """One check-in call of the series. ``number`` counts from 1."""

    number: int
    start: datetime  # aware, in the cohort's zone (where a moved check-in moved to)
    end: datetime
    original_start: datetime  # the series' own start: the RECURRENCE-ID of this occurrence

    @property
    def moved(self) -> bool:
        return self.start != self.original_start

    @property
    def start_utc(self) -> datetime:
        return self.start.astimezone(UTC)


@dataclass(frozen=True)
class ParticipantState:
    email: str
    status: str = "active"  # active | paused | stopped | removed
    paused_until: datetime | None = None
    bounce_state: str = "ok"
    joined_at: datetime | None = None
    replied: frozenset[int] = frozenset()
    timezone: str = ""  # check-in numbers with a story (or a skip)

    def reachable(self, now: datetime) -> bool:
        if self.status in ("stopped", "removed") or self.bounce_state == "hard":
            return False
        if self.status == "paused":
            return self.paused_until is not None and self.paused_until <= now
        return True


@dataclass(frozen=True)
class Due:
    kind: str  # prompt | reminder | digest
    key: str
    participant: str | None = None
    checkin: int | None = None
    slot: datetime | None = None  # digests: the scheduled time (UTC)


@dataclass(frozen=True)
class Plan:
    due: list[Due] = field(default_factory=list)
    next_wakeup: datetime | None = None
    next_what: str = ""  # what happens then, in words


@functools.lru_cache(maxsize=8)
def _expanded(c: CheckinsConfig) -> tuple[Checkin, ...]:
    tz = c.first.tzinfo
    assert tz is not None
    rule = rrulestr(c.rrule, dtstart=c.first.replace(tzinfo=None))
    out = []
    for n, naive in enumerate(rule, start=1):
        start = naive.replace(tzinfo=tz)
        out.append(Checkin(number=n, start=start, end=start + c.duration, original_start=start))
        if n >= 1000:
            break
    return tuple(out)


def series_checkins(c: CheckinsConfig) -> list[Checkin]:
    """The series as its rule gives it: each start keeps its wall-clock time across DST
    changes. Cancelled check-ins are included, moved ones at their original time.
    (Expanded once per config: every inbound message asks which check-in it is for.)"""
    return list(_expanded(c))


def checkins(c: CheckinsConfig) -> list[Checkin]:
    """The check-ins that take place: cancelled ones left out, moved ones at their new time."""
    if c.cancel_series:
        return []
    moved = {m.checkin: m.start for m in c.moved}
    out = []
    for checkin in series_checkins(c):
        if checkin.number in c.cancelled:
            continue
        start = moved.get(checkin.number, checkin.start)
        out.append(Checkin(checkin.number, start, start + c.duration, checkin.original_start))
    return sorted(out, key=lambda x: x.start)


def question_for(config: Config, number: int) -> str:
    text = config.prompt_for(number)
    if text:
        return text
    return FIRST_PROMPT if number == 1 else DEFAULT_PROMPT


def series_key(config: Config) -> str:
    return f"{config.cohort.id}-checkins@circleback"


def digest_zone(config: Config, people: Iterable[ParticipantState], after: datetime) -> str:
    """The zone whose clock decides when the digest is composed: the cohort's, or with
    ``local_time`` the zone that reaches the weekday and time first (each participant's
    copy then waits for their own local time in the outbox)."""
    if not config.digest.local_time:
        return config.cohort.timezone
    zones = {p.timezone for p in people if p.timezone} | {config.cohort.timezone}
    week = after + timedelta(days=8)
    return min(sorted(zones), key=lambda z: digest_slots(config.digest, z, after, week)[0])


def digest_slots(d: DigestConfig, tz: str, start: datetime, end: datetime) -> list[datetime]:
    """The weekly digest times (UTC) in [start, end], at the configured local weekday and time."""
    zone = ZoneInfo(tz)
    local = start.astimezone(zone)
    day = local.date() + timedelta(days=(d.weekday - local.weekday()) % 7)
    slots: list[datetime] = []
    while True:
        slot = datetime.combine(day, d.time, tzinfo=zone).astimezone(UTC)
        if slot > end:
            return slots
        if slot >= start:
            slots.append(slot)
        day += timedelta(days=7)


def plan(
    config: Config,
    now: datetime,
    participants: Iterable[ParticipantState],
    done: Collection[str],
) -> Plan:
    """What is due now, and when to look again."""
    series = checkins(config.checkins)
    due: list[Due] = []
    wakeups: list[tuple[datetime, str]] = []
    if not series:
        return Plan()
    c = config.checkins
    last_end = series[-1].end.astimezone(UTC)
    people = list(participants)

    # Calendar invitations are not scheduled here: service/invitations.py keeps every
    # participant's calendar in line with the config, whenever the daemon looks.
    for checkin in series:
        start = checkin.start_utc
        prompt_at = start - c.prompt_before
        remind_at = start - c.remind_before if c.remind_before else None
        if now < prompt_at:
            wakeups.append((prompt_at, f"the prompt for check-in {checkin.number}"))
            continue
        if now >= start:
            continue  # a prompt after its check-in is noise, not help
        for p in people:
            if not p.reachable(now) or checkin.number in p.replied:
                continue
            pkey = f"prompt:{checkin.number}:{p.email}"
            if pkey not in done:
                due.append(Due("prompt", pkey, p.email, checkin.number))
            elif remind_at is not None:
                rkey = f"reminder:{checkin.number}:{p.email}"
                if now >= remind_at and rkey not in done:
                    due.append(Due("reminder", rkey, p.email, checkin.number))
        if remind_at is not None and now < remind_at:
            wakeups.append((remind_at, f"reminders for check-in {checkin.number}"))
        wakeups.append((start, f"check-in {checkin.number} starts"))

    # Digests: the latest slot that has passed, once; a digest missed during downtime is
    # sent late, once, never twice (older missed slots are folded into it).
    first_prompt = series[0].start_utc - c.prompt_before
    zone = digest_zone(config, people, first_prompt)
    slots = digest_slots(config.digest, zone, first_prompt, last_end + timedelta(days=7))
    passed = [s for s in slots if s <= now]
    if passed:
        latest = passed[-1]
        dkey = f"digest:{latest.isoformat()}"
        if dkey not in done:
            due.append(Due("digest", dkey, slot=latest))
    upcoming = [s for s in slots if s > now]
    if upcoming:
        wakeups.append((upcoming[0], "the weekly digest"))

    if not wakeups:
        return Plan(due=due)
    when, what = min(wakeups)
    return Plan(due=due, next_wakeup=when, next_what=what)


def checkin_for(config: Config, received: datetime) -> int | None:
    """The check-in a reply received at this time belongs to: the latest one prompted for."""
    found = None
    for checkin in checkins(config.checkins):
        if checkin.start_utc - config.checkins.prompt_before <= received:
            found = checkin.number
    return found
