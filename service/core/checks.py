"""Checks of a valid config against the calendar: what `circleback check` adds to parsing."""

from __future__ import annotations

from datetime import UTC, datetime

from service.config.model import Config, Problem
from service.core.schedule import checkins, series_checkins


def check_config(config: Config, now: datetime | None = None) -> tuple[list[Problem], list[str]]:
    """Problems that make the config useless now, and notes worth printing."""
    now = now or datetime.now(UTC)
    problems: list[Problem] = []
    notes: list[str] = []
    file = str(config.path)
    every = series_checkins(config.checkins)
    for n in config.checkins.cancelled:
        if n > len(every):
            problems.append(Problem(file, "checkins.cancelled", f"there is no check-in {n}",
                                    f"the series has {len(every)} check-ins; use 1 to {len(every)}"))
    for m in config.checkins.moved:
        if m.checkin > len(every):
            problems.append(Problem(file, "checkins.moved", f"there is no check-in {m.checkin}",
                                    f"the series has {len(every)} check-ins; use 1 to {len(every)}"))
    if config.checkins.cancel_series:
        notes.append("The series is cancelled (cancel_series = true): circleback sends "
                     "cancellations to everyone who was invited, and nothing else.")
        return problems, notes
    series = checkins(config.checkins)
    if not series:
        problems.append(Problem(file, "checkins", "the rule gives no check-ins at all",
                                "check `first`, `every`/`rrule` and `count`"))
        return problems, notes
    if series[-1].end.astimezone(UTC) <= now:
        problems.append(Problem(
            file, "checkins.first",
            f"every check-in is in the past (the last one was {series[-1].start:%Y-%m-%d %H:%M})",
            "move `first` to the date of the next check-in"))
    first, last = series[0], series[-1]
    notes.append(f"{len(series)} check-ins from {first.start:%a %d %b %Y %H:%M} to "
                 f"{last.start:%a %d %b %Y %H:%M} ({config.cohort.timezone}), "
                 f"{len(config.participants)} participants.")
    prompt_at = first.start - config.checkins.prompt_before
    if prompt_at.astimezone(UTC) < now < first.start_utc:
        notes.append("The first prompt's time has passed: it goes out as soon as circleback runs.")
    return problems, notes
