"""Times as recipients read them: in their own zone, with the zone named."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

__all__ = ["format_local", "format_local_range", "long_day", "short_date", "short_day"]

# Names spelled out here rather than strftime("%A"), which follows the
# process locale and would switch language under a German LC_TIME.
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def _in_zone(dt: datetime, tz: str) -> datetime:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"naive datetime {dt!r}: times must be timezone-aware")
    return dt.astimezone(ZoneInfo(tz))


def _date_words(local: date) -> str:
    return f"{_WEEKDAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]} {local.year}"


def _calendar_day(day: date) -> date:
    # A datetime is a date too, but its day depends on the zone: those go through
    # format_local / short_date, which convert to the reader's zone first.
    if isinstance(day, datetime):
        raise TypeError(f"{day!r} is a datetime: use format_local or short_date with a zone")
    return day


def _zone_abbreviation(local: datetime) -> str:
    """EST, BST, CET ... or UTC+05:30 where tzdata has no letters ("+0530")."""
    name = local.tzname() or ""
    if name and name[0] not in "+-":
        return name
    offset = local.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "−"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}" + (f":{rest:02d}" if rest else "")


def _zone_suffix(local: datetime, tz: str) -> str:
    abbreviation = _zone_abbreviation(local)
    return abbreviation if abbreviation == tz else f"{abbreviation} ({tz})"


def format_local(dt: datetime, tz: str) -> str:
    """``Tuesday 1 December 2026, 12:00 (America/New_York)``: dt in zone tz."""
    local = _in_zone(dt, tz)
    return f"{_date_words(local)}, {local:%H:%M} ({tz})"


def format_local_range(start: datetime, end: datetime, tz: str) -> str:
    """``Tuesday 1 December 2026, 12:00–12:45 EST (America/New_York)``."""
    first, last = _in_zone(start, tz), _in_zone(end, tz)
    if last < first:
        raise ValueError(f"end {end!r} is before start {start!r}")
    if last.date() == first.date():
        until = f"{last:%H:%M}"
    elif last.date() - first.date() == timedelta(days=1):
        until = f"{last:%H:%M} (next day)"
    else:
        until = f"{_date_words(last)}, {last:%H:%M}"
    return f"{_date_words(first)}, {first:%H:%M}–{until} {_zone_suffix(first, tz)}"


def short_date(dt: datetime, tz: str) -> str:
    """``Tue 1 Dec``, for subjects."""
    local = _in_zone(dt, tz)
    return f"{_WEEKDAYS[local.weekday()][:3]} {local.day} {_MONTHS[local.month - 1][:3]}"


def long_day(day: date) -> str:
    """``Tuesday 12 January 2027``: a calendar date (no time of day, so no zone)."""
    return _date_words(_calendar_day(day))


def short_day(day: date) -> str:
    """``Tue 12 Jan``: a calendar date, for subjects."""
    day = _calendar_day(day)
    return f"{_WEEKDAYS[day.weekday()][:3]} {day.day} {_MONTHS[day.month - 1][:3]}"
