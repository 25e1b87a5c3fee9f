"""`circleback status`, `inspect` and `preview`: looking, never changing."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from service.cli.common import CONFIG_HELP, load


async def _status(args: argparse.Namespace) -> int:
    from service.flows.status import status_report
    from service.runtime.service import opened

    deployment = load(args.config)
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

        deployment = load(args.config)
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
    deployment = load(source)
    async with opened(deployment) as runtime:
        eml, html = await preview(runtime.cohort(args.cohort), args.what,
                                  participant=args.participant,
                                  out=Path(args.out) if args.out else None)
    print(f"Wrote {eml}\nWrote {html}")
    return 0



def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("status", help="who is invited, attending, replying, quiet, bouncing",
                       description="Who is invited, attending, replying, quiet, bouncing or "
                                   "refused; per check-in, replies and attendance.",
                       epilog="example: circleback status cohort.toml --json")
    s.add_argument("config", metavar="CONFIG", help=CONFIG_HELP)
    s.add_argument("--cohort", metavar="ID",
                   help="one cohort of a folder (a line per cohort without)")
    s.add_argument("--json", action="store_true", help="print JSON (the documented contract)")
    s.set_defaults(coro=_status)

    s = sub.add_parser("inspect", help="how an inbound message is understood",
                       description="Show how circleback understands MESSAGE.eml: its kind, "
                                   "participant, story, links and RSVP.",
                       epilog="example: circleback inspect reply.eml --config cohort.toml")
    s.add_argument("message", metavar="MESSAGE.eml", help="the message, as a .eml file")
    s.add_argument("--config", help=CONFIG_HELP + " (without it: parsing only)")
    s.add_argument("--cohort", metavar="ID", help="classify for this cohort (default: route it)")
    s.add_argument("--json", action="store_true", help="print JSON (the documented contract)")
    s.set_defaults(coro=_inspect)

    s = sub.add_parser("preview", help="render an invite, prompt or digest to .eml and .html",
                       description="Render one kind of message to FILE.eml and FILE.html.",
                       epilog="example: circleback preview digest cohort.toml --out digest.eml")
    s.add_argument("what", choices=["invite", "prompt", "digest"], metavar="KIND",
                   help="invite, prompt or digest")
    s.add_argument("config", nargs="?", metavar="CONFIG", help=CONFIG_HELP)
    s.add_argument("--config", dest="config_option", help=argparse.SUPPRESS)
    s.add_argument("--cohort", metavar="ID", help="one cohort of a deployment folder")
    s.add_argument("--participant", metavar="EMAIL", help="render it as this participant gets it")
    s.add_argument("--out", metavar="FILE.eml", help="where to write it")
    s.set_defaults(coro=_preview)
