"""One cohort end to end through real servers: Dovecot (IMAP + LMTP), the SMTP relay,
and SQLite or PostgreSQL. Participants' messages are written the way their clients do."""

from __future__ import annotations

import email
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage, Message
from email.policy import default as default_policy
from email.utils import format_datetime, make_msgid
from pathlib import Path

import icalendar
import pytest
from tortoise.transactions import in_transaction

from service.clock import ManualClock
from service.config import Config, load_config
from service.daemon import opened, run_once
from service.devmail import DevMailServer
from service.digest import build_and_queue_digest
from service.mail.imap import Mailbox
from service.mail.smtp import SmtpSender
from service.models import Action, InboundMessage, OutboxMessage, Rsvp, Story
from service.report import status_report

pytestmark = pytest.mark.integration

PASSWORD = "secret"


def cohort_config(tmp: Path, mail: DevMailServer, db_url: str, cohort: str, people: list[str],
                  start: datetime) -> Config:
    first = (start + timedelta(days=1)).astimezone(UTC).replace(tzinfo=None)
    parts = "".join(f'[[participants]]\nname = "{p.split("@")[0].title()} Tester"\n'
                    f'email = "{p}"\ntimezone = "Europe/Berlin"\n' for p in people)
    text = f"""
[cohort]
id = "flow"
name = "Flow cohort"
timezone = "UTC"
[facilitator]
name = "Helen"
email = "helen-{cohort.split('@')[0]}@example.test"
[mail]
address = "{cohort}"
display_name = "Flow circle"
[checkins]
first = {first:%Y-%m-%dT%H:%M:%S}
every = "1w"
count = 3
duration = "45m"
location = "https://meet.example.org/flow"
prompt_before = "2d"
{parts}
[smtp]
host = "127.0.0.1"
port = {mail.smtp_port}
security = "none"
[imap]
host = "127.0.0.1"
port = {mail.imap_port}
security = "none"
username = "{cohort}"
password_env = "CB_FLOW_PASSWORD"
[database]
url = "{db_url}"
"""
    path = tmp / "cohort.toml"
    path.write_text(text)
    return load_config(path, require_secrets=True)


async def inbox(mail: DevMailServer, user: str) -> list[Message]:
    box = Mailbox(host=mail.imap_host, port=mail.imap_port, security="none", username=user,
                  password=PASSWORD, timeout=10)
    await box.connect()
    try:
        await box.select("INBOX")
        return [email.message_from_bytes(raw, policy=default_policy)
                for _, raw in await box.fetch(await box.uids_after(0))]
    finally:
        await box.close()


async def send(mail: DevMailServer, msg: EmailMessage, rcpt: str) -> None:
    sender = SmtpSender(host=mail.smtp_host, port=mail.smtp_port, security="none", username=None,
                        password=None, timeout=10)
    try:
        await sender.send(msg.as_bytes(), str(msg["From"]).split("<")[-1].rstrip(">"), [rcpt])
    finally:
        await sender.close()


def thunderbird_reply(frm: str, prompt: Message, text: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = frm
    msg["To"] = str(prompt["Reply-To"])
    msg["Subject"] = "Re: " + str(prompt["Subject"])
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain="example.test")
    msg["In-Reply-To"] = str(prompt["Message-ID"])
    msg["User-Agent"] = "Mozilla Thunderbird"
    body = prompt.get_body(preferencelist=("plain",))
    quoted = "\n".join("> " + line for line in str(body.get_content()).splitlines())  # type: ignore[union-attr]
    msg.set_content(f"{text}\n\nOn 01/12/2026 10:00, Flow circle wrote:\n{quoted}\n")
    return msg


def calendar_reply(frm: str, invite: Message, partstat: str) -> EmailMessage:
    """What Apple Calendar sends: method only inside the body, not in the Content-Type."""
    part = next(p for p in invite.walk() if p.get_content_type() == "text/calendar")
    cal = icalendar.Calendar.from_ical(part.get_payload(decode=True))
    event = next(iter(cal.walk("VEVENT")))
    organizer = str(event["ORGANIZER"]).split(":", 1)[1]
    body = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Apple Inc.//iPhone OS 18.1//EN\r\n"
        "METHOD:REPLY\r\nBEGIN:VEVENT\r\n"
        f"UID:{event['UID']}\r\nDTSTAMP:20261201T100000Z\r\nSEQUENCE:{event.get('SEQUENCE', 0)}\r\n"
        f"ATTENDEE;CN=Tester;PARTSTAT={partstat};EMAIL={frm}:MAILTO:{frm.upper()}\r\n"
        f"ORGANIZER:mailto:{organizer}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    msg = EmailMessage()
    msg["From"] = frm
    msg["To"] = organizer
    msg["Subject"] = f"Invitation: {event['SUMMARY']} ({partstat.lower()})"
    msg["Message-ID"] = make_msgid(domain="example.test")
    msg.set_content(body, subtype="calendar")
    return msg


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'cb.sqlite3'}"
    return str(request.getfixturevalue("pg_database"))


async def test_cohort_from_invite_to_digest(
    mailserver: DevMailServer, tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tag = uuid.uuid4().hex[:8]
    cohort_addr, alice, bob = (f"circle-{tag}@cohort.test", f"alice-{tag}@example.test",
                               f"bob-{tag}@example.test")
    for user in (cohort_addr, alice, bob, f"helen-circle-{tag}@example.test"):
        mailserver.add_user(user, PASSWORD)
    monkeypatch.setenv("CB_FLOW_PASSWORD", PASSWORD)
    clock = ManualClock(datetime.now(UTC))
    config = cohort_config(tmp_path, mailserver, db_url, cohort_addr, [alice, bob], clock.now())

    # 1. invitations and the first prompt reach every participant's mailbox
    async with opened(config, clock) as cohort:
        report = await run_once(cohort)
        assert report.problems == []
        assert report.sent == 4
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
    async with opened(config, clock) as cohort:
        report = await run_once(cohort)
        assert report.fetched == 3
        assert report.kinds == {"story": 1, "rsvp": 1, "unknown_sender": 1}
        stories = await Story.filter(cohort_id="flow").prefetch_related("participant")
        assert [(s.participant.email, s.text) for s in stories] == [
            (alice, "My goal: write one page a day.\nThis helped: https://example.org/habits")]
        assert "wrote:" in stories[0].cut
        rsvp = await Rsvp.get(participant__email=alice)
        assert (rsvp.partstat, rsvp.recurrence_key) == ("ACCEPTED", "")
        assert await InboundMessage.filter(kind="unknown_sender").count() == 1
        status = await status_report(cohort)
        row = next(r for r in status.rows if r.email == alice)
        assert (row.rsvp, row.stories) == ("ACCEPTED", 1)

        # 3. the digest, queued now and sent by the next run, carries Alice's story
        async with in_transaction():
            await Action.create(key="digest:manual:test", cohort_id="flow", kind="digest",
                                done_at=clock.now())
            assert await build_and_queue_digest(cohort, clock.now(), slot=clock.now(), force=True) == 3
        report = await run_once(cohort)
        assert report.sent == 3
        assert await OutboxMessage.filter(state__not="sent").count() == 0

    bob_digest = next(m for m in await inbox(mailserver, bob) if m["X-Circleback-Kind"] == "digest")
    text = str(bob_digest.get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]
    assert "write one page a day" in text and "https://example.org/habits" in text
    assert "Buy my course" not in text
    html = str(bob_digest.get_body(preferencelist=("html",)).get_content())  # type: ignore[union-attr]
    assert "write one page a day" in html

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
    async with opened(config, clock) as cohort:
        report = await run_once(cohort)
        assert (report.queued, report.sent, report.fetched) == (0, 0, 0)
        assert await Story.filter(cohort_id="flow").count() == 1
