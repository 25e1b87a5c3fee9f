"""What every command shares: logging, loading CONFIG, the common arguments."""

from __future__ import annotations

import argparse
import logging
import sys

from service.config import Deployment, load_deployment
from service.logs import CohortPrefix

log = logging.getLogger("circleback")

CONFIG_HELP = "a cohort file (cohort.toml) or a deployment folder (circleback.toml + cohorts/)"


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(message)s", datefmt="%Y-%m-%d %H:%M:%S", stream=sys.stderr)
    for handler in logging.getLogger().handlers:
        handler.addFilter(CohortPrefix())  # "[cohort-id] ..." when the daemon serves several
    for noisy in ("tortoise", "aiosqlite", "asyncio", "aioimaplib", "aiosmtplib", "mail.log"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def load(path: str, *, require_secrets: bool = False) -> Deployment:
    """A cohort file or a deployment folder."""
    return load_deployment(path, require_secrets=require_secrets)


def add_config(parser: argparse.ArgumentParser) -> None:
    """CONFIG (positional) and --cohort ID, as every command about cohorts takes them."""
    parser.add_argument("config", metavar="CONFIG", help=CONFIG_HELP)
    parser.add_argument("--cohort", metavar="ID",
                        help="one cohort of a deployment folder (needed only when it has several)")
