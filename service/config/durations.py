"""Durations as people write them in the config: ``45m``, ``2d``, ``1w``, ``1h30m``."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PART = re.compile(r"(\d+)\s*([smhdw])")
_WHOLE = re.compile(r"^\s*(?:\d+\s*[smhdw]\s*)+$")


def parse_duration(text: str) -> timedelta:
    """Parse ``"2w"``, ``"45m"``, ``"1h30m"``; raise ValueError with a readable message."""
    if not isinstance(text, str) or not _WHOLE.match(text.lower()):
        raise ValueError(
            f"{text!r} is not a duration; write a number and a unit, e.g. \"45m\", \"2d\", \"1w\" "
            "(s, m, h, d, w)"
        )
    seconds = sum(int(n) * _UNITS[u] for n, u in _PART.findall(text.lower()))
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """The inverse of parse_duration, in the largest whole units."""
    seconds = int(delta.total_seconds())
    if seconds == 0:
        return "0m"
    out = []
    for unit in ("w", "d", "h", "m", "s"):
        size = _UNITS[unit]
        if seconds >= size:
            out.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(out)
