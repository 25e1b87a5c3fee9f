"""Where the templates and the example config are, in a checkout or when installed."""

from __future__ import annotations

import os
import sys
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent


def shared_dir(name: str) -> Path:
    """``templates`` or ``config``: the repo's folder in a checkout, else the installed copy
    (``pip install .`` puts them under ``<prefix>/share/circleback``)."""
    override = os.environ.get(f"CIRCLEBACK_{name.upper()}")
    if override:
        return Path(override)
    for candidate in (_REPO / name, Path(sys.prefix) / "share" / "circleback" / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"circleback's {name} folder is missing; reinstall circleback")


def example_config() -> str:
    return (shared_dir("config") / "example.toml").read_text(encoding="utf-8")
