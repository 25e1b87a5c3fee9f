"""The ``circleback`` command."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import sys
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from service import __version__
from service.config import Config, ConfigError, Deployment, load_deployment
from service.logs import CohortPrefix
from service.store.db import DatabaseError

log = logging.getLogger("circleback")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(message)s", datefmt="%Y-%m-%d %H:%M:%S", stream=sys.stderr)
    for handler in logging.getLogger().handlers:
        handler.addFilter(CohortPrefix())  # "[cohort-id] ..." when the daemon serves several
    for noisy in ("tortoise", "aiosqlite", "asyncio", "aioimaplib", "aiosmtplib", "mail.log"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _load(path: str, *, require_secrets: bool = False) -> Deployment:
    """A cohort file or a deployment folder."""
    return load_deployment(path, require_secrets=require_secrets)


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
    from service.core.checks import check_config

    deployment = _load(args.config, require_secrets=True)
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


async def _run(args: argparse.Namespace) -> int:
    from service.runtime.daemon import Daemon
    from service.runtime.passes import run_once
    from service.runtime.service import opened

    deployment = _load(args.config, require_secrets=True)
    async with opened(deployment) as runtime:
        if args.once:
            report = await run_once(runtime)
            kinds = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(report.kinds.items()))
            print(f"Done: queued {report.queued} action(s), read {report.fetched} message(s)"
                  f"{' (' + kinds + ')' if kinds else ''}, sent {report.sent} message(s)"
                  + (f", {report.retrying} waiting to retry" if report.retrying else "")
                  + (f", {report.failed} refused" if report.failed else "") + ".")
            if report.next_due is not None:
                config = runtime.cohorts[report.next_cohort].config if report.next_cohort \
                    else deployment.cohorts[0]
                local = report.next_due.astimezone(ZoneInfo(config.cohort.timezone))
                whose = f" of {config.cohort.id}" if runtime.many else ""
                print(f"Next: {report.next_what}{whose}, {local:%a %d %b %Y %H:%M} "
                      f"({config.cohort.timezone}).")
            for problem in report.problems:
                print(f"Problem: {problem}", file=sys.stderr)
            if report.problems:
                return 3
            return 4 if report.failed else 0
        await Daemon(runtime).run()
    return 0


async def _status(args: argparse.Namespace) -> int:
    from service.flows.status import status_report
    from service.runtime.service import opened

    deployment = _load(args.config)
    if args.cohort is None and len(deployment.cohorts) > 1:
        async with opened(deployment) as runtime:
            reports = [await status_report(c) for c in runtime.cohorts.values()]
        if args.json:
            print(json.dumps({"cohorts": [r.as_json() for r in reports]}, indent=2, default=str))
            return 0
        for r in reports:
            people = [row for row in r.rows if row.state != "removed"]
            quiet = sum(1 for row in people if row.gone_quiet)
            replied = sum(1 for row in people if row.stories)
            queued = r.outbox.get("queued", 0) + r.outbox.get("sending", 0)
            print(f"{r.cohort_id}: {r.cohort} — {len(people)} participants, {replied} replied, "
                  f"{quiet} gone quiet, {queued} queued, {len(r.refused)} refused"
                  + (f", {r.attention} need attention" if r.attention else ""))
        print(f"\nOne cohort in full: circleback status {args.config} --cohort ID")
        return 0
    config = deployment.cohort(args.cohort)
    async with opened(deployment) as runtime:
        report = await status_report(runtime.cohort(config.cohort.id))
    if args.json:
        print(json.dumps(report.as_json(), indent=2, default=str))
    else:
        print(report.as_text())
    return 0


async def _inspect(args: argparse.Namespace) -> int:
    from service.inbound.classify import classify, to_json

    raw = Path(args.message).read_bytes()
    if args.config:
        from service.flows.ingest import Inbox, classify_for
        from service.runtime.service import opened

        deployment = _load(args.config)
        async with opened(deployment) as runtime:
            cohorts = ({args.cohort: runtime.cohort(args.cohort)} if args.cohort
                       else dict(runtime.cohorts))
            inbox = Inbox("inspect", cohorts, runtime.clock)
            await inbox.load_people()
            cohort, _, result = await classify_for(inbox, raw)
        data = to_json(result)
        data["cohort"] = cohort.id if cohort else None
    else:
        _, result = classify(raw, None)
        data = to_json(result)
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False, default=str))
        return 0
    if "cohort" in data:
        print(f"cohort:      {data['cohort'] or '- (no cohort: kept for a person)'}")
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
    from service.runtime.service import opened

    source = args.config or args.config_option
    if not source:
        print("preview needs CONFIG (a cohort file or a deployment folder).", file=sys.stderr)
        return 2
    deployment = _load(source)
    async with opened(deployment) as runtime:
        eml, html = await preview(runtime.cohort(args.cohort), args.what,
                                  participant=args.participant,
                                  out=Path(args.out) if args.out else None)
    print(f"Wrote {eml}\nWrote {html}")
    return 0


async def _digest(args: argparse.Namespace) -> int:
    from service.flows.digest import send_digest_now
    from service.runtime.service import opened

    if not args.send_now:
        print("Say --send-now to compose and queue the digest now.", file=sys.stderr)
        return 2
    deployment = _load(args.config)
    async with opened(deployment) as runtime:
        queued = await send_digest_now(runtime.cohort(args.cohort))
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
    s.add_argument("config", help="a cohort file or a deployment folder")
    s.add_argument("--cohort", metavar="ID", help="check only this cohort of a folder")
    s.add_argument("--connect", action="store_true",
                   help="also log in to the SMTP and IMAP servers once")
    s.set_defaults(func=cmd_check)

    s = sub.add_parser("run", help="run the daemon for every cohort (--once: do all due work and exit)")
    s.add_argument("config", help="a cohort file or a deployment folder")
    s.add_argument("--once", action="store_true")
    s.set_defaults(coro=_run)

    s = sub.add_parser("status", help="who is invited, attending, replying, quiet, bouncing")
    s.add_argument("config", help="a cohort file or a deployment folder")
    s.add_argument("--cohort", metavar="ID", help="one cohort of a folder (a line per cohort without)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(coro=_status)

    s = sub.add_parser("inspect", help="how an inbound message is understood")
    s.add_argument("message", metavar="MESSAGE.eml")
    s.add_argument("--config", help="a cohort file or a deployment folder")
    s.add_argument("--cohort", metavar="ID", help="classify for this cohort (default: route it)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(coro=_inspect)

    s = sub.add_parser("preview", help="render an invite, prompt or digest to .eml and .html")
    s.add_argument("what", choices=["invite", "prompt", "digest"])
    s.add_argument("config", nargs="?", help="a cohort file or a deployment folder")
    s.add_argument("--config", dest="config_option", help=argparse.SUPPRESS)
    s.add_argument("--cohort", metavar="ID")
    s.add_argument("--participant", metavar="EMAIL")
    s.add_argument("--out", metavar="FILE.eml")
    s.set_defaults(coro=_preview)

    s = sub.add_parser("digest", help="compose and queue the digest now")
    s.add_argument("config", help="a cohort file or a deployment folder")
    s.add_argument("--cohort", metavar="ID")
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
            return int(asyncio.run(args.coro(args)))
        return int(args.func(args))
    except ConfigError as exc:
        if all(p.key == "--cohort" for p in exc.problems):
            for problem in exc.problems:
                print(f"{problem.message}: {problem.fix}.", file=sys.stderr)
            return 2  # a usage mistake, not a broken config
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
