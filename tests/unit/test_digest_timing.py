from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from service.config import Config
from service.core.clock import ManualClock
from service.flows.cohort import Cohort
from service.flows.digest import local_send_time
from service.store.models import Participant


def cohort(config: Config, local_time: bool) -> Cohort:
    config = dataclasses.replace(config, digest=dataclasses.replace(config.digest, local_time=local_time))
    return Cohort(config=config, secret=b"s" * 32, clock=ManualClock(datetime(2026, 10, 23, tzinfo=UTC)))


def test_each_participant_gets_the_digest_at_their_own_friday_nine(config: Config) -> None:
    composed = datetime(2026, 10, 23, 0, tzinfo=UTC)  # Friday 09:00 in Tokyo
    c = cohort(config, local_time=True)
    tokyo = Participant(email="a@x", name="A", timezone="Asia/Tokyo")
    london = Participant(email="b@x", name="B", timezone="Europe/London")
    la = Participant(email="c@x", name="C", timezone="America/Los_Angeles")
    assert local_send_time(c, tokyo, composed) is None  # it is their time now
    assert local_send_time(c, london, composed) == datetime(2026, 10, 23, 8, tzinfo=UTC)  # BST
    assert local_send_time(c, la, composed) == datetime(2026, 10, 23, 16, tzinfo=UTC)  # PDT
    assert local_send_time(cohort(config, local_time=False), la, composed) is None
