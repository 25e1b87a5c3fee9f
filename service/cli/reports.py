"""`circleback status`, `inspect` and `preview`: looking, never changing."""

from __future__ import annotations

import argparse
import json
import sys
from email.message import EmailMessage
from pathlib import Path

from service.cli.common import CONFIG_HELP, load
from service.config import Config
from service.flows.preview import ACK_WORDS, KINDS


async def _status(args: argparse.Namespace) -> int:
    from service.flows.status import status_report
    from service.runtime.service import opened

    deployment = load(args.config)
    if args.cohort is None and len(deployment.cohorts) > 1:
        async with opened(deployment, read_only=True) as runtime:
            reports = [await status_report(c) for c in runtime.cohorts.values()]
            _say_if_new(runtime.stored, args)
        if args.json:
            print(json.dumps({"cohorts": [r.as_json() for r in reports]}, indent=2, default=str))
            return 0
        for r in reports:
            # One line a cohort: engaged, quiet, and whose mail fails, as in the full table.
            people = [row for row in r.rows if row.state != "removed"]
            quiet = sum(1 for row in people if row.gone_quiet)
            replied = sum(1 for row in people if row.stories)
            queued = r.outbox.get("queued", 0) + r.outbox.get("sending", 0)
            away = ", ".join(f"{r.count(s)} {s}" for s in ("paused", "stopped", "bouncing")
                             if r.count(s))
            print(f"{r.cohort_id}: {r.cohort} — {len(people)} participants, {replied} replied, "
                  f"{quiet} gone quiet, " + (f"{away}, " if away else "")
                  + f"{queued} queued, {len(r.refused)} refused"
                  + (f" ({', '.join(r.refused)})" if r.refused else "")
                  + (f", {r.attention} need attention" if r.attention else ""))
        print(f"\nOne cohort in full: circleback status {args.config} --cohort ID")
        return 0
    config = deployment.cohort(args.cohort)
    async with opened(deployment, read_only=True) as runtime:
        report = await status_report(runtime.cohort(config.cohort.id))
        _say_if_new(runtime.stored, args)
    if args.json:
        print(json.dumps(report.as_json(), indent=2, default=str))
    else:
        print(report.as_text())
    return 0


def _say_if_new(stored: bool, args: argparse.Namespace) -> None:
    if not stored:  # with --json on stderr: the output stays one JSON document
        print(f"No mail has been sent yet (there is no database yet): the participants are the "
              f"config's. `circleback run {args.config}` starts the cohort.\n",
              file=sys.stderr if args.json else sys.stdout)


async def _inspect(args: argparse.Namespace) -> int:
    from service.inbound.classify import classify, to_json

    raw = Path(args.message).read_bytes()
    if args.config:
        from service.flows.ingest import Inbox, classify_for
        from service.runtime.service import opened

        deployment = load(args.config)
        async with opened(deployment, read_only=True) as runtime:
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
    from service.flows.preview import PreviewError, UnknownParticipant, render, test_copy, throwaway
    from service.flows.preview import write as write_preview
    from service.runtime.service import opened

    source = args.config or args.config_option
    if not source:
        print("preview needs CONFIG (a cohort file or a deployment folder), e.g. "
              "`circleback preview prompt cohort.toml`.", file=sys.stderr)
        return 2
    deployment = load(source)
    async with opened(deployment, read_only=True) as runtime:
        cohort = runtime.cohort(args.cohort)
        if args.send_test:
            address = args.send_test.strip()
            if "@" not in address:
                print(f"--send-test needs an email address, not {address!r}.", file=sys.stderr)
                return 2
            if any(p.email == address.lower() for p in cohort.config.participants):
                print(f"{address} is a participant of {cohort.id}: a test copy goes to your own "
                      "address, never to a participant's.", file=sys.stderr)
                return 2
            cohort = throwaway(cohort)
        try:
            message = await render(cohort, args.what, participant=args.participant,
                                   checkin=args.checkin, word=args.word)
        except UnknownParticipant as exc:
            print(_unknown_participant(exc, source), file=sys.stderr)
            return 1
        except PreviewError as exc:
            print(f"Cannot preview {args.what}: {exc}.", file=sys.stderr)
            return 1
    if args.send_test:
        return await _send_test(cohort.config, test_copy(message, args.send_test.strip(),
                                                         cohort.config.mail.domain))
    eml, html = write_preview(message, Path(args.out or f"preview-{args.what}.eml"))
    print(f"Wrote {eml}\nWrote {html}")
    return 0


def _unknown_participant(exc: object, source: str) -> str:
    from service.flows.preview import UnknownParticipant

    assert isinstance(exc, UnknownParticipant)
    if exc.pending:
        return (f"{exc.email} is in the config but not in the database yet: `circleback run "
                f"{source} --once` adds them (and sends their invitation).")
    shown = ", ".join(exc.known[:10]) + (f" and {len(exc.known) - 10} more" if len(exc.known) > 10
                                         else "")
    return (f"{exc.email} is not a participant of this cohort. Its participants: "
            f"{shown or 'none yet'} (`circleback status {source}` lists them).")


async def _send_test(config: Config, message: EmailMessage) -> int:
    """Straight through the cohort's SMTP server: no outbox row, nothing recorded."""
    from service.mail.smtp import PermanentFailure, SendError
    from service.runtime.passes import smtp_sender

    sender = smtp_sender(config.smtp)
    to = str(message["To"])
    try:
        await sender.send(message.as_bytes(), config.mail.address, [to])
    except PermanentFailure as exc:
        print(f"The SMTP server refused the test copy for {to}: {exc}.", file=sys.stderr)
        return 4
    except SendError as exc:
        print(f"Could not send the test copy: {exc} — check [smtp] and "
              "`circleback check CONFIG --connect`.", file=sys.stderr)
        return 3
    finally:
        await sender.close()
    print(f"Sent a test copy to {to} ({message['Subject']}). Its reply address and links "
          "are inert: a reply to it is set aside, never shared.")
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

    s = sub.add_parser(
        "preview", help="render any message to .eml and .html, or mail a test copy to yourself",
        description="Render one kind of message as its reader would get it now, without "
                    "sending it or changing the database: invite, prompt, reminder, cancel (one "
                    "check-in), cancel-series, ack (the answer to a word such as skip), digest "
                    "(a participant's copy) or facilitator-digest (the facilitator's copy, "
                    "with the private section). Writes FILE.eml and FILE.html, or with "
                    "--send-test mails it to you alone, marked as a test.",
        epilog="examples:\n  circleback preview digest cohort.toml --out digest.eml\n"
               "  circleback preview ack cohort.toml --word pause\n"
               "  circleback preview invite cohort.toml --send-test me@example.org",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("what", choices=KINDS, metavar="KIND", help=", ".join(KINDS))
    s.add_argument("config", nargs="?", metavar="CONFIG", help=CONFIG_HELP)
    s.add_argument("--config", dest="config_option", metavar="CONFIG",
                   help="CONFIG as an option (the same as the positional one)")
    s.add_argument("--cohort", metavar="ID", help="one cohort of a deployment folder")
    s.add_argument("--participant", metavar="EMAIL",
                   help="render it as this participant gets it (default: the first listed)")
    s.add_argument("--checkin", metavar="N", type=int,
                   help="the check-in it is about (prompt, reminder, cancel, ack; default: the "
                        "next one)")
    s.add_argument("--word", choices=ACK_WORDS, default="skip", metavar="WORD",
                   help=f"for ack: the word answered, one of {', '.join(ACK_WORDS)} "
                        "(default: skip)")
    s.add_argument("--out", metavar="FILE.eml",
                   help="where to write it (default: preview-KIND.eml; FILE.html beside it)")
    s.add_argument("--send-test", metavar="ADDRESS",
                   help="mail it to ADDRESS through the cohort's SMTP server instead, marked as "
                        "a test; its reply address and links act for no one")
    s.set_defaults(coro=_preview)
