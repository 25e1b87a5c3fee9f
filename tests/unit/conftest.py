"""A small valid cohort config for the unit tests of the pure modules."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.config import Config, load_config

# Weekly check-ins in New York across the end of daylight time (1 November 2026).
COHORT_TOML = """
[cohort]
id = "c1"
name = "Circle"
timezone = "America/New_York"
[facilitator]
name = "Helen"
email = "helen@example.org"
[mail]
address = "circle@example.org"
[checkins]
first = 2026-10-20T12:00:00
every = "1w"
count = 4
duration = "45m"
location = "https://meet.example.org/x"
prompt_before = "2d"
remind_before = "1d"
[digest]
weekday = "friday"
time = "09:00"
[[participants]]
name = "Alice"
email = "alice@example.com"
[[participants]]
name = "Bob"
email = "bob@example.com"
[smtp]
host = "h"
[imap]
host = "h"
username = "u"
password_env = "X"
"""


@pytest.fixture
def config(tmp_path: Path) -> Config:
    path = tmp_path / "cohort.toml"
    path.write_text(COHORT_TOML)
    return load_config(path)
