"""`circleback participants import | add | remove | pause | resume | unstop | reset-bounce`:
who is in the cohort (edits of the config file) and how each participant stands (guarded
transitions in the database). Each says what will be sent because of it and asks first."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable, Iterable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from service.cli.changes import YES_HELP, apply_change, confirm, describe, read_text
from service.cli.common import add_config, load
from service.config import Config, Deployment
from service.config.edit import EditError, NewParticipant, add_participants, remove_participant
from service.config.people_csv import CsvProblem, CsvRow, read_people, validate_people

PROGRESS_FROM = 200  # rows: below this an import is over before a bar could be read


def _progress(rows: list[CsvRow]) -> Iterable[CsvRow]:
    """The rows, with a progress bar when a person watches a big import."""
    if not sys.stdout.isatty() or len(rows) < PROGRESS_FROM:
        return rows
    from rich.progress import track

    return track(rows, description="Checking the rows", transient=True)


def _listed(config: Config) -> list[str]:
    return [p.email for p in config.participants]


def _who(people: list[NewParticipant]) -> str:
    names = [f"{p.name} <{p.email}>" for p in people[:5]]
    return ", ".join(names) + (f" and {len(people) - 5} more" if len(people) > 5 else "")


async def _import(args: argparse.Namespace) -> int:
    deployment = load(args.config)
    config = deployment.cohort(args.cohort)
    rows, problems = read_people(Path(args.file).read_bytes())
    good, refused = validate_people(_progress(rows), listed=_listed(config),
                                    own_address=config.mail.address, file=args.file)
    # Importing the file again after fixing its bad rows is the usual way: the rows that
    # are participants already are skipped, not refused.
    already = [p for p in refused if p.already]
    problems = sorted([*problems, *(p for p in refused if not p.already)], key=lambda p: p.line)
    if already:
        print(f"{len(already)} row(s) already in the cohort: skipped.")
    for problem in problems:
        print(f"{args.file}: {problem}", file=sys.stderr)
    if problems:
        print(f"{len(problems)} row(s) refused; fix them and import the file again (the rows "
              "added now are skipped then).", file=sys.stderr)
    if not good:
        print("No one to add.")
        return 1 if problems else 0
    code = await _add(args, deployment, config, good,
                      f"Adding {len(good)} participant(s) from {args.file}: {_who(good)}.")
    return code or (1 if problems else 0)


async def _add(args: argparse.Namespace, deployment: Deployment, config: Config,
               people: list[NewParticipant], headline: str) -> int:
    try:
        new_text = add_participants(read_text(config.path), people)
    except EditError as exc:
        print(f"{config.path}: {exc}.", file=sys.stderr)
        return 1
    return await apply_change(args, deployment, config, new_text, headline)


async def _add_one(args: argparse.Namespace) -> int:
    deployment = load(args.config)
    config = deployment.cohort(args.cohort)
    row = CsvRow(0, " ".join(args.name.split()), args.email.strip(), args.timezone or "")
    if not row.name:
        print("--name is empty; give the participant's name.", file=sys.stderr)
        return 2
    good, problems = validate_people([row], listed=_listed(config),
                                     own_address=config.mail.address, file="EMAIL")
    if problems:
        return _refuse(problems)
    return await _add(args, deployment, config, good,
                      f"Adding {_who(good)} to {config.cohort.id}.")


def _refuse(problems: list[CsvProblem]) -> int:
    for problem in problems:
        print(problem.message[0].upper() + problem.message[1:] + ".", file=sys.stderr)
    return 1


def _unknown(config: Config, email: str) -> int:
    listed = _listed(config)
    shown = ", ".join(listed[:10]) + (" ..." if len(listed) > 10 else "")
    print(f"{email} is not a participant of {config.cohort.id} (the config lists {shown}); "
          f"`circleback status {config.path}` shows everyone.", file=sys.stderr)
    return 1


async def _remove(args: argparse.Namespace) -> int:
    deployment = load(args.config)
    config = deployment.cohort(args.cohort)
    email = args.email.strip().lower()
    person = next((p for p in config.participants if p.email == email), None)
    if person is None:
        return _unknown(config, email)
    try:
        new_text = remove_participant(read_text(config.path), email)
    except EditError as exc:
        print(f"{config.path}: {exc}.", file=sys.stderr)
        return 1
    return await apply_change(
        args, deployment, config, new_text,
        f"Removing {person.name} <{email}> from {config.cohort.id}: they get no more mail "
        "(their stories stay in the cohort's record).")


# --- states in the database --------------------------------------------------------------

def _pause_until(value: str | None, zone: str) -> datetime | str | None:
    """--until DATE as the start of that day in the participant's zone (they are back that
    day), or why it cannot be."""
    if value is None:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return f"--until {value}: not a date; write it like 2027-01-12"
    until = datetime.combine(day, datetime.min.time(), tzinfo=ZoneInfo(zone)).astimezone(UTC)
    if until <= datetime.now(UTC):
        return f"--until {value} is not in the future; give the day they are back"
    return until


async def _state(args: argparse.Namespace) -> int:
    """pause, resume, unstop, reset-bounce: one guarded transition, after saying what it
    changes and asking."""
    from service.core.states import BounceState, ParticipantStatus
    from service.flows.changes import (
        calendar_preview,
        has_started,
        queue_calendar,
        running_daemons,
    )
    from service.runtime.service import opened
    from service.store import participants as store
    from service.store.actions import record_away
    from service.store.db import transaction

    deployment = load(args.config)
    config = deployment.cohort(args.cohort)
    email = args.email.strip().lower()
    action: str = args.action
    async with opened(deployment) as runtime:
        cohort = runtime.cohort(config.cohort.id)
        p = await store.participant_by_email(cohort.id, email)
        if p is None or p.status == ParticipantStatus.REMOVED:
            return _unknown(config, email)
        who = f"{p.name} <{p.email}>"
        until: datetime | None = None
        step: Callable[[], Awaitable[bool]]
        if action == "pause":
            found = _pause_until(args.until, p.timezone or config.cohort.timezone)
            if isinstance(found, str):
                print(found + ".", file=sys.stderr)
                return 2
            until = found
            if p.status not in (ParticipantStatus.ACTIVE, ParticipantStatus.PAUSED):
                stopped = p.status == ParticipantStatus.STOPPED
                return _fail(f"{who} is {p.status}; only an active or paused participant can be "
                             "paused" + (" (`participants unstop` first)" if stopped else ""))
            back = f"until {until:%Y-%m-%d}" if until else "until you resume them"
            said = (f"{who} gets no prompts, reminders or digests {back}; calendar updates "
                    "still reach them, so their calendar stays right. Nothing is sent now.")
            step = lambda: store.pause(p, until)  # noqa: E731
        elif action == "resume":
            if p.status != ParticipantStatus.PAUSED:
                stopped = p.status == ParticipantStatus.STOPPED
                hint = " (they said stop: `participants unstop`)" if stopped else ""
                return _fail(f"{who} is {p.status}, not paused{hint}")
            said = f"{who} gets prompts, reminders and the digest again, from the next one due."
            step = lambda: store.end_pause(p)  # noqa: E731
        elif action == "unstop":
            if p.status != ParticipantStatus.STOPPED:
                return _fail(f"{who} is {p.status}, not stopped; nothing to undo")
            said = (f"{who} asked for no more mail; they get prompts, reminders, digests and "
                    "calendar updates again. Do this only when they asked to come back.")
            step = lambda: store.unstop(p)  # noqa: E731
        else:
            if p.bounce_state == BounceState.OK:
                return _fail(f"{who} has no bounces to forget")
            said = (f"circleback mails {who} again ({p.soft_bounces} soft bounce(s) counted, "
                    f"now {p.bounce_state}); do this once the address works.")
            step = lambda: store.reset_bounce(p)  # noqa: E731
        # What the change itself brings them (a calendar update they missed while stopped or
        # bouncing); before the cohort's first run, nothing: that run sends everything.
        items = [i for i in await calendar_preview(cohort, step) if i.email == p.email] \
            if await has_started(cohort) else []
        print(said)
        if items:
            print("This sends:")
            for line in describe(items, cohort.config):
                print(line)
        code = confirm(args.yes)
        if code is not None:
            return code
        now = runtime.clock.now()
        async with transaction():
            done = await step()
            if done and action in ("pause", "resume"):
                await record_away(cohort.id, p, "pause" if action == "pause" else "resume", now,
                                  until=until)
        if not done:
            return _fail(f"{who} changed meanwhile; `circleback status {args.config}` shows how "
                         "they stand now")
        print(f"Done: {who} is {'paused' if action == 'pause' else 'active'}"
              if action != "reset-bounce" else f"Done: {who}'s bounces are forgotten.")
        if items and not await running_daemons(cohort):
            queued = await queue_calendar(cohort, only=p.email)
            print(f"Queued {len(queued)} message(s); `circleback run {args.config} --once` (or "
                  "the daemon) sends them.")
    return 0


def _fail(message: str) -> int:
    print(message + ".", file=sys.stderr)
    return 1


def _actions() -> Iterator[tuple[str, str, str]]:
    yield ("pause", "no prompts, reminders or digests for a while",
           "Pause one participant: no prompts, reminders or digests until --until DATE (or "
           "until `resume`); calendar updates still reach them.")
    yield ("resume", "end a participant's pause",
           "End a participant's pause: prompts, reminders and the digest start again.")
    yield ("unstop", "mail again someone who said stop",
           "Mail again a participant who said \"stop\" (or unsubscribed) and asked to come back.")
    yield ("reset-bounce", "mail an address again after it bounced",
           "Forget a participant's bounces, once their address works again: circleback mails "
           "it again.")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    top = sub.add_parser("participants", help="import, add, remove, pause, resume participants",
                         description="Who is in the cohort: import a CSV, add or remove one "
                                     "person (these edit the config, keeping its comments), or "
                                     "pause, resume, unstop or reset the bounces of one.",
                         epilog="example: circleback participants import cohort.toml people.csv")
    commands = top.add_subparsers(dest="participants_command", required=True, metavar="ACTION")

    s = commands.add_parser("import", help="add everyone in a CSV file",
                            description="Add the people of a CSV file (a header row with name "
                                        "or first/last name, email and optionally timezone; "
                                        "Excel and address-book exports work). Bad rows are "
                                        "reported by line number and left out; exit 1 when "
                                        "any row was refused.",
                            epilog="example: circleback participants import cohort.toml "
                                   "people.csv --yes")
    add_config(s)
    s.add_argument("file", metavar="FILE.csv", help="the people: name, email[, timezone]")
    s.add_argument("--yes", action="store_true", help=YES_HELP)
    s.set_defaults(coro=_import)

    s = commands.add_parser("add", help="add one participant",
                            description="Add one participant to the config; they get the "
                                        "invitation to the series (from the next check-in on).",
                            epilog="example: circleback participants add cohort.toml "
                                   "carol@example.com --name \"Carol Example\"")
    add_config(s)
    s.add_argument("email", metavar="EMAIL", help="their address")
    s.add_argument("--name", required=True, help="their name, as the emails greet them")
    s.add_argument("--timezone", metavar="ZONE",
                   help="their IANA zone, e.g. Europe/London (default: the cohort's)")
    s.add_argument("--yes", action="store_true", help=YES_HELP)
    s.set_defaults(coro=_add_one)

    s = commands.add_parser("remove", help="remove one participant",
                            description="Remove one participant from the config; their "
                                        "calendar gets a cancellation of the series and they "
                                        "get no more mail (their stories stay).",
                            epilog="example: circleback participants remove cohort.toml "
                                   "carol@example.com")
    add_config(s)
    s.add_argument("email", metavar="EMAIL", help="their address")
    s.add_argument("--yes", action="store_true", help=YES_HELP)
    s.set_defaults(coro=_remove)

    for name, short, long in _actions():
        s = commands.add_parser(name, help=short, description=long,
                                epilog=f"example: circleback participants {name} cohort.toml "
                                       "carol@example.com"
                                       + (" --until 2027-01-12" if name == "pause" else ""))
        add_config(s)
        s.add_argument("email", metavar="EMAIL", help="their address")
        if name == "pause":
            s.add_argument("--until", metavar="DATE",
                           help="the day they are back, e.g. 2027-01-12 (default: until resumed)")
        s.add_argument("--yes", action="store_true", help=YES_HELP)
        s.set_defaults(coro=_state, action=name)
