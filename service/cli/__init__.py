"""The ``circleback`` command: a parser, and one module per group of commands."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

from service import __version__
from service.cli import changes, export, participants, reports, running, setup
from service.cli.common import setup_logging
from service.config import ConfigError
from service.store.db import DatabaseError

__all__ = ["build_parser", "main"]

COMMANDS = (setup, running, reports, export, participants, changes)


EXIT_CODES = """exit codes:
  0  ok
  1  config problems (every one listed, with its file, key and fix), or a participant or
     check-in the config does not have
  2  usage: a missing or unknown option or argument, --cohort missing or unknown
  3  a server unreachable or refusing (SMTP or IMAP)
  4  messages refused for good by the SMTP server

Each command has its own help: circleback COMMAND --help"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="circleback",
                                description="Keeps a learning cohort going after its workshop, by email.",
                                epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"circleback {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log debugging detail")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    _global_options(p)
    return p


def _global_options(parser: argparse.ArgumentParser) -> None:
    """-v/--verbose after any (sub)command too: each subparser gets it with a SUPPRESS
    default, so that one given before the command is not reset by the subparser's
    default (argparse copies a subparser's defaults over the namespace)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                if "--verbose" not in child._option_string_actions:
                    child.add_argument("-v", "--verbose", action="store_true",
                                       default=argparse.SUPPRESS, help="log debugging detail")
                _global_options(child)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
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
    except BrokenPipeError:  # `circleback status ... | head`: the reader has had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
