"""Checks of a valid config against the calendar and against what a new facilitator gets
wrong: what `circleback check` adds to parsing.

Parsing refuses what cannot work at all; these checks catch what loads but would
embarrass the facilitator: a series that is over, the example config left as it was,
addresses that are almost surely mistyped, zone names that are old aliases or ignore
daylight saving time. A problem makes `check` exit 1; a note is printed and informs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

from service.config.addresses import check_address, is_example_address
from service.config.model import Config, Problem
from service.config.zones import zone_advice
from service.core.schedule import Checkin, checkins, series_checkins
from service.paths import example_config

# The example's own values, which no cohort should keep (config/example.toml).
EXAMPLE_COHORT_IDS = frozenset({"orlando-2026", "orlando-2015"})
EXAMPLE_COHORT_NAMES = frozenset({"Kick-start your social learning journey"})


def check_config(config: Config, now: datetime | None = None) -> tuple[list[Problem], list[str]]:
    """Problems that make the config useless or embarrassing now, and notes worth printing."""
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
    else:
        _check_series(config, now, problems, notes)
    _check_addresses(config, problems, notes)
    _check_zones(config, problems, notes)
    notes += _example_values(config)
    return problems, notes


def example_copy(file: str, text: str) -> Problem | None:
    """A problem when ``text`` (the config file's) is config/example.toml unchanged: every
    address, server and the cohort in it are the example's."""
    def same(t: str) -> str:
        return "\n".join(line.rstrip() for line in t.replace("\r\n", "\n").strip().splitlines())

    if same(text) != same(example_config()):
        return None
    return Problem(file, "cohort", "is config/example.toml unchanged (the example cohort, "
                   "addresses and servers)",
                   "start from `circleback init cohort.toml`, or set [cohort], [facilitator], "
                   "[mail], [checkins] first, [[participants]], [smtp] and [imap] to your own")


def _check_series(config: Config, now: datetime, problems: list[Problem], notes: list[str]) -> None:
    """The series against the clock: all over (a problem), partly over (what happens)."""
    file = str(config.path)
    series = checkins(config.checkins)
    if not series:
        problems.append(Problem(file, "checkins", "the rule gives no check-ins at all",
                                "check `first`, `every`/`rrule` and `count`"))
        return
    first, last = series[0], series[-1]
    notes.append(f"{len(series)} check-ins from {first.start:%a %d %b %Y %H:%M} to "
                 f"{last.start:%a %d %b %Y %H:%M} ({config.cohort.timezone}), "
                 f"{len(config.participants)} participants.")
    if last.end.astimezone(UTC) <= now:
        problems.append(Problem(
            file, "checkins.first",
            f"every check-in is in the past (the last one was {last.start:%Y-%m-%d %H:%M}): no "
            "prompt, reminder or digest would ever go out, only invitations to a past series",
            "move `first` to the date of the next check-in"))
        return
    started = [c for c in series if c.start_utc <= now]
    ahead = [c for c in series if c.start_utc > now]
    if started:
        notes.append(_over_note(started, now))
    if ahead:
        notes.append(_next_note(config, ahead[0], now, bool(started)))


def _over_note(started: Sequence[Checkin], now: datetime) -> str:
    """What the check-ins already begun mean: no prompt for them."""
    over = [c for c in started if c.end.astimezone(UTC) <= now]
    running = [c for c in started if c.end.astimezone(UTC) > now]
    parts = []
    if over:
        one = len(over) == 1
        parts.append(f"Check-in{'' if one else 's'} {_numbers([c.number for c in over])} "
                     f"({_span(over)}) {'is' if one else 'are'} over")
    for c in running:
        parts.append(f"check-in {c.number} is under way (until {c.end:%H:%M})")
    text = " and ".join(parts)
    return (text[:1].upper() + text[1:] + ": no prompt or reminder goes out for "
            f"{'it' if len(started) == 1 else 'them'}. Invitations still go to everyone for "
            "the whole series (calendars show the past check-ins as past).")


def _next_note(config: Config, nxt: Checkin, now: datetime, after_past: bool) -> str:
    """When the next check-in's prompt goes out."""
    zone = nxt.start.tzinfo
    prompt_at = nxt.start_utc - config.checkins.prompt_before
    head = f"Next: check-in {nxt.number} on {nxt.start:%a %d %b %Y %H:%M}"
    if now < prompt_at:
        return f"{head}; its prompt goes out {prompt_at.astimezone(zone):%a %d %b %H:%M}."
    gap = _duration(config.mail.message_gap)
    what = "The first prompt's time has passed" if not after_past and nxt.number == 1 \
        else "Its prompt's time has passed"
    return (f"{head}. {what}: it goes out as soon as circleback runs (to anyone invited "
            f"then, {gap} after the invitation).")


def _check_addresses(config: Config, problems: list[Problem], notes: list[str]) -> None:
    """Each address through check_address: a mistyped one is a problem, SMTPUTF8 a note."""
    file = str(config.path)
    for key, address in _addresses(config):
        checked = check_address(address)
        if checked.problem:
            problems.append(Problem(file, key, checked.problem, checked.fix or ""))
        elif checked.note:
            notes.append(f"{key}: {checked.note}.")


def _addresses(config: Config) -> Iterator[tuple[str, str]]:
    yield "facilitator.email", config.facilitator.email
    yield "mail.address", config.mail.address
    for n, p in enumerate(config.participants, start=1):
        yield f"participants[{n}].email", p.email


def _check_zones(config: Config, problems: list[Problem], notes: list[str]) -> None:
    """Zone names that load but are old aliases or fixed offsets (see service.config.zones)."""
    file = str(config.path)
    cohort = config.cohort.timezone
    zones = [("cohort.timezone", cohort)]
    if config.facilitator.timezone != cohort:
        zones.append(("facilitator.timezone", config.facilitator.timezone))
    zones += [(f"participants[{n}].timezone", p.timezone)
              for n, p in enumerate(config.participants, start=1) if p.timezone != cohort]
    for key, zone in zones:
        advice = zone_advice(zone)
        if advice is None:
            continue
        if advice.serious:
            problems.append(Problem(file, key, advice.message, advice.fix))
        else:
            notes.append(f"{key}: {advice.message}; {advice.fix}.")


def _example_values(config: Config) -> list[str]:
    """A note naming every value still the example's (the tests and the demo use such
    addresses too, so this informs and never fails)."""
    keys = ["cohort.id"] if config.cohort.id in EXAMPLE_COHORT_IDS else []
    keys += ["cohort.name"] if config.cohort.name in EXAMPLE_COHORT_NAMES else []
    keys += [key for key, address in _addresses(config)
             if is_example_address(address) and not key.startswith("participants")]
    keys += [f"{s}.host" for s, host in (("smtp", config.smtp.host), ("imap", config.imap.host))
             if is_example_address(host)]
    people = sum(is_example_address(p.email) for p in config.participants)
    if people:
        keys.append(f"the email of {people} of {len(config.participants)} participants")
    if not keys:
        return []
    return [f"Still the example's: {', '.join(keys)}. Example addresses and hosts (example.com, "
            "example.org, .test) receive no mail: put in the real ones before the cohort starts."]


def _numbers(numbers: Sequence[int]) -> str:
    if len(numbers) == 1:
        return str(numbers[0])
    if len(numbers) > 2 and list(numbers) == list(range(numbers[0], numbers[-1] + 1)):
        return f"{numbers[0]} to {numbers[-1]}"
    return ", ".join(map(str, numbers[:-1])) + f" and {numbers[-1]}"


def _span(checkins: Sequence[Checkin]) -> str:
    if len(checkins) == 1:
        return f"{checkins[0].start:%a %d %b %H:%M}"
    return f"{checkins[0].start:%a %d %b} – {checkins[-1].start:%a %d %b}"


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes % 60 == 0 and minutes:
        return f"{minutes // 60} hour{'s' if minutes != 60 else ''}"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
