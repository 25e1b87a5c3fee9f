"""What participants say by email besides their stories, end to end through Dovecot, the
SMTP relay and SQLite or PostgreSQL: +1s from the digest, poll answers in a reply's first
line, a second reply, an "edit" reply and a late reply."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage, Message
from email.utils import format_datetime, make_msgid
from pathlib import Path
from urllib.parse import unquote

import pytest
from cohort_kit import PASSWORD, cohort_config, inbox, new_people, send, thunderbird_reply

from service.core.clock import ManualClock
from service.dev.devmail import DevMailServer
from service.flows.digest import send_digest_now
from service.flows.status import status_report
from service.mail.imap import Mailbox
from service.runtime.passes import run_once
from service.runtime.service import Runtime, opened
from service.store.models import InboundMessage, PollVote, Reaction, Resource, Story

pytestmark = pytest.mark.integration

POLL = """
[[polls]]
question = "How should we continue after this round?"
options = ["Weekly", "Monthly", "Not at all"]
checkin = 1
"""


def _text(msg: Message) -> str:
    body = msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    return str(body).replace("\r\n", "\n")


def _html(msg: Message) -> str:
    return str(msg.get_body(preferencelist=("html",)).get_content())  # type: ignore[union-attr]


async def _settle(runtime: Runtime, clock: ManualClock, rounds: int = 3) -> None:
    """Run the passes a few times, a little apart ([mail] message_gap keeps two messages
    to one person apart), so that what is due now is queued, sent and read."""
    for _ in range(rounds):
        report = await run_once(runtime)
        assert report.problems == []
        clock.advance(timedelta(minutes=20))


async def _of_kind(mail: DevMailServer, user: str, kind: str) -> list[Message]:
    return [m for m in await inbox(mail, user) if m["X-Circleback-Kind"] == kind]


def plus_one_mail(frm: str, href: str) -> EmailMessage:
    """What a mail client makes of a mailto: link (RFC 6068): To, Subject and body from it."""
    address, _, query = href.removeprefix("mailto:").partition("?")
    fields = dict(part.split("=", 1) for part in query.split("&amp;" if "&amp;" in query else "&"))
    msg = EmailMessage()
    msg["From"] = frm
    msg["To"] = unquote(address)
    msg["Subject"] = unquote(fields["subject"])
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain="example.test")
    msg.set_content(unquote(fields.get("body", "")) + "\n")
    return msg


def plus_one_links(digest: Message) -> list[str]:
    return re.findall(r'href="(mailto:[^"]*subject=%2B1[^"]*)"', _html(digest))


async def test_plus_one_from_the_digest_counts_once_per_person_in_the_next_digest(
    mailserver: DevMailServer, tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    people = new_people(mailserver, monkeypatch)
    carol = f"carol-{people.tag}@example.test"
    mailserver.add_user(carol, PASSWORD)
    alice, bob = people.alice, people.bob
    clock = ManualClock(datetime.now(UTC))
    config = cohort_config(tmp_path, mailserver, db_url, people.cohort, [alice, bob, carol],
                           clock.now())
    async with opened(config, clock) as runtime:
        await _settle(runtime, clock)  # invitations, then the first prompt
        prompt = (await _of_kind(mailserver, alice, "prompt"))[0]
        await send(mailserver, thunderbird_reply(alice, prompt, "I asked for feedback twice."),
                   str(prompt["Reply-To"]))
        await _settle(runtime, clock, rounds=1)
        assert await send_digest_now(runtime.cohort()) == 4
        await _settle(runtime, clock, rounds=1)

    # Bob's and Carol's digests offer a +1 under Alice's story; Alice's own offers none.
    bob_digest = (await _of_kind(mailserver, bob, "digest"))[0]
    carol_digest = (await _of_kind(mailserver, carol, "digest"))[0]
    alice_digest = (await _of_kind(mailserver, alice, "digest"))[0]
    assert plus_one_links(alice_digest) == []
    (bob_link,) = plus_one_links(bob_digest)
    (carol_link,) = plus_one_links(carol_digest)
    assert bob_link != carol_link
    assert "mailto:" in _text(bob_digest) and "subject=%2B1" in _text(bob_digest)

    # Bob clicks twice; Carol once; Alice tries Bob's link (it is not hers) and her own +1.
    await send(mailserver, plus_one_mail(bob, bob_link), bob_link.split(":", 1)[1].split("?")[0])
    await send(mailserver, plus_one_mail(bob, bob_link), bob_link.split(":", 1)[1].split("?")[0])
    await send(mailserver, plus_one_mail(carol, carol_link),
               carol_link.split(":", 1)[1].split("?")[0])
    await send(mailserver, plus_one_mail(alice, bob_link), bob_link.split(":", 1)[1].split("?")[0])
    async with opened(config, clock) as runtime:
        await _settle(runtime, clock, rounds=2)
        story = await Story.get(cohort_id="flow")
        voters = {r.participant_id for r in await Reaction.filter(story_id=story.id)}
        assert len(voters) == 2 and story.participant_id not in voters
        assert await Reaction.filter(cohort_id="flow").count() == 2
        kinds = sorted(m.kind for m in await InboundMessage.filter(cohort_id="flow"))
        assert kinds == ["command", "command", "command", "story", "unknown_sender"]
        # nobody is answered for a +1 (no mail loop can start)
        assert await _of_kind(mailserver, bob, "ack") == []

        # Bob shares a story; the next digest shows Alice's earlier one with its +1s.
        prompt = (await _of_kind(mailserver, bob, "prompt"))[0]
        await send(mailserver, thunderbird_reply(bob, prompt, "I paired with a colleague."),
                   str(prompt["Reply-To"]))
        await _settle(runtime, clock, rounds=1)
        await send_digest_now(runtime.cohort())
        await _settle(runtime, clock, rounds=1)

    second = (await _of_kind(mailserver, carol, "digest"))[-1]
    assert second["Message-ID"] != carol_digest["Message-ID"]
    for part in (_text(second), _html(second)):
        assert "2 people found this useful" in part
        assert "I asked for feedback twice." in part
    # the mailbox is emptied: the +1s filed as processed, Alice's try kept for a person
    box = Mailbox(host=mailserver.imap_host, port=mailserver.imap_port, security="none",
                  username=people.cohort, password=PASSWORD, timeout=10)
    await box.connect()
    try:
        await box.select("INBOX")
        assert await box.uids_after(0) == []
        await box.select("circleback/needs-attention")
        assert len(await box.uids_after(0)) == 1
    finally:
        await box.close()


async def test_poll_answers_second_and_edit_replies_and_a_late_answer(
    mailserver: DevMailServer, tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    people = new_people(mailserver, monkeypatch)
    carol = f"carol-{people.tag}@example.test"
    mailserver.add_user(carol, PASSWORD)
    alice, bob = people.alice, people.bob
    clock = ManualClock(datetime.now(UTC))
    config = cohort_config(tmp_path, mailserver, db_url, people.cohort, [alice, bob, carol],
                           clock.now(), cohort_extra=POLL)

    async def reply(who: str, text: str) -> None:
        """``who`` replies to the prompt of check-in 1."""
        prompt = (await _of_kind(mailserver, who, "prompt"))[0]
        await send(mailserver, thunderbird_reply(who, prompt, text), str(prompt["Reply-To"]))

    async with opened(config, clock) as runtime:
        await _settle(runtime, clock)
        prompt = (await _of_kind(mailserver, alice, "prompt"))[0]
        assert "How should we continue after this round?" in _text(prompt)
        assert "  1. Weekly\n  2. Monthly\n  3. Not at all\n" in _text(prompt)
        assert "first line of your reply" in _html(prompt)

        # Alice votes by number with a story; Bob by word alone, then changes his mind.
        await reply(alice, "2\n\nI tried a weekly review. https://example.org/first")
        await reply(bob, "Monthly")
        await _settle(runtime, clock, rounds=1)
        await reply(bob, "option 1\n\nFirst part of my story.")
        await _settle(runtime, clock, rounds=1)
        # a second reply is appended; "edit" replaces the text and the links
        await reply(bob, "Second part, after the weekend.")
        await reply(alice, "Edit\nI tried a weekly review, and kept it. https://example.org/second")
        await _settle(runtime, clock, rounds=1)

        stories = list(await Story.filter(cohort_id="flow"))
        votes = {v.participant_id: v.option for v in await PollVote.filter(cohort_id="flow")}
        assert len(stories) == 2  # Bob's two replies are one story, Alice's edit no second one
        texts = sorted(s.text for s in stories)
        assert texts == ["First part of my story.\n\nSecond part, after the weekend.",
                         "I tried a weekly review, and kept it. https://example.org/second"]
        assert all(s.checkin_number == 1 for s in stories)
        assert sorted(s.replies for s in stories) == [2, 2]
        assert [r.url for r in await Resource.filter(cohort_id="flow")] == [
            "https://example.org/second"]
        assert sorted(votes.values()) == [1, 2] and len(votes) == 2

        # While it is open the tally is in the facilitator's copy only.
        await send_digest_now(runtime.cohort())
        await _settle(runtime, clock, rounds=1)
        facilitator = (await _of_kind(mailserver, people.facilitator, "digest"))[-1]
        assert "POLL, STILL OPEN" in _text(facilitator)
        assert "1. Weekly: 1 vote" in _text(facilitator)
        assert "2. Monthly: 1 vote" in _text(facilitator)
        bob_digest = (await _of_kind(mailserver, bob, "digest"))[-1]
        assert "POLL" not in _text(bob_digest) and "Weekly: 1 vote" not in _html(bob_digest)
        assert "First part of my story.\n\nSecond part" in _text(bob_digest)

        # After check-in 1 and the prompt of check-in 2 (the poll closed with it), Carol
        # answers check-in 1's prompt: her story counts for check-in 1, her vote not.
        clock.advance(timedelta(days=6, hours=1))
        await _settle(runtime, clock)
        assert len(await _of_kind(mailserver, carol, "prompt")) == 2
        first_prompt = next(m for m in await _of_kind(mailserver, carol, "prompt")
                            if "How should we continue" in _text(m))
        await send(mailserver, thunderbird_reply(carol, first_prompt, "3\n\nLate, but: I did it."),
                   str(first_prompt["Reply-To"]))
        await _settle(runtime, clock, rounds=1)
        late = await Story.get(cohort_id="flow", text="Late, but: I did it.")
        assert late.checkin_number == 1
        assert await PollVote.filter(cohort_id="flow").count() == 2
        status = await status_report(runtime.cohort())
        row = next(r for r in status.rows if r.email == carol)
        assert 1 in row.answered
        await send_digest_now(runtime.cohort())
        await _settle(runtime, clock, rounds=1)

    # Once closed, everyone's digest has the result (in the first digest after it closed).
    results = [m for m in await _of_kind(mailserver, carol, "digest") if "POLL RESULT" in _text(m)]
    assert len(results) == 1
    text = _text(results[0])
    assert "How should we continue after this round?" in text
    assert "1. Weekly: 1 vote" in text and "3. Not at all: 0 votes" in text
