from __future__ import annotations

import dataclasses
import textwrap
from datetime import UTC, datetime
from pathlib import Path

from service.clock import ManualClock
from service.cohort import Cohort
from service.config import load_config
from service.digest import local_send_time
from service.models import Participant

CONFIG = """
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
location = "Room 4"
[digest]
weekday = "friday"
time = "09:00"
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


def cohort(tmp_path: Path, local_time: bool) -> Cohort:
    path = tmp_path / "c.toml"
    path.write_text(textwrap.dedent(CONFIG))
    config = load_config(path)
    config = dataclasses.replace(config, digest=dataclasses.replace(config.digest, local_time=local_time))
    return Cohort(config=config, secret=b"s" * 32, clock=ManualClock(datetime(2026, 10, 23, tzinfo=UTC)))


def test_each_participant_gets_the_digest_at_their_own_friday_nine(tmp_path: Path) -> None:
    composed = datetime(2026, 10, 23, 0, tzinfo=UTC)  # Friday 09:00 in Tokyo
    c = cohort(tmp_path, local_time=True)
    tokyo = Participant(email="a@x", name="A", timezone="Asia/Tokyo")
    london = Participant(email="b@x", name="B", timezone="Europe/London")
    la = Participant(email="c@x", name="C", timezone="America/Los_Angeles")
    assert local_send_time(c, tokyo, composed) is None  # it is their time now
    assert local_send_time(c, london, composed) == datetime(2026, 10, 23, 8, tzinfo=UTC)  # BST
    assert local_send_time(c, la, composed) == datetime(2026, 10, 23, 16, tzinfo=UTC)  # PDT
    assert local_send_time(cohort(tmp_path, local_time=False), la, composed) is None
