"""`circleback run`, `circleback digest` and `circleback demo`: the work itself."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

from service.cli.common import CONFIG_HELP, add_config, load


async def _run(args: argparse.Namespace) -> int:
    from service.runtime.daemon import Daemon
    from service.runtime.passes import run_once
    from service.runtime.service import opened

    deployment = load(args.config, require_secrets=True)
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


async def _digest(args: argparse.Namespace) -> int:
    from service.flows.digest import send_digest_now
    from service.runtime.service import opened

    if not args.send_now:
        print("Say --send-now to compose and queue the digest now.", file=sys.stderr)
        return 2
    deployment = load(args.config)
    async with opened(deployment) as runtime:
        queued = await send_digest_now(runtime.cohort(args.cohort))
    print(f"Queued the digest for {queued} recipient(s). `circleback run {args.config}` "
          "(or --once) sends it.")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from service.dev.demo import run_demo

    return asyncio.run(run_demo(Path(args.workdir) if args.workdir else None, keep=args.keep))



def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("run", help="run the daemon for every cohort (--once: do all due work and exit)",
                       description="Run the daemon for every cohort of CONFIG: invitations, "
                                   "prompts, replies, digests.",
                       epilog="example: circleback run cohort.toml --once")
    s.add_argument("config", metavar="CONFIG", help=CONFIG_HELP)
    s.add_argument("--once", action="store_true",
                   help="do all due work, send what is queued, and exit")
    s.set_defaults(coro=_run)

    s = sub.add_parser("digest", help="compose and queue the digest now",
                       description="Compose the digest now and queue it for every participant.",
                       epilog="example: circleback digest cohort.toml --send-now")
    add_config(s)
    s.add_argument("--send-now", action="store_true", help="yes, compose and queue it now")
    s.set_defaults(coro=_digest)

    s = sub.add_parser("demo", help="a whole cohort, simulated, on embedded defaults",
                       description="Run a whole cohort against private mail servers, with "
                                   "simulated participants.",
                       epilog="example: circleback demo --workdir /tmp/demo")
    s.add_argument("--workdir", help="keep the demo's files here (default: a temporary folder)")
    s.add_argument("--keep", action="store_true", help=argparse.SUPPRESS)
    s.set_defaults(func=cmd_demo)
