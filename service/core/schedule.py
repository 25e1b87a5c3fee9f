"""Pure: the cohort's check-ins (the series as its rule gives it, and as it takes
place), the question for each, the digest's times. What is due is ``service.core.plan``."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

from service.config import CheckinsConfig, Config, DigestConfig
from service.core.keys import series_uid


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


def series_key(config: Config) -> str:
    return series_uid(config.cohort.id)


def digest_zone(config: Config, zones_of_people: Iterable[str], after: datetime) -> str:
    """The zone whose clock decides when the digest is composed: the cohort's, or with
    ``local_time`` the zone that reaches the weekday and time first (each participant's
    copy then waits for their own local time in the outbox)."""
    if not config.digest.local_time:
        return config.cohort.timezone
    zones = {z for z in zones_of_people if z} | {config.cohort.timezone}
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


def checkin_for(config: Config, received: datetime) -> int | None:
    """The check-in a reply received at this time belongs to: the latest one prompted for."""
    found = None
    for checkin in checkins(config.checkins):
        if checkin.start_utc - config.checkins.prompt_before <= received:
            found = checkin.number
    return found
