"""The ``circleback`` command: a parser, and one module per group of commands."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from service import __version__
from service.cli import reports, running, setup
from service.cli.common import setup_logging
from service.config import ConfigError
from service.store.db import DatabaseError

__all__ = ["build_parser", "main"]

COMMANDS = (setup, running, reports)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="circleback",
                                description="Keeps a learning cohort going after its workshop, by email.")
    p.add_argument("--version", action="version", version=f"circleback {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log debugging detail")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    return p


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
