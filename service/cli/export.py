"""`circleback export`: the cohort book, every shared story and link by check-in, for the
cohort to keep. Looking only: it never creates or changes the database."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from service.cli.common import add_config, load

FORMAT_HELP = ("md (Markdown, printed), html (one page for a browser and for printing), "
               "csv (one row per story, printed) or mbox (one message per story, for a mail "
               "client to import)")


@contextlib.contextmanager
def _progress(total: int, what: str) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr when it is a terminal (and the export is big enough to
    wait for); nothing otherwise, so that pipes and logs stay clean."""
    if total < 200 or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(what, total=total)
        yield lambda n: bar.advance(task, n)


@contextlib.contextmanager
def _status(what: str) -> Iterator[None]:
    if not sys.stderr.isatty():
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(what):
        yield


async def _export(args: argparse.Namespace) -> int:
    from service.flows.export import TO_STDOUT, default_path, gather_book, write_book
    from service.runtime.service import opened

    deployment = load(args.config)
    config = deployment.cohort(args.cohort)  # --cohort missing or unknown: a usage error
    fmt = args.format
    if args.out == "-" and fmt == "mbox":
        print("An mbox cannot go to standard output: give --out FILE.mbox (or leave --out "
              "out for " + str(default_path(config.cohort.id, fmt)) + ").", file=sys.stderr)
        return 2
    if args.out == "-" or (args.out is None and fmt in TO_STDOUT):
        out = None
    else:
        out = Path(args.out) if args.out else default_path(config.cohort.id, fmt)
        if out.is_dir():
            out = out / default_path(config.cohort.id, fmt)
        if not out.parent.is_dir():
            print(f"{out.parent}: no such folder; create it or give --out another path.",
                  file=sys.stderr)
            return 1
    with _status("Reading the stories…"):
        # Read-only: nothing is created or changed; with no database yet, nothing is stored.
        async with opened(deployment, read_only=True) as runtime:
            if not runtime.stored:
                print(f"Nothing to export yet: {config.cohort.id} has no database. It is made "
                      f"the first time `circleback run {args.config}` runs; export again once "
                      "stories came in.", file=sys.stderr)
                return 1
            view = await gather_book(runtime.cohort(config.cohort.id))
    stories = len(view.stories)
    with _progress(stories, f"Writing the {fmt} book") as tick:
        write_book(view, fmt, out, stdout=sys.stdout, emails=args.with_emails, tick=tick)
    summary = (f"{stories} {'story' if stories == 1 else 'stories'} and {len(view.resources)} "
               f"{'link' if len(view.resources) == 1 else 'links'} from {len(view.sections)} "
               f"{'check-in' if len(view.sections) == 1 else 'check-ins'}")
    if out is None:
        print(f"Exported {summary}.", file=sys.stderr)
    else:
        print(f"Wrote {out}: {summary}.")
    if not stories:
        print("Nobody has shared a story yet.", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser(
        "export", help="the cohort book: every shared story and link, by check-in",
        description="Write the cohort book: every story shared with the cohort (never a "
                    "private one, nor one waiting for its author's consent) and every link, "
                    "grouped by check-in, with authors and dates in the cohort's time zone. "
                    "It only reads the database, and never creates it.",
        epilog="examples: circleback export cohort.toml --format html --out book.html; "
               "circleback export cohort.toml --format md > book.md")
    add_config(s)
    s.add_argument("--format", required=True, choices=["md", "html", "csv", "mbox"],
                   metavar="FORMAT", help=FORMAT_HELP)
    s.add_argument("--out", metavar="PATH",
                   help="the file to write (replaced if it exists; a folder: COHORT-book.FORMAT "
                        "in it); default: standard output for md and csv, COHORT-book.html or "
                        "COHORT-book.mbox in the current folder for html and mbox; '-' for "
                        "standard output")
    s.add_argument("--with-emails", action="store_true",
                   help="include participants' email addresses (csv: an email column; mbox: "
                        "each story from its author's own address). Off by default: the book "
                        "is for sharing with the cohort, and the digest never shows addresses")
    s.set_defaults(coro=_export)
