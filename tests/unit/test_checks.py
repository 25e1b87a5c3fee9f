from __future__ import annotations

import dataclasses
import textwrap
from datetime import UTC, datetime
from pathlib import Path

from service.checks import check_config
from service.config import load_config

CONFIG = """
[cohort]
id = "c1"
name = "Circle"
timezone = "Europe/Berlin"
[facilitator]
name = "Helen"
email = "helen@example.org"
[mail]
address = "circle@example.org"
[checkins]
first = 2026-12-01T12:00:00
every = "1w"
count = 4
duration = "45m"
location = "Room 4"
cancelled = [7]
[[checkins.moved]]
checkin = 9
start = 2026-12-20T10:00:00
[[participants]]
name = "Alice"
email = "alice@example.com"
[smtp]
host = "h"
[imap]
host = "h"
username = "u"
password_env = "X"
"""


def test_checks(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(textwrap.dedent(CONFIG))
    config = load_config(path)
    problems, notes = check_config(config, now=datetime(2026, 11, 1, tzinfo=UTC))
    assert [(p.key, p.message) for p in problems] == [
        ("checkins.cancelled", "there is no check-in 7"),
        ("checkins.moved", "there is no check-in 9"),
    ]
    assert notes[0].startswith("4 check-ins from Tue 01 Dec 2026 12:00")
    late, _ = check_config(config, now=datetime(2027, 3, 1, tzinfo=UTC))
    assert any("every check-in is in the past" in p.message for p in late)
    off = dataclasses.replace(config, checkins=dataclasses.replace(config.checkins, cancel_series=True))
    _, notes = check_config(off, now=datetime(2026, 11, 1, tzinfo=UTC))
    assert "The series is cancelled" in notes[0]
