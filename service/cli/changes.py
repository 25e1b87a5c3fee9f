"""`circleback reschedule` and `circleback cancel`, and what every command that changes a
cohort shares: say exactly what will be sent to whom, ask, write the config (keeping its
comments and layout), queue exactly that."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from service.cli.common import add_config, load
from service.config import Config, ConfigError, Deployment
from service.config.edit import EditError, cancel_checkin, cancel_series, edited_config, move_checkin
from service.core.schedule import Checkin, checkins, series_checkins
from service.core.series import ChangeKey
from service.flows.changes import CalendarItem

YES_HELP = "do it without asking (needed when not run in a terminal)"
SHOWN = 20  # addresses named per line; the rest are counted

_WHAT: dict[ChangeKey, str] = {
    "first": "a new first date", "rrule": "new dates", "duration": "a new length",
    "location": "a new place", "title": "a new title", "timezone": "a new time zone",
    "back-on": "the series is back on", "reinstated": "a cancelled check-in is back on",
    "moved": "a check-in moved",
}


def when(dt: datetime, zone: str) -> str:
    """"Thu 17 Dec 2026 15:00 America/New_York"."""
    local = dt.astimezone(ZoneInfo(zone))
    return f"{local:%a} {local.day} {local:%b %Y %H:%M} {zone}"


def describe(items: Sequence[CalendarItem], config: Config, detail: str = "") -> list[str]:
    """One line per kind of message: what it is, how many get it, and who."""
    zone = config.cohort.timezone
    starts = {c.number: c.start for c in series_checkins(config.checkins)}
    groups: dict[str, list[str]] = {}
    for item in items:
        if item.kind == "invitation":
            what = "the invitation to the series"
        elif item.kind == "update":
            what = f"an updated invitation ({detail or ', '.join(_WHAT[w] for w in item.what)})"
        elif item.kind == "cancel-series":
            what = "a cancellation of the whole series"
        else:
            what = "a cancellation of " + ", ".join(
                f"check-in {n} ({when(starts[n], zone)})" for n in item.checkins)
        groups.setdefault(what, []).append(item.email)
    lines = []
    for what, emails in groups.items():
        shown = ", ".join(emails[:SHOWN]) + (f" and {len(emails) - SHOWN} more"
                                             if len(emails) > SHOWN else "")
        lines.append(f"  {what} to {len(emails)} participant{'s' if len(emails) != 1 else ''}: "
                     f"{shown}")
    return lines


def confirm(yes: bool) -> int | None:
    """None to go ahead; else the exit code (2: no terminal to ask in and no --yes)."""
    if yes:
        return None
    if not sys.stdin.isatty():
        print("Nothing was changed: not in a terminal, so pass --yes to confirm.", file=sys.stderr)
        return 2
    try:
        answer = input("Go ahead? [y/N] ")
    except EOFError:
        answer = ""
    if answer.strip().lower() in ("y", "yes"):
        return None
    print("Nothing was changed.")
    return 0


def read_text(path: Path) -> str:
    with path.open(encoding="utf-8", newline="") as f:  # keep CRLF as it is
        return f.read()


def write_text(path: Path, text: str) -> None:
    """Replace the file at once (a daemon reloading meanwhile reads the old or the new
    file, never half of one), with its permissions."""
    mode = path.stat().st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def daemon_note(holders: set[str], config_arg: str) -> str:
    where = []
    for holder in sorted(holders):
        host, _, rest = holder.partition(":")
        pid = rest.split(":", 1)[0]
        where.append(f"process {pid} on {host}")
    return (f"circleback is running on this database ({'; '.join(where)}) with the config it "
            "loaded, so nothing was queued here (it would undo the change). Reload it and it "
            "sends exactly the messages above, once: `kill -HUP PID` (or `systemctl reload "
            f"circleback`); a `circleback run {config_arg} --once` from cron sends them on its "
            "next run.")


async def apply_change(args: argparse.Namespace, deployment: Deployment, config: Config,
                       new_text: str, headline: str, detail: str = "") -> int:
    """Show what ``new_text`` (the cohort file's new text) sends, ask, write it, queue it."""
    from service.flows.changes import calendar_preview, has_started, queue_calendar, running_daemons
    from service.flows.cohort import Cohort
    from service.runtime.service import opened

    new_config = edited_config(config, new_text)
    # Before the first run there is no database, and this command makes none: the preview
    # runs in the looking commands' in-memory one, and nothing is queued anyway. Otherwise
    # writable: the preview runs the schedule pass's steps (rolled back), then queues.
    async with opened(deployment, read_only=True) as probe:
        exists = probe.stored
    async with opened(deployment, read_only=not exists) as runtime:
        cohort = Cohort(new_config, runtime.secret, runtime.clock)
        items = await calendar_preview(cohort)
        started = await has_started(cohort)
        print(headline)
        if items and not started:
            print("Nothing has been sent for this cohort yet; when circleback first runs, it sends:")
        elif items:
            print("This sends:")
        else:
            print("This sends no calendar mail.")
        for line in describe(items, new_config, detail):
            print(line)
        code = confirm(args.yes)
        if code is not None:
            return code
        old_text = read_text(config.path)
        write_text(config.path, new_text)
        try:
            written = load(args.config).cohort(config.cohort.id)
        except ConfigError:
            write_text(config.path, old_text)
            print(f"{config.path} was left as it was.", file=sys.stderr)
            raise
        print(f"Wrote {config.path}.")
        if not started:
            print(f"`circleback run {args.config}` sends them when it starts.")
            return 0
        holders = await running_daemons(cohort)
        if holders:
            print(daemon_note(holders, args.config))
            return 0
        queued = await queue_calendar(Cohort(written, runtime.secret, runtime.clock))
    if queued:
        print(f"Queued {len(queued)} message(s); `circleback run {args.config} --once` (or the "
              "daemon) sends them.")
    if set(queued) != set(items):
        print("Not queued as announced (another circleback did part of it meanwhile?): "
              f"queued {len(queued)} of {len(items)}; `circleback status {args.config}` shows "
              "what was sent.", file=sys.stderr)
    return 0


def _fail(message: str) -> int:
    print(message, file=sys.stderr)
    return 1


def _checkin(config: Config, number: int, now: datetime) -> Checkin | str:
    """Check-in ``number`` as it stands (moved or not), or why it cannot be changed."""
    every = series_checkins(config.checkins)
    if not 1 <= number <= len(every):
        return (f"There is no check-in {number}: the series has {len(every)} "
                f"(1 to {len(every)}).")
    if config.checkins.cancel_series:
        return "The whole series is cancelled (cancel_series = true in [checkins])."
    taking_place = {c.number: c for c in checkins(config.checkins)}
    checkin = taking_place.get(number, every[number - 1])
    if checkin.start.astimezone(UTC) <= now:
        return (f"Check-in {number} was on {when(checkin.start, config.cohort.timezone)}: only "
                "check-ins still to come can be changed.")
    return checkin


def parse_local(text: str, zone: str) -> datetime | None:
    """``--to`` as an aware time in the cohort's zone (a time with an offset is converted)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    if value.tzinfo is not None:
        return value.astimezone(ZoneInfo(zone))
    return value.replace(tzinfo=ZoneInfo(zone))


async def _reschedule(args: argparse.Namespace) -> int:
    deployment = load(args.config)
    config = deployment.cohort(args.cohort)
    zone = config.cohort.timezone
    now = datetime.now(UTC)
    checkin = _checkin(config, args.checkin, now)
    if isinstance(checkin, str):
        return _fail(checkin)
    start = parse_local(args.to, zone)
    if start is None:
        print(f"--to {args.to}: not a date and time; write it like 2026-12-17T15:00 (local "
              f"time in {zone}).", file=sys.stderr)
        return 2
    if start.astimezone(UTC) <= now:
        return _fail(f"{when(start, zone)} is in the past; give a time still to come.")
    end = start + config.checkins.duration
    for other in checkins(config.checkins):
        if other.number != args.checkin and start < other.end and other.start < end:
            return _fail(f"Check-in {other.number} is at that time ({when(other.start, zone)}); "
                         "pick a time that does not overlap another check-in.")
    cancelled = args.checkin in config.checkins.cancelled
    if start == checkin.start and not cancelled:
        print(f"Check-in {args.checkin} is at {when(start, zone)} already; nothing to change.")
        return 0
    original = series_checkins(config.checkins)[args.checkin - 1].start
    local = None if start == original else start.replace(tzinfo=None)
    try:
        new_text = move_checkin(read_text(config.path), args.checkin, local)
    except EditError as exc:
        return _fail(f"{config.path}: {exc}.")
    moves = f"check-in {args.checkin} moves to {when(start, zone)}"
    headline = (f"Check-in {args.checkin} (cancelled) is back on, at {when(start, zone)}."
                if cancelled else
                f"Check-in {args.checkin} moves from {when(checkin.start, zone)} to "
                f"{when(start, zone)}.")
    return await apply_change(args, deployment, config, new_text, headline,
                              detail="" if cancelled else moves)


async def _cancel(args: argparse.Namespace) -> int:
    deployment = load(args.config)
    config = deployment.cohort(args.cohort)
    zone = config.cohort.timezone
    now = datetime.now(UTC)
    text = read_text(config.path)
    try:
        if args.series:
            if config.checkins.cancel_series:
                print("The series is cancelled already; nothing to change.")
                return 0
            ahead = [c for c in checkins(config.checkins) if c.end.astimezone(UTC) > now]
            if not ahead:
                return _fail("Every check-in of the series is over; there is nothing to cancel.")
            new_text = cancel_series(text)
            headline = (f"The whole series is cancelled: {len(ahead)} check-in(s) to come, from "
                        f"{when(ahead[0].start, zone)}.")
        else:
            if args.checkin in config.checkins.cancelled:
                print(f"Check-in {args.checkin} is cancelled already; nothing to change.")
                return 0
            checkin = _checkin(config, args.checkin, now)
            if isinstance(checkin, str):
                return _fail(checkin)
            new_text = cancel_checkin(text, args.checkin)
            headline = f"Check-in {args.checkin} ({when(checkin.start, zone)}) is cancelled."
    except EditError as exc:
        return _fail(f"{config.path}: {exc}.")
    return await apply_change(args, deployment, config, new_text, headline)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("reschedule", help="move one check-in to another time",
                       description="Move check-in N to another time: shows exactly what every "
                                   "calendar will be sent, asks, writes [[checkins.moved]] into "
                                   "the config (keeping its comments) and queues the update.",
                       epilog="example: circleback reschedule cohort.toml --checkin 3 "
                              "--to 2026-12-17T15:00")
    add_config(s)
    s.add_argument("--checkin", type=int, required=True, metavar="N",
                   help="the check-in's number, counting from 1")
    s.add_argument("--to", required=True, metavar="DATETIME",
                   help="its new start, local time in the cohort's zone, e.g. 2026-12-17T15:00")
    s.add_argument("--yes", action="store_true", help=YES_HELP)
    s.set_defaults(coro=_reschedule)

    s = sub.add_parser("cancel", help="cancel one check-in, or the whole series",
                       description="Cancel check-in N (or, with --series, every check-in): "
                                   "shows exactly who gets a cancellation, asks, writes it into "
                                   "the config (keeping its comments) and queues the messages.",
                       epilog="example: circleback cancel cohort.toml --checkin 4")
    add_config(s)
    which = s.add_mutually_exclusive_group(required=True)
    which.add_argument("--checkin", type=int, metavar="N", help="the check-in to cancel")
    which.add_argument("--series", action="store_true", help="cancel the whole series")
    s.add_argument("--yes", action="store_true", help=YES_HELP)
    s.set_defaults(coro=_cancel)
