from __future__ import annotations

from datetime import timedelta

import pytest

from service.config.durations import format_duration, parse_duration


@pytest.mark.parametrize(("text", "delta"), [
    ("45m", timedelta(minutes=45)), ("2d", timedelta(days=2)), ("1w", timedelta(weeks=1)),
    ("1h30m", timedelta(minutes=90)), (" 2W ", timedelta(weeks=2)),
])
def test_parse(text: str, delta: timedelta) -> None:
    assert parse_duration(text) == delta
    assert parse_duration(format_duration(delta)) == delta


@pytest.mark.parametrize("text", ["", "2", "2x", "w2", "1.5h", "-1d"])
def test_reject(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)
