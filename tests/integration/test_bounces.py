"""A hard bounce stops mail to that address and tells the facilitator, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cohort_kit import cohort_config, inbox, new_people

from service.core.clock import ManualClock
from service.dev.devmail import DevMailServer
from service.runtime.passes import run_once
from service.runtime.service import opened
from service.store.models import Participant

pytestmark = pytest.mark.integration

DSN = Path(__file__).parent.parent / "fixtures" / "mail" / "postfix_bounce_dsn.eml"


async def test_hard_bounce(mailserver: DevMailServer, tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    people = new_people(mailserver, monkeypatch)
    clock = ManualClock(datetime.now(UTC))
    config = cohort_config(tmp_path, mailserver, None,
                           people.cohort, [people.alice, people.bob], clock.now())
    async with opened(config, clock) as runtime:
        await run_once(runtime)
        # Bob's server refuses his address: a real Postfix DSN, addressed to his address.
        dsn = DSN.read_bytes().replace(b"frank@example.net", people.bob.encode())
        await mailserver.deliver_async(dsn, people.cohort, mail_from="")
        report = await run_once(runtime)
        assert report.kinds == {"bounce": 1}
        bob = await Participant.get(email=people.bob)
        assert bob.bounce_state == "hard"
        # The next prompt goes to Alice only.
        clock.advance(timedelta(days=7))
        report = await run_once(runtime)
        assert report.sent == 1
    notices = [m for m in await inbox(mailserver, people.facilitator)
               if m["X-Circleback-Kind"] == "notice"]
    assert len(notices) == 1 and people.bob in str(notices[0]["Subject"])
    kinds = [str(m["X-Circleback-Kind"]) for m in await inbox(mailserver, people.bob)]
    assert kinds.count("prompt") == 1
    assert [str(m["X-Circleback-Kind"]) for m in await inbox(mailserver, people.alice)].count("prompt") == 2
