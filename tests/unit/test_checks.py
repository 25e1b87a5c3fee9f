from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from service.config import Config, MovedCheckin
from service.core.checks import check_config


def test_checks(config: Config) -> None:
    moved = MovedCheckin(9, datetime(2026, 12, 20, 10, tzinfo=ZoneInfo("America/New_York")))
    config = dataclasses.replace(config, checkins=dataclasses.replace(
        config.checkins, cancelled=(7,), moved=(moved,)))
    problems, notes = check_config(config, now=datetime(2026, 10, 1, tzinfo=UTC))
    assert [(p.key, p.message) for p in problems] == [
        ("checkins.cancelled", "there is no check-in 7"),
        ("checkins.moved", "there is no check-in 9"),
    ]
    assert notes[0].startswith("4 check-ins from Tue 20 Oct 2026 12:00")
    late, _ = check_config(config, now=datetime(2027, 3, 1, tzinfo=UTC))
    assert any("every check-in is in the past" in p.message for p in late)
    off = dataclasses.replace(config, checkins=dataclasses.replace(config.checkins, cancel_series=True))
    _, notes = check_config(off, now=datetime(2026, 10, 1, tzinfo=UTC))
    assert "The series is cancelled" in notes[0]
