"""``[[polls]]``: a question a check-in's prompt asks, answered by replying with an
option's number or words. Checked here, each problem with its file, key and fix."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from service.config.model import CheckinsConfig, PollConfig

if TYPE_CHECKING:  # parse.py imports this module
    from service.config.parse import _Reader

__all__ = ["POLL_KEYS", "RESERVED_ANSWERS", "read_polls"]

POLL_KEYS = ("question", "options", "checkin", "closes")
MIN_OPTIONS, MAX_OPTIONS, MAX_OPTION_LENGTH = 2, 5, 60
# The first line of a reply that is a control word is a request (service/inbound/controls.py);
# an option spelled like one could never be chosen, or would stop or pause its voter.
RESERVED_ANSWERS = frozenset({
    "skip", "pause", "resume", "private", "share", "stop", "unsubscribe", "another round",
    "another-round", "wrap up", "wrap-up", "wrapup", "edit",
})


def _words(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s-]", " ", text.casefold()).split())


def read_polls(r: _Reader, entries: Sequence[tuple[str, Mapping[str, Any]]],
               checkins: CheckinsConfig, tz: str) -> tuple[PollConfig, ...]:
    """The polls of ``entries`` (``polls[N]`` and its table), at most one per check-in."""
    polls: dict[int, PollConfig] = {}
    for where, item in entries:
        question = r.get(item, where, "question", str, example='"How often should we meet next?"')
        number = r.get(item, where, "checkin", int, example="3")
        options = _read_options(r, item, where)
        closes_checkin, closes_at = _read_closes(r, item, where, number, checkins, tz)
        if question is not None and not question.strip():
            r.problem(f"{where}.question", "is empty", "write the question the prompt asks")
            question = None
        if number is not None and not _valid_checkin(r, f"{where}.checkin", number, checkins):
            number = None
        if number is not None and number in polls:
            r.problem(f"{where}.checkin", f"check-in {number} has two polls",
                      "keep one poll per check-in (a reply's first line answers one)")
            number = None
        if question is None or number is None or options is None:
            continue
        polls[number] = PollConfig(question.strip(), options, number, closes_checkin, closes_at)
    return tuple(sorted(polls.values(), key=lambda p: p.checkin))


def _valid_checkin(r: _Reader, key: str, number: int, checkins: CheckinsConfig) -> bool:
    if number < 1:
        r.problem(key, f"{number} is not a check-in number", "count from 1")
    elif checkins.count is not None and number > checkins.count:
        r.problem(key, f"check-in {number} does not exist",
                  f"there are {checkins.count} check-ins; use 1 to {checkins.count}")
    elif number in checkins.cancelled:
        r.problem(key, f"check-in {number} is cancelled, so no prompt carries the poll",
                  "put the poll on another check-in")
    else:
        return True
    return False


def _read_options(r: _Reader, item: Mapping[str, Any], where: str) -> tuple[str, ...] | None:
    key = f"{where}.options"
    options = r.get(item, where, "options", list, example='["Weekly", "Monthly"]')
    if options is None:
        return None
    if not all(isinstance(o, str) for o in options):
        r.problem(key, "should be a list of strings", 'write it like `options = ["Weekly", "Monthly"]`')
        return None
    cleaned = [" ".join(o.split()) for o in options]
    problems = len(r.problems)
    if not MIN_OPTIONS <= len(cleaned) <= MAX_OPTIONS:
        r.problem(key, f"has {len(cleaned)} options", f"give {MIN_OPTIONS} to {MAX_OPTIONS} options")
    for option in cleaned:
        if not _words(option):
            r.problem(key, f"option \"{option}\" has no words", "give each option a word or two")
        elif len(option) > MAX_OPTION_LENGTH:
            r.problem(key, f"option \"{option[:20]}…\" is longer than {MAX_OPTION_LENGTH} characters",
                      "keep options short: participants reply with the number or these words")
        elif _words(option).replace(" ", "").isdigit():
            r.problem(key, f"option \"{option}\" is a number",
                      "use words: participants answer with the option's number or its words")
        elif _words(option) in RESERVED_ANSWERS:
            r.problem(key, f"option \"{option}\" is a word replies use for requests",
                      f"reword it (\"{option}\" on a reply's first line means a request, e.g. "
                      "skip or stop)")
    spellings = [_words(o) for o in cleaned]
    if len(set(spellings)) != len(spellings):
        r.problem(key, "has the same option twice", "make each option different")
    return tuple(cleaned) if len(r.problems) == problems else None


def _read_closes(r: _Reader, item: Mapping[str, Any], where: str, number: int | None,
                 checkins: CheckinsConfig, tz: str) -> tuple[int | None, datetime | None]:
    key = f"{where}.closes"
    closes = r.get(item, where, "closes", (int, datetime, date), required=False,
                   example="4 (when check-in 4's prompt goes out) or 2027-01-15")
    if closes is None:
        return None, None
    if isinstance(closes, int):
        if number is not None and closes <= number:
            r.problem(key, f"check-in {closes} is not after check-in {number}",
                      f"give a later check-in (e.g. {number + 1}) or a date")
        elif _valid_checkin(r, key, closes, checkins):
            return closes, None
        return None, None
    if isinstance(closes, datetime):
        if closes.tzinfo is not None:
            r.problem(key, "has a UTC offset",
                      "write the local time without offset; the zone is cohort.timezone")
            return None, None
        at = closes.replace(tzinfo=ZoneInfo(tz))
    else:  # a date: the poll is open all of the day before
        at = datetime.combine(closes, time(0, 0), tzinfo=ZoneInfo(tz))
    if at <= checkins.first:
        r.problem(key, f"{closes} is before the first check-in",
                  "give a date after the check-in whose prompt carries the poll")
        return None, None
    return None, at
