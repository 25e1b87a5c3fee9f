"""Pointed at an ordinary mailbox (a person's own, with a boss's mail and a newsletter in
it), circleback leaves alone what was there before its first connection, and afterwards
moves only the mail that concerns it: a stranger's mail to the plain cohort address stays
where it is. Checked over IMAP against the real Dovecot, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import email
import logging
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import pytest
from cohort_kit import PASSWORD, cohort_config, inbox, new_people, send, thunderbird_reply

from service.cli import main
from service.core.clock import ManualClock
from service.dev.devmail import DevMailServer
from service.mail.imap import ImapCommandError, Mailbox
from service.runtime.passes import run_once
from service.runtime.service import opened
from service.store.models import InboundMessage, MailboxCursor, Story

pytestmark = pytest.mark.integration

PROCESSED, ATTENTION = "circleback/processed", "circleback/needs-attention"


def plain_mail(frm: str, to: str, subject: str, body: str, **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = frm
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain="elsewhere.test")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


def newsletter(to: str, tag: str) -> EmailMessage:
    return plain_mail(f"News <news-{tag}@lists.elsewhere.test>", to, "This week's offers",
                      "Our best offers.", List_Unsubscribe="<mailto:leave@lists.elsewhere.test>",
                      Precedence="bulk")


async def subjects(mail: DevMailServer, user: str, folder: str) -> list[str]:
    """The subjects in one folder of the cohort's mailbox (a folder never made: none)."""
    box = Mailbox(host=mail.imap_host, port=mail.imap_port, security="none", username=user,
                  password=PASSWORD, timeout=10)
    await box.connect()
    try:
        if folder != "INBOX" and not await _exists(box, folder):
            return []
        await box.select(folder)
        return sorted(str(email.message_from_bytes(raw)["Subject"])
                      for _, raw in await box.fetch(await box.uids_after(0)))
    finally:
        await box.close()


async def _exists(box: Mailbox, folder: str) -> bool:
    try:
        await box.message_count(folder)
    except ImapCommandError:  # NO: there is no such folder
        return False
    return True


async def test_an_ordinary_mailbox_keeps_its_mail(
    mailserver: DevMailServer, tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    people = new_people(mailserver, monkeypatch)
    tag, cohort = people.tag, people.cohort
    clock = ManualClock(datetime.now(UTC))
    config = cohort_config(tmp_path, mailserver, db_url, cohort, [people.alice, people.bob],
                           clock.now())
    # Before circleback ever connects: the boss's mail and a newsletter.
    await send(mailserver, plain_mail(f"Boss <boss-{tag}@example.test>", cohort,
                                      "Budget for next year", "Can we talk tomorrow?"), cohort)
    await send(mailserver, newsletter(cohort, tag), cohort)

    caplog.set_level(logging.INFO, logger="circleback")
    async with opened(config, clock) as runtime:
        report = await run_once(runtime)
        assert report.problems == [] and report.fetched == 0
        assert await InboundMessage.all().count() == 0  # not even read
    assert "left the 2 message(s) already there alone" in caplog.text
    before = ["Budget for next year", "This week's offers"]
    assert await subjects(mailserver, cohort, "INBOX") == before
    assert await subjects(mailserver, cohort, PROCESSED) == []
    assert await subjects(mailserver, cohort, ATTENTION) == []

    # After the first run: strangers write in. To the plain address: it stays (the
    # mailbox is someone's own); a newsletter too. To Alice's tokenised reply address, or
    # as a reply to circleback's prompt: it concerns circleback and is set aside.
    prompt = next(m for m in await inbox(mailserver, people.alice)
                  if m["X-Circleback-Kind"] == "prompt")
    await send(mailserver, plain_mail(f"Carol <carol-{tag}@example.test>", cohort,
                                      "Lunch on Friday?", "Are you free?"), cohort)
    await send(mailserver, newsletter(cohort, tag + "2"), cohort)
    spoof = thunderbird_reply(f"Mallory <mallory-{tag}@example.test>", prompt, "Buy my course")
    await send(mailserver, spoof, str(prompt["Reply-To"]))
    forwarded = thunderbird_reply(f"Trent <trent-{tag}@example.test>", prompt, "Me too, please")
    del forwarded["To"]
    forwarded["To"] = cohort
    del forwarded["Subject"]
    forwarded["Subject"] = "Forwarded prompt"
    await send(mailserver, forwarded, cohort)

    clock.advance(timedelta(hours=1))
    async with opened(config, clock) as runtime:
        report = await run_once(runtime)
        assert report.fetched == 4
        assert report.kinds == {"unknown_sender": 3, "auto_reply": 1}
        carol = await InboundMessage.get(from_addr=f"carol-{tag}@example.test")
        # Recorded as read (not read again each pass), its content not kept.
        assert (carol.state, carol.folder, carol.raw_message) == ("left", "", None)
        assert (await InboundMessage.get(from_addr=f"mallory-{tag}@example.test")).folder == ATTENTION
        assert await Story.all().count() == 0
        # A second pass reads nothing again and moves nothing.
        report = await run_once(runtime)
        assert report.fetched == 0
    assert await subjects(mailserver, cohort, "INBOX") == sorted(
        [*before, "Lunch on Friday?", "This week's offers"])
    assert await subjects(mailserver, cohort, ATTENTION) == sorted(
        ["Forwarded prompt", str(spoof["Subject"])])
    assert await subjects(mailserver, cohort, PROCESSED) == []


async def test_a_recreated_mailbox_still_leaves_strangers_mail(
    mailserver: DevMailServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a UIDVALIDITY change everything is read again (Message-IDs dedupe), and a
    stranger's plain mail, even from before the first connection, still stays."""
    people = new_people(mailserver, monkeypatch)
    tag, cohort = people.tag, people.cohort
    clock = ManualClock(datetime.now(UTC))
    config = cohort_config(tmp_path, mailserver, None, cohort, [people.alice], clock.now())
    await send(mailserver, plain_mail(f"Boss <boss-{tag}@example.test>", cohort,
                                      "Budget for next year", "Can we talk?"), cohort)
    async with opened(config, clock) as runtime:
        await run_once(runtime)
        prompt = next(m for m in await inbox(mailserver, people.alice)
                      if m["X-Circleback-Kind"] == "prompt")
        await send(mailserver, thunderbird_reply(f"Alice <{people.alice}>", prompt,
                                                 "Practised every morning."),
                   str(prompt["Reply-To"]))
        report = await run_once(runtime)
        assert report.kinds == {"story": 1}
        await MailboxCursor.all().update(uidvalidity=1)  # as if the server had lost its UIDs
        report = await run_once(runtime)
        assert report.kinds == {"unknown_sender": 1}  # the boss's mail, read at last
        assert (await InboundMessage.get(from_addr=f"boss-{tag}@example.test")).state == "left"
        report = await run_once(runtime)
        assert report.fetched == 0
        assert await Story.all().count() == 1
    assert await subjects(mailserver, cohort, "INBOX") == ["Budget for next year"]
    assert len(await subjects(mailserver, cohort, PROCESSED)) == 1


def test_check_connect_says_how_much_mail_is_there(
    mailserver: DevMailServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    people = new_people(mailserver, monkeypatch)
    config = cohort_config(tmp_path, mailserver, None, people.cohort, [people.alice],
                           datetime.now(UTC))
    assert main(["check", str(config.path), "--connect"]) == 0
    assert "INBOX is empty" in capsys.readouterr().out
    for n in range(3):
        asyncio.run(send(mailserver, plain_mail(f"boss-{people.tag}@example.test",
                                                people.cohort, f"Note {n}", "Hello."),
                         people.cohort))
    assert main(["check", str(config.path), "--connect"]) == 0
    out = capsys.readouterr().out
    assert ("INBOX holds 3 messages; circleback will leave them alone and read only new "
            "mail. A dedicated address (circle@cohort.test) that only circleback reads is "
            "recommended.") in out
    assert "SMTP and IMAP logins work." in out
    inbox_now = asyncio.run(subjects(mailserver, people.cohort, "INBOX"))
    assert inbox_now == ["Note 0", "Note 1", "Note 2"]
