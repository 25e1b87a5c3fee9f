"""A message whose storing fails half-way leaves nothing half-stored: its savepoint is
rolled back, it is kept for the facilitator, and the rest of its chunk is stored."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from cohort_kit import cohort_config, connected, new_people

import service.flows.ingest
from service.core.clock import ManualClock
from service.dev.devmail import DevMailServer
from service.runtime.passes import run_once
from service.runtime.service import opened
from service.store.models import InboundMessage, Participant, Resource, Story

pytestmark = pytest.mark.integration


async def test_a_failing_message_rolls_back_alone(
    mailserver: DevMailServer, tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    people = new_people(mailserver, monkeypatch)
    clock = ManualClock(datetime.now(UTC))
    config = cohort_config(tmp_path, mailserver, db_url, people.cohort, [people.alice], clock.now())
    real_store = service.flows.ingest._store_story

    async def store_then_fail(*args: object, **kwargs: object) -> None:
        await real_store(*args, **kwargs)  # type: ignore[arg-type]
        if "BOOM" in args[4]:  # type: ignore[operator]
            raise RuntimeError("disk full while storing the links")

    monkeypatch.setattr(service.flows.ingest, "_store_story", store_then_fail)
    async with opened(config, clock) as runtime:
        await connected(runtime)
        address = runtime.cohort().reply_address(await Participant.get(email=people.alice))
        for n, text in enumerate(["First story.", "BOOM https://example.org/x", "Third story."]):
            raw = (f"From: Alice <{people.alice}>\r\nTo: {address}\r\nSubject: Re: x\r\n"
                   f"Message-ID: <m{n}@example.test>\r\n\r\n{text}\r\n").encode()
            await mailserver.deliver_async(raw, people.cohort)
        report = await run_once(runtime)
        assert report.kinds == {"story": 2, "invalid": 1}
        # One story per check-in: the third reply is added to the first; the failed second
        # one left no trace in it either.
        assert await Story.all().values_list("text", "replies") == [
            ("First story.\n\nThird story.", 2)]
        assert await Resource.all().count() == 0  # nothing of the failed message is left
        failed = await InboundMessage.get(kind="invalid")
        assert "disk full" in failed.reason and failed.folder == "circleback/needs-attention"
