"""A mailbox whose UIDVALIDITY changed is read again from the start; Message-ID
deduplication keeps stories from doubling."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from cohort_kit import cohort_config, connected, new_people

from service.core.clock import ManualClock
from service.dev.devmail import DevMailServer
from service.runtime.passes import run_once
from service.runtime.service import opened
from service.store.models import InboundMessage, MailboxCursor, Participant, Story

pytestmark = pytest.mark.integration


async def test_uidvalidity_change_resyncs_without_duplicates(
    mailserver: DevMailServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    people = new_people(mailserver, monkeypatch)
    clock = ManualClock(datetime.now(UTC))
    config = cohort_config(tmp_path, mailserver, None,
                           people.cohort, [people.alice], clock.now())
    async with opened(config, clock) as runtime:
        await connected(runtime)
        alice = await Participant.get(email=people.alice)
        reply = (f"From: Alice <{people.alice}>\r\nTo: {runtime.cohort().reply_address(alice)}\r\n"
                 "Subject: Re: check-in\r\nMessage-ID: <story-1@example.test>\r\n\r\n"
                 "Practised every morning.\r\n").encode()
        await mailserver.deliver_async(reply, people.cohort)
        await run_once(runtime)
        assert await Story.filter(participant=alice).count() == 1
        # The server lost its UID state (a restore, a migration): same mail, new UIDs.
        await mailserver.deliver_async(reply, people.cohort)
        assert await MailboxCursor.all().count() == 1  # one cursor per watched mailbox
        await MailboxCursor.all().update(uidvalidity=1, last_uid=10_000)
        mailbox = (await MailboxCursor.first()).mailbox  # type: ignore[union-attr]
        # A message stored but never moved under the old UIDs (a crash between the two):
        # its old UID now names some other message, which must not be moved for it.
        await InboundMessage.create(cohort_id="flow", mailbox=mailbox, message_id="stale@example.test", uid=1,
                                    kind="story", state="stored", folder="circleback/processed",
                                    received_at=clock.now())
        # The first copy's record, as if its move had been lost in the crash.
        await InboundMessage.filter(message_id="story-1@example.test").update(state="stored")
        report = await run_once(runtime)
        assert report.fetched == 1  # read again from the start, not from UID 10,000
        # Read again, it is filed where it was filed before, and its record marked moved.
        assert (await InboundMessage.get(message_id="story-1@example.test")).state == "moved"
        assert await Story.filter(participant=alice).count() == 1
        cursor = await MailboxCursor.get(mailbox=mailbox)
        assert cursor.uidvalidity != 1 and cursor.last_uid < 10_000
        assert (await InboundMessage.get(message_id="stale@example.test")).uid == 0
