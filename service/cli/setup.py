"""`circleback init` and `circleback check`: from nothing to a validated cohort."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from datetime import date, timedelta
from pathlib import Path

from service.cli.common import add_config, load
from service.config import Config


def cmd_init(args: argparse.Namespace) -> int:
    from service.paths import example_config

    target = Path(args.path)
    if target.exists() and not args.force:
        print(f"{target} exists already; not overwriting it (use --force to replace it).",
              file=sys.stderr)
        return 1
    target.parent.mkdir(parents=True, exist_ok=True)
    # Start the example's series on a real date: next week's Tuesday at noon.
    today = date.today()
    tuesday = today + timedelta(days=(1 - today.weekday()) % 7 + 7)
    text = re.sub(r"(?m)^first = \S+", f"first = {tuesday.isoformat()}T12:00:00", example_config(),
                  count=1)
    target.write_text(text, encoding="utf-8")
    print(f"Wrote {target}. Edit it, then run: circleback check {target}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from service.core.checks import check_config

    deployment = load(args.config, require_secrets=True)
    configs = [deployment.cohort(args.cohort)] if args.cohort else list(deployment.cohorts)
    failed = False
    for config in configs:
        problems, notes = check_config(config)
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
    boxes = {mailbox_key(c.imap): c.imap for c in configs}
    for i in boxes.values():
        mailbox = mailbox_client(i)
        try:
            await mailbox.connect()
            await mailbox.select(i.mailbox)
        except ImapError as exc:
            failures.append(f"IMAP: {exc}")
        finally:
            await mailbox.close()
    return failures



def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("init", help="write a documented starter config",
                       description="Write a documented starter config to PATH.",
                       epilog="example: circleback init cohort.toml")
    s.add_argument("path", nargs="?", default="cohort.toml", metavar="PATH",
                   help="where to write it (default: cohort.toml)")
    s.add_argument("--force", action="store_true", help="overwrite an existing file")
    s.set_defaults(func=cmd_init)

    s = sub.add_parser("check", help="validate a config; exit 1 with precise errors",
                       description="Validate CONFIG: every problem names the file, the key "
                                   "and the fix.",
                       epilog="example: circleback check cohort.toml --connect")
    add_config(s)
    s.add_argument("--connect", action="store_true",
                   help="also log in to the SMTP and IMAP servers once")
    s.set_defaults(func=cmd_check)
