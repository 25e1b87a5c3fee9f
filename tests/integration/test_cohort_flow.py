"""One cohort end to end through real servers: Dovecot (IMAP + LMTP), the SMTP relay,
and SQLite or PostgreSQL. Participants' messages are written the way their clients do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import icalendar
import pytest
from cohort_kit import PASSWORD, calendar_reply, cohort_config, inbox, new_people, send, thunderbird_reply

from service.compose.localtime import short_date
from service.core.clock import ManualClock
from service.dev.devmail import DevMailServer
from service.flows.digest import send_digest_now
from service.flows.status import status_report
from service.mail.imap import Mailbox
from service.runtime.passes import run_once
from service.runtime.service import opened
from service.store.models import InboundMessage, OutboxMessage, Rsvp, Story

pytestmark = pytest.mark.integration


async def test_cohort_from_invite_to_digest(
    mailserver: DevMailServer, tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    people = new_people(mailserver, monkeypatch)
    tag, cohort_addr, alice, bob = people.tag, people.cohort, people.alice, people.bob
    clock = ManualClock(datetime.now(UTC))
    config = cohort_config(tmp_path, mailserver, db_url, cohort_addr, [alice, bob], clock.now(),
                           message_gap="15m")

    # 1. invitations, and a quarter of an hour later ([mail] message_gap) the first prompt,
    #    reach every participant's mailbox: never two messages to one person at once
    async with opened(config, clock) as runtime:
        report = await run_once(runtime)
        assert report.problems == []
        assert report.sent == 2
        assert report.next_what == "the prompt for check-in 1"
        assert report.next_due == clock.now() + timedelta(minutes=15)
        assert [str(m["X-Circleback-Kind"]) for m in await inbox(mailserver, alice)] == ["invite"]
        clock.advance(timedelta(minutes=14))
        assert (await run_once(runtime)).sent == 0
        clock.advance(timedelta(minutes=1))
        report = await run_once(runtime)
        assert report.sent == 2
    alice_mail = await inbox(mailserver, alice)
    kinds = sorted(str(m["X-Circleback-Kind"]) for m in alice_mail)
    assert kinds == ["invite", "prompt"]
    invite = next(m for m in alice_mail if m["X-Circleback-Kind"] == "invite")
    prompt = next(m for m in alice_mail if m["X-Circleback-Kind"] == "prompt")
    cal_part = next(p for p in invite.walk() if p.get_content_type() == "text/calendar")
    assert cal_part.get_param("method") == "REQUEST"
    reply_to = str(prompt["Reply-To"])
    assert reply_to.startswith(f"circle-{tag}+") and reply_to.endswith("@cohort.test")
    cal = icalendar.Calendar.from_ical(cal_part.get_payload(decode=True))
    organizer = str(next(iter(cal.walk("VEVENT")))["ORGANIZER"]).lower()
    assert organizer == f"mailto:{reply_to}".lower()

    # 2. Alice replies from her mail client and accepts from her calendar; a stranger
    #    writes to Alice's reply address pretending to be her colleague.
    await send(mailserver, thunderbird_reply(
        f"Alice Tester <{alice}>", prompt,
        "My goal: write one page a day.\nThis helped: https://example.org/habits"), reply_to)
    await send(mailserver, calendar_reply(alice, invite, "ACCEPTED"), organizer.split(":", 1)[1])
    spoof = thunderbird_reply(f"Mallory <mallory-{tag}@example.test>", prompt, "Buy my course")
    await send(mailserver, spoof, reply_to)

    clock.advance(timedelta(hours=1))
    async with opened(config, clock) as runtime:
        report = await run_once(runtime)
        assert report.fetched == 3
        assert report.kinds == {"story": 1, "rsvp": 1, "unknown_sender": 1}
        stories = await Story.filter(cohort_id="flow").prefetch_related("participant")
        assert [(s.participant.email, s.text) for s in stories] == [
            (alice, "My goal: write one page a day.\nThis helped: https://example.org/habits")]
        assert "wrote:" in stories[0].cut
        rsvp = await Rsvp.get(participant__email=alice)
        assert (rsvp.partstat, rsvp.recurrence_key) == ("ACCEPTED", "")
        assert await InboundMessage.filter(kind="unknown_sender").count() == 1
        status = await status_report(runtime.cohort())
        row = next(r for r in status.rows if r.email == alice)
        assert (row.rsvp, row.stories) == ("ACCEPTED", 1)

        # 3. the digest, queued now and sent by the next run, carries Alice's story
        assert await send_digest_now(runtime.cohort()) == 3
        report = await run_once(runtime)
        assert report.sent == 3
        assert await OutboxMessage.filter(state__not="sent").count() == 0

    bob_digest = next(m for m in await inbox(mailserver, bob) if m["X-Circleback-Kind"] == "digest")
    # The first digest's period starts with the cohort's first prompt, not in 1970.
    first_prompt = config.checkins.first - config.checkins.prompt_before
    shown = short_date(first_prompt, "Europe/Berlin")
    assert f"({shown} – " in str(bob_digest["Subject"]), bob_digest["Subject"]
    text = str(bob_digest.get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]
    assert "write one page a day" in text and "https://example.org/habits" in text
    assert "Buy my course" not in text
    html = str(bob_digest.get_body(preferencelist=("html",)).get_content())  # type: ignore[union-attr]
    assert "write one page a day" in html
    assert "mallory" not in text and "For you only" not in html
    # Only the facilitator's copy has the private section: who wrote in from outside.
    facilitator = next(m for m in await inbox(mailserver, people.facilitator)
                       if m["X-Circleback-Kind"] == "digest")
    private = str(facilitator.get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]
    assert f"Wrote in but not in the circle: mallory-{tag}@example.test" in private

    # 4. the mailbox is emptied into the folders, nothing deleted
    box = Mailbox(host=mailserver.imap_host, port=mailserver.imap_port, security="none",
                  username=cohort_addr, password=PASSWORD, timeout=10)
    await box.connect()
    try:
        await box.select("INBOX")
        assert await box.uids_after(0) == []
        await box.select("circleback/processed")
        assert len(await box.uids_after(0)) == 2
        await box.select("circleback/needs-attention")
        assert len(await box.uids_after(0)) == 1
    finally:
        await box.close()

    # 5. a restart keeps everything and sends nothing twice
    async with opened(config, clock) as runtime:
        report = await run_once(runtime)
        assert (report.queued, report.sent, report.fetched) == (0, 0, 0)
        assert await Story.filter(cohort_id="flow").count() == 1
