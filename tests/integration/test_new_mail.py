"""A participant's new email (not a reply) to the cohort address: nothing of it is
published; they get one tokenised answer at their own address, and their reply to that
becomes the story ("yes": the text they first sent; new text: that text). Real Dovecot and
SMTP relay, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage, Message
from email.utils import format_datetime, make_msgid
from pathlib import Path

import pytest
from cohort_kit import cohort_config, inbox, new_people, send, thunderbird_reply

from service.core.clock import ManualClock
from service.dev.devmail import DevMailServer
from service.flows.digest import send_digest_now
from service.flows.newmail import ANSWERS_A_DAY
from service.runtime.passes import run_once
from service.runtime.service import opened
from service.store.models import InboundMessage, OutboxMessage, Resource, Story

pytestmark = pytest.mark.integration

FIRST = "I started a reading group at work.\nWe read https://example.org/reading-list"
SECOND = "Second thought: I might also try journaling."


def new_email(frm: str, to: str, subject: str, text: str, **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = frm
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain="example.test")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(text)
    return msg


def plain(msg: Message) -> str:
    assert isinstance(msg, EmailMessage)  # parsed with the default policy
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


async def answers(mail: DevMailServer, user: str) -> list[Message]:
    return [m for m in await inbox(mail, user) if m["X-Circleback-Kind"] == "ack"]


async def test_new_email_is_shared_only_after_the_participant_confirms(
    mailserver: DevMailServer, tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    people = new_people(mailserver, monkeypatch)
    alice, cohort = people.alice, people.cohort
    clock = ManualClock(datetime.now(UTC))
    config = cohort_config(tmp_path, mailserver, db_url, cohort, [alice, people.bob], clock.now())
    async with opened(config, clock) as runtime:
        await run_once(runtime)  # invitations and prompts; circleback watches the mailbox
        token_address = str(next(m for m in await inbox(mailserver, alice)
                                 if m["X-Circleback-Kind"] == "prompt")["Reply-To"])

        # 1. Alice writes a new email to the plain cohort address: nothing is published,
        #    she gets one answer at her own address, with her reply token, quoting her text.
        first = new_email(f"Alice Tester <{alice}>", cohort, "A reading group", FIRST)
        await send(mailserver, first, cohort)
        report = await run_once(runtime)
        assert report.kinds == {"new_mail": 1}
        assert await Story.all().count() == 0
        row = await InboundMessage.get(kind="new_mail")
        assert row.folder == "circleback/processed" and row.state == "moved"
        [answer] = await answers(mailserver, alice)
        assert str(answer["To"]).endswith(f"<{alice}>")
        assert str(answer["Reply-To"]) == token_address
        assert str(answer["Subject"]) == "Re: A reading group"
        assert str(answer["In-Reply-To"]) == str(first["Message-ID"])
        assert "reply to this email" in plain(answer)
        assert "> I started a reading group at work." in plain(answer)
        assert not [m for m in await inbox(mailserver, people.bob) if m["X-Circleback-Kind"] == "ack"]
        # Later passes answer nothing more.
        await run_once(runtime)
        assert len(await answers(mailserver, alice)) == 1

        # 2. A second new email gets its own answer (one per email, never a loop).
        await send(mailserver, new_email(f"Alice Tester <{alice}>", cohort, "Journaling", SECOND),
                   cohort)
        await run_once(runtime)
        assert len(await answers(mailserver, alice)) == 2
        assert await Story.all().count() == 0

        # 3. Mail that is automatic is never answered, even from her address.
        for headers in ({"Auto_Submitted": "auto-replied"}, {"Precedence": "bulk"},
                        {"List_Id": "<team.example.test>"}):
            await send(mailserver, new_email(alice, cohort, "Out of reach", "Away.", **headers),
                       cohort)
        report = await run_once(runtime)
        assert report.kinds == {"auto_reply": 3}
        assert len(await answers(mailserver, alice)) == 2

        # 4. "yes" to the first answer: her first email's text is her story, with its link.
        by_subject = {str(m["Subject"]): m for m in await answers(mailserver, alice)}
        await send(mailserver, thunderbird_reply(f"Alice Tester <{alice}>",
                                                 by_subject["Re: A reading group"], "Yes!"),
                   token_address)
        report = await run_once(runtime)
        assert report.kinds == {"story": 1}
        [story] = await Story.all()
        assert story.text == FIRST and story.shared_at is not None and not story.private
        assert await Resource.filter(url="https://example.org/reading-list").exists()
        # The "yes" itself is never published, and no "your reply was empty" answer goes out.
        assert len(await answers(mailserver, alice)) == 2

        # 5. New text in the reply to the second answer: that text is the story.
        await send(mailserver, thunderbird_reply(f"Alice Tester <{alice}>", by_subject["Re: Journaling"],
                                                 "Journaling every evening, ten minutes."),
                   token_address)
        # A second "yes" to the first answer changes nothing.
        await send(mailserver, thunderbird_reply(f"Alice Tester <{alice}>",
                                                 by_subject["Re: A reading group"], "ok"),
                   token_address)
        await run_once(runtime)
        texts = "\n".join(str(t) for t in await Story.all().values_list("text", flat=True))
        assert "Journaling every evening, ten minutes." in texts
        assert SECOND not in texts and texts.count("reading group") == 1

        # 6. The story reaches the circle in the digest.
        await send_digest_now(runtime.cohort())
        clock.advance(timedelta(minutes=1))
        await run_once(runtime)
    digest = next(m for m in await inbox(mailserver, people.bob) if m["X-Circleback-Kind"] == "digest")
    assert "I started a reading group at work." in plain(digest)
    assert SECOND not in plain(digest)


async def test_a_few_answers_a_day_at_most(
    mailserver: DevMailServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mail system writing new mail back to every answer (without the automatic-mail
    headers) is answered a few times a day, not forever; every email is still kept."""
    people = new_people(mailserver, monkeypatch)
    clock = ManualClock(datetime.now(UTC))
    config = cohort_config(tmp_path, mailserver, None, people.cohort, [people.alice], clock.now())
    async with opened(config, clock) as runtime:
        await run_once(runtime)
        for n in range(ANSWERS_A_DAY + 2):
            await send(mailserver, new_email(people.alice, people.cohort, f"Note {n}", f"Note {n}."),
                       people.cohort)
        report = await run_once(runtime)
        assert report.kinds == {"new_mail": ANSWERS_A_DAY + 2}
        assert await OutboxMessage.filter(kind="ack").count() == ANSWERS_A_DAY
    assert len(await answers(mailserver, people.alice)) == ANSWERS_A_DAY
