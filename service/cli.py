"""The ``circleback`` command."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import sys
from collections.abc import Sequence
from datetime import UTC, date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from service import __version__
from service.config import Config, ConfigError, load_config
from service.store.db import DatabaseError

log = logging.getLogger("circleback")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(message)s", datefmt="%Y-%m-%d %H:%M:%S", stream=sys.stderr)
    for noisy in ("tortoise", "aiosqlite", "asyncio", "aioimaplib", "aiosmtplib", "mail.log"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _load(path: str, *, require_secrets: bool = False) -> Config:
    return load_config(path, require_secrets=require_secrets)


# --- commands ----------------------------------------------------------------------------

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
    from service.config.checks import check_config

    config = _load(args.config, require_secrets=True)
    problems, notes = check_config(config)
    for line in notes:
        print(line)
    if problems:
        for p in problems:
            print(p, file=sys.stderr)
        return 1
    print(f"{args.config} is valid.")
    if args.connect:
        failures = asyncio.run(_check_servers(config))
        for line in failures:
            print(line, file=sys.stderr)
        if failures:
            return 1
        print("SMTP and IMAP logins work.")
    return 0


async def _check_servers(config: Config) -> list[str]:
    """Log in to both servers once, as the daemon would; what went wrong, in sentences."""
    from service.mail.imap import ImapError
    from service.mail.smtp import check_smtp
    from service.runtime.daemon import mailbox_client

    s = config.smtp
    failures = []
    smtp = await check_smtp(s.host, s.port, s.security, s.username, s.password(),  # type: ignore[arg-type]
                            s.timeout, tls_context=s.tls_context())
    if smtp:
        failures.append(f"SMTP: {smtp}")
    mailbox = mailbox_client(config)
    try:
        await mailbox.connect()
        await mailbox.select(config.imap.mailbox)
    except ImapError as exc:
        failures.append(f"IMAP: {exc}")
    finally:
        await mailbox.close()
    return failures


async def _run(args: argparse.Namespace) -> int:
    from service.runtime.daemon import Daemon, opened, run_once

    config = _load(args.config, require_secrets=True)
    async with opened(config) as cohort:
        if args.once:
            report = await run_once(cohort)
            kinds = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(report.kinds.items()))
            print(f"Done: queued {report.queued} action(s), read {report.fetched} message(s)"
                  f"{' (' + kinds + ')' if kinds else ''}, sent {report.sent} message(s)"
                  + (f", {report.retrying} waiting to retry" if report.retrying else "")
                  + (f", {report.failed} refused" if report.failed else "") + ".")
            if report.next_due is not None:
                local = report.next_due.astimezone(ZoneInfo(config.cohort.timezone))
                print(f"Next: {report.next_what}, {local:%a %d %b %Y %H:%M} ({config.cohort.timezone}).")
            for problem in report.problems:
                print(f"Problem: {problem}", file=sys.stderr)
            return 1 if report.problems else 0
        await Daemon(cohort).run()
    return 0


async def _status(args: argparse.Namespace) -> int:
    from service.flows.status import status_report
    from service.runtime.daemon import opened

    config = _load(args.config)
    async with opened(config) as cohort:
        report = await status_report(cohort)
    if args.json:
        print(json.dumps(report.as_json(), indent=2, default=str))
    else:
        print(report.as_text())
    return 0


async def _inspect(args: argparse.Namespace) -> int:
    from service.inbound.classify import classify, to_json

    raw = Path(args.message).read_bytes()
    if args.config:
        from service.flows.ingest import classification_context
        from service.runtime.daemon import opened

        config = _load(args.config)
        async with opened(config) as cohort:
            _, result = classify(raw, await classification_context(cohort, raw))
    else:
        _, result = classify(raw, None)
    data = to_json(result)
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False, default=str))
        return 0
    print(f"kind:        {data['kind']}")
    print(f"participant: {data.get('participant') or '-'}")
    print(f"reason:      {data.get('reason')}")
    if data.get("story"):
        print("story:")
        for line in str(data["story"]["text"]).splitlines():
            print(f"  | {line}")
        for link in data["story"]["links"]:
            print(f"  link: {link['url']} ({link['title']})")
    if data.get("rsvp"):
        r = data["rsvp"]
        print(f"rsvp:        {r['partstat']} for {r['uid']}"
              + (f" (occurrence {r['recurrence_id']})" if r.get("recurrence_id") else " (whole series)"))
    return 0


async def _preview(args: argparse.Namespace) -> int:
    from service.flows.preview import preview
    from service.runtime.daemon import opened

    config = _load(args.config)
    async with opened(config) as cohort:
        eml, html = await preview(cohort, args.what, participant=args.participant,
                                  out=Path(args.out) if args.out else None)
    print(f"Wrote {eml}\nWrote {html}")
    return 0


async def _digest(args: argparse.Namespace) -> int:
    from tortoise.transactions import in_transaction

    from service.flows.digest import build_and_queue_digest
    from service.runtime.daemon import opened
    from service.store.models import Action

    if not args.send_now:
        print("Say --send-now to compose and queue the digest now.", file=sys.stderr)
        return 2
    config = _load(args.config)
    async with opened(config) as cohort:
        now = cohort.clock.now()
        async with in_transaction():
            await Action.create(key=f"digest:manual:{now.isoformat()}", cohort_id=cohort.id,
                                kind="digest", done_at=now)
            queued = await build_and_queue_digest(cohort, now, slot=now.astimezone(UTC), force=True)
    print(f"Queued the digest for {queued} recipient(s). `circleback run {args.config}` "
          "(or --once) sends it.")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from service.dev.demo import run_demo

    return asyncio.run(run_demo(Path(args.workdir) if args.workdir else None, keep=args.keep))


# --- parser ------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="circleback",
                                description="Keeps a learning cohort going after its workshop, by email.")
    p.add_argument("--version", action="version", version=f"circleback {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log debugging detail")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("init", help="write a documented starter config")
    s.add_argument("path", nargs="?", default="cohort.toml")
    s.add_argument("--force", action="store_true", help="overwrite an existing file")
    s.set_defaults(func=cmd_init)

    s = sub.add_parser("check", help="validate a config; exit 1 with precise errors")
    s.add_argument("config")
    s.add_argument("--connect", action="store_true",
                   help="also log in to the SMTP and IMAP servers once")
    s.set_defaults(func=cmd_check)

    s = sub.add_parser("run", help="run the daemon (--once: do all due work and exit)")
    s.add_argument("config")
    s.add_argument("--once", action="store_true")
    s.set_defaults(coro=_run)

    s = sub.add_parser("status", help="who is invited, attending, replying, quiet, bouncing")
    s.add_argument("config")
    s.add_argument("--json", action="store_true")
    s.set_defaults(coro=_status)

    s = sub.add_parser("inspect", help="how an inbound message is understood")
    s.add_argument("message", metavar="MESSAGE.eml")
    s.add_argument("--config")
    s.add_argument("--json", action="store_true")
    s.set_defaults(coro=_inspect)

    s = sub.add_parser("preview", help="render an invite, prompt or digest to .eml and .html")
    s.add_argument("what", choices=["invite", "prompt", "digest"])
    s.add_argument("--config", required=True)
    s.add_argument("--participant", metavar="EMAIL")
    s.add_argument("--out", metavar="FILE.eml")
    s.set_defaults(coro=_preview)

    s = sub.add_parser("digest", help="compose and queue the digest now")
    s.add_argument("config")
    s.add_argument("--send-now", action="store_true")
    s.set_defaults(coro=_digest)

    s = sub.add_parser("demo", help="a whole cohort, simulated, on embedded defaults")
    s.add_argument("--workdir", help="keep the demo's files here (default: a temporary folder)")
    s.add_argument("--keep", action="store_true", help=argparse.SUPPRESS)
    s.set_defaults(func=cmd_demo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    try:
        if hasattr(args, "coro"):
            return asyncio.run(args.coro(args))
        return int(args.func(args))
    except ConfigError as exc:
        count = len(exc.problems)
        print(f"The config has {count} problem{'s' if count != 1 else ''}:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    except DatabaseError as exc:
        print(f"Database problem: {exc}", file=sys.stderr)
        return 1
    except FileNotFoundError as exc:
        print(f"{exc.filename or exc}: no such file.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
