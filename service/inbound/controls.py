"""Control words a participant can put on the first line of a reply."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

__all__ = ["Control", "ControlWord", "parse_control"]

ControlWord = Literal[
    "skip", "pause", "resume", "private", "share", "stop", "another-round", "wrap-up", "edit",
    "react",
]

_ALONE: dict[str, ControlWord] = {
    "skip": "skip",
    "pause": "pause",
    "resume": "resume",
    "private": "private",
    "share": "share",  # consent: my stories may go into the digest
    "stop": "stop",
    "unsubscribe": "stop",
    "another round": "another-round",
    "another-round": "another-round",
    "wrap up": "wrap-up",
    "wrap-up": "wrap-up",
    "wrapup": "wrap-up",
    "edit": "edit",  # the rest of the reply replaces my story for this check-in
}
# "react" is never written on a line: a message to a story's +1 address is one (classify).
_MONTHS = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
_UNIT_DAYS = {"d": 1, "day": 1, "days": 1, "w": 7, "wk": 7, "wks": 7, "week": 7, "weeks": 7}
_DURATION = re.compile(r"^(?:pause|away)\s+(?:for\s+)?(\d{1,3})\s*([a-z]+)$")
_UNTIL = re.compile(r"^(?:pause|away)\s+(?:until|till|til)\s+(.+)$")
_MAX_DAYS = 366


@dataclass(frozen=True)
class Control:
    """A control word: skip, pause (optionally until a date or for a duration), resume,
    private, share, stop, another-round, wrap-up, edit; or react (a +1)."""

    word: str  # a ControlWord
    until: date | None
    duration_days: int | None


def parse_control(text: str, today: date) -> Control | None:
    """The control on the first non-empty line of a trimmed reply, or None.

    The word must stand alone on that line ("Skip." is a control; "Skip the intro, ..."
    is a story). "pause"/"away" take an argument: "2w", "10d", "until 12 Jan". A date
    without a year is the next such date after `today`.
    """
    line = next((ln for ln in text.split("\n") if ln.strip()), "")
    words = " ".join(line.strip().strip("*_").split()).lower().rstrip(".!?,;:")
    if not words or len(words) > 60:
        return None
    if words in _ALONE:
        return Control(_ALONE[words], None, None)
    m = _DURATION.match(words)
    if m:
        unit = _UNIT_DAYS.get(m.group(2))
        days = int(m.group(1)) * unit if unit else 0
        if not 0 < days <= _MAX_DAYS:
            return None
        return Control("pause", today + timedelta(days=days), days)
    m = _UNTIL.match(words)
    if m:
        until = _parse_date(m.group(1), today)
        if until is None:
            return None
        return Control("pause", until, (until - today).days)
    return None


def _parse_date(value: str, today: date) -> date | None:
    """ "12 Jan", "12th January 2027", "Jan 12", "January 12th", "2027-01-12"."""
    value = value.replace(",", " ").strip()
    iso = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", value)
    if iso:
        return _date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
    day_first = re.fullmatch(r"(\d{1,2})(?:st|nd|rd|th)?\.?\s+([a-z]+)\.?(?:\s+(\d{4}))?", value)
    month_first = re.fullmatch(r"([a-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?(?:\s+(\d{4}))?", value)
    if day_first:
        day, month_name, year = day_first.group(1), day_first.group(2), day_first.group(3)
    elif month_first:
        month_name, day, year = month_first.group(1), month_first.group(2), month_first.group(3)
    else:
        return None
    month = _month(month_name)
    if month is None:
        return None
    if year:
        return _date(int(year), month, int(day))
    for candidate_year in (today.year, today.year + 1, today.year + 2):
        candidate = _date(candidate_year, month, int(day))
        if candidate is not None and candidate > today:
            return candidate  # 29 Feb may have to wait for a leap year
    return None


def _month(name: str) -> int | None:
    """Month number from an English name or an abbreviation of at least three letters."""
    if len(name) < 3:
        return None
    for number, full in enumerate(_MONTHS, start=1):
        if full.startswith(name):
            return number
    return None


def _date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None
