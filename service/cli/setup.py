"""`circleback init` and `circleback check`: from nothing to a validated cohort."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from service.cli.common import add_config, load
from service.config import Config


def cmd_init(args: argparse.Namespace) -> int:
    from service.config import ConfigError, load_config
    from service.config.starter import FIELDS, collect_answers, parse_people, starter_config
    from service.paths import example_config

    target = Path(args.path)
    if target.exists() and not args.force:
        print(f"{target} exists already; not overwriting it (use --force to replace it).",
              file=sys.stderr)
        return 1
    example = example_config()
    interactive = sys.stdin.isatty() and not args.no_input
    ask = _ask if interactive else None
    if interactive:
        print(f"A few questions for {target} (Enter takes the value in brackets; everything "
              "can be changed in the file later).")
    try:
        answers = collect_answers(example, {f.name: getattr(args, f.name) for f in FIELDS}, ask)
        people = [p for text in args.participant or [] for p in parse_people(text)]
        if interactive and not people:
            reply = _ask("Participants (Name <email>, separated by commas; Enter: keep the "
                         "examples, import a CSV later)", "")
            people = parse_people(reply)
    except ValueError as exc:
        print(f"circleback init: {exc}", file=sys.stderr)
        return 2
    except EOFError:
        print("\nStopped; nothing written.", file=sys.stderr)
        return 1
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(starter_config(example, answers, people), encoding="utf-8")
    try:
        config = load_config(target)
    except ConfigError as exc:  # a bug here, not the facilitator's: say it plainly
        print(f"Wrote {target}, but it does not load:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(f"Wrote {target} for the cohort {config.cohort.id}.")
    print("Next:")
    step = 1
    if not answers or not people:
        print(f"  {step}. edit it: what you did not answer keeps the example's value"
              + ("" if people else "; replace the example participants (or `circleback "
                 f"participants import {target} people.csv`)"))
        step += 1
    names = sorted({c.password_env for c in (config.smtp, config.imap) if c.password_env})
    if names:
        print(f"  {step}. export {' '.join(n + '=...' for n in names)}")
        step += 1
    print(f"  {step}. circleback check {target} --connect\n"
          f"  {step + 1}. circleback preview invite {target} --send-test YOUR-ADDRESS\n"
          f"  {step + 2}. circleback run {target}")
    return 0


def _ask(question: str, default: str) -> str:
    return input(f"{question} [{default}]: " if default else f"{question}: ")


def cmd_check(args: argparse.Namespace) -> int:
    from service.config import ConfigError, Problem
    from service.core.checks import check_config, example_copy

    def copied(path: Path) -> list[Problem]:
        """The example config unchanged: said first, even when its passwords also fail."""
        if not path.is_file():
            return []
        found = example_copy(str(path), path.read_text(encoding="utf-8", errors="replace"))
        return [found] if found else []

    try:
        deployment = load(args.config, require_secrets=True)
    except ConfigError as exc:
        raise ConfigError(copied(Path(args.config)) + exc.problems) from None
    configs = [deployment.cohort(args.cohort)] if args.cohort else list(deployment.cohorts)
    failed = False
    for config in configs:
        problems, notes = check_config(config)
        problems = copied(config.path) + problems
        prefix = f"{config.cohort.id}: " if deployment.is_folder else ""
        for line in notes:
            print(prefix + line)
        for problem in problems:
            print(problem, file=sys.stderr)
        failed = failed or bool(problems)
    if failed:
        return 1
    what = (f"{len(configs)} cohort(s): {', '.join(c.cohort.id for c in configs)}"
            if deployment.is_folder else "")
    print(f"{args.config} is valid{' (' + what + ')' if what else ''}.")
    if args.connect:
        failures = asyncio.run(_check_servers(configs))
        for line in failures:
            print(line, file=sys.stderr)
        if failures:
            return 3
        print("SMTP and IMAP logins work.")
    return 0


async def _check_servers(configs: list[Config]) -> list[str]:
    """Log in to every distinct SMTP account and mailbox once, as the daemon would; what
    went wrong, in sentences."""
    from service.mail.imap import ImapError
    from service.mail.smtp import check_smtp
    from service.runtime.passes import mailbox_client
    from service.runtime.service import account_key, mailbox_key

    failures = []
    accounts = {account_key(c.smtp): c.smtp for c in configs}
    for s in accounts.values():
        smtp = await check_smtp(s.host, s.port, s.security, s.username, s.password(),  # type: ignore[arg-type]
                                s.timeout, tls_context=s.tls_context())
        if smtp:
            failures.append(f"SMTP: {smtp}")
    boxes = {mailbox_key(c.imap): (c.imap, c.mail.address) for c in configs}
    for i, address in boxes.values():
        mailbox = mailbox_client(i)
        try:
            await mailbox.connect()
            await mailbox.select(i.mailbox)
            count = await mailbox.message_count(i.mailbox)
            if count:
                # A shared mailbox is safe (what is there stays), but a dedicated one keeps
                # circleback's mail out of a person's way and theirs out of circleback's.
                domain = address.rpartition("@")[2]
                print(f"{i.mailbox} holds {count} message{'s' if count != 1 else ''}; circleback "
                      "will leave them alone and read only new mail. A dedicated address "
                      f"(circle@{domain}) that only circleback reads is recommended.")
            else:
                print(f"{i.mailbox} is empty; circleback will read the mail that arrives.")
        except ImapError as exc:
            failures.append(f"IMAP: {exc}")
        finally:
            await mailbox.close()
    return failures



def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from service.config.starter import FIELDS

    s = sub.add_parser(
        "init", help="write a documented starter config (asks a few questions in a terminal)",
        description="Write a documented starter config to PATH: the commented example, with "
                    "your answers put in. In a terminal it asks for the cohort's name, zone, "
                    "first check-in and cadence, the facilitator, the cohort's address and the "
                    "mail servers; each question has a flag, so it also runs without a "
                    "terminal. Without a terminal and without flags it writes the example with "
                    "next week's date.",
        epilog="examples:\n  circleback init cohort.toml\n"
               "  circleback init cohort.toml --name 'Spring circle' --timezone Europe/Paris "
               "--first '2027-03-02 18:00' --every 2w --count 6 \\\n"
               "      --facilitator-name Helen --facilitator-email helen@example.org "
               "--address circle@example.org --smtp-host smtp.example.org "
               "--imap-host imap.example.org",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("path", nargs="?", default="cohort.toml", metavar="PATH",
                   help="where to write it (default: cohort.toml)")
    s.add_argument("--force", action="store_true", help="overwrite an existing file")
    s.add_argument("--no-input", action="store_true",
                   help="never ask, even in a terminal: the flags, and the example for the rest")
    for field in FIELDS:
        s.add_argument(field.flag, dest=field.name, metavar=field.name.split("_")[-1].upper(),
                       help=field.help)
    s.add_argument("--participant", action="append", metavar="'NAME <EMAIL>'",
                   help="a participant (repeat it, or separate them by commas; default: the "
                        "example's two)")
    s.set_defaults(func=cmd_init)

    s = sub.add_parser("check", help="validate a config; exit 1 with precise errors",
                       description="Validate CONFIG: every problem names the file, the key "
                                   "and the fix.",
                       epilog="example: circleback check cohort.toml --connect")
    add_config(s)
    s.add_argument("--connect", action="store_true",
                   help="also log in to the SMTP and IMAP servers once")
    s.set_defaults(func=cmd_check)
