"""The facilitator's copy of the digest tells what circleback promised it would: skips,
pauses, stops, addresses refused for good, bounces, strangers and declines with their
comments (escaped); the participants' copies tell none of it. On the real servers and
both databases."""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import pytest
from away_kit import COMMENT, new_week, play_first_week
from cohort_kit import cohort_config, inbox, new_people, send, thunderbird_reply
from tortoise.transactions import in_transaction

from service.compose.localtime import long_day
from service.core.clock import ManualClock
from service.dev.devmail import DevMailServer
from service.flows.digest import build_and_queue_digest
from service.runtime.passes import run_once
from service.runtime.service import opened
from service.store.models import Action, OutboxMessage, Participant

pytestmark = pytest.mark.integration


def _part(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert isinstance(part, EmailMessage)
    return str(part.get_content())


def text_of(message: EmailMessage) -> str:
    return _part(message, "plain")


def html_of(message: EmailMessage) -> str:
    return _part(message, "html")


def _parsed(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=default_policy)
    assert isinstance(message, EmailMessage)
    return message


async def _queued_digests(cohort_id: str, since: datetime) -> dict[str, EmailMessage]:
    """rcpt -> the digest copy queued at or after ``since``, as it goes out."""
    rows = await OutboxMessage.filter(cohort_id=cohort_id, kind="digest", created_at__gte=since)
    return {row.rcpt: _parsed(bytes(row.raw_message)) for row in rows}


async def test_the_facilitators_copy_names_each_and_the_participants_do_not(
        mailserver: DevMailServer, tmp_path: Path, db_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    week = await new_week(mailserver, tmp_path, db_url, monkeypatch)
    async with opened(week.config, week.clock) as runtime:
        await play_first_week(week, runtime, mailserver)
        cohort = runtime.cohort()
        now = week.clock.now()
        async with in_transaction():
            await Action.create(key="digest:test", cohort_id=cohort.id, kind="digest", done_at=now)
            await build_and_queue_digest(cohort, now, slot=now, force=True)
        copies = await _queued_digests(cohort.id, now)
        until = (await Participant.get(cohort_id=cohort.id, email=week.dana)).paused_until
    assert until is not None
    facilitator = copies.pop(week.people.facilitator)
    text, html = text_of(facilitator), html_of(facilitator)
    for body in (text, html.replace("&lt;", "<").replace("&gt;", ">").replace("&#34;", '"')):
        part = body[body.index("For you only" if body is not text else "FOR YOU ONLY"):]
        assert f"Gone quiet: {week.name(week.bob)} and {week.name(week.carol)}." in part.replace(
            "<strong>", "").replace("</strong>", "")
        assert f"{week.name(week.bob)} <{week.bob}> (hard bounce, no longer mailed)" in part
        assert f"{week.name(week.carol)} <{week.carol}>. Nothing sent there arrives" in part
        assert "seller@elsewhere.test (“Buy my course”)" in part
        assert f"{week.name(week.erin)} declined: “{COMMENT}”" in part
        assert f"{week.name(week.erin)} replied" in part and "for check-in 1" in part
        assert (f"{week.name(week.dana)} paused: no prompts or digests until "
                f"{long_day(until.date())}") in part
        assert f"{week.name(week.frank)} stopped" in part
    # The comment is the participant's words: escaped in the HTML part, never markup.
    assert "&lt;b&gt;sorry&lt;/b&gt;" in html and "<b>sorry</b>" not in html

    # Everyone still mailed gets a copy (not Bob, not Carol, whose address the server
    # refused, so nothing more is queued for her; not Dana while paused, not Frank), and
    # none of them says any of it.
    assert set(copies) == {week.alice, week.erin}
    secrets = [week.name(w) for w in (week.bob, week.carol, week.dana, week.frank)] + [
        week.bob, week.dana, week.frank, "seller@elsewhere.test", "Travelling that week",
        "For you only", "FOR YOU ONLY", "Refused for good", "Gone quiet", "replied “skip”",
        'replied "skip"']
    for who, copy in copies.items():
        for body in (text_of(copy), html_of(copy)):
            for secret in secrets:
                if secret == week.name(week.carol) and who == week.carol:
                    continue  # her own copy may greet her
                assert secret not in body, (who, secret)


async def test_a_week_with_no_story_still_tells_the_facilitator_what_was_promised(
        mailserver: DevMailServer, tmp_path: Path, db_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """"I'll let the facilitator know you'd like another round" must come true even when
    nobody shared a story that week: the facilitator's copy goes out alone."""
    people = new_people(mailserver, monkeypatch)
    clock = ManualClock(datetime.now(UTC))
    config = cohort_config(tmp_path, mailserver, db_url, people.cohort, [people.alice, people.bob],
                           clock.now(), count=1)
    async with opened(config, clock) as runtime:
        await run_once(runtime)
        prompt = [m for m in await inbox(mailserver, people.alice)
                  if m["X-Circleback-Kind"] == "prompt"][-1]
        await send(mailserver, thunderbird_reply(f"Alice <{people.alice}>", prompt, "another round"),
                   str(prompt["Reply-To"]))
        clock.advance(timedelta(minutes=5))
        await run_once(runtime)
        ack = [m for m in await inbox(mailserver, people.alice) if m["X-Circleback-Kind"] == "ack"]
        assert "let the facilitator know" in text_of(_parsed(ack[-1].as_bytes()))
        cohort = runtime.cohort()
        for n in (1, 2):
            clock.advance(timedelta(days=7))
            now = clock.now()
            async with in_transaction():
                await Action.create(key=f"digest:test:{n}", cohort_id=cohort.id, kind="digest",
                                    done_at=now)
                queued = await build_and_queue_digest(cohort, now, slot=now)
            copies = await _queued_digests(cohort.id, now)
            if n == 1:  # the wish: to the facilitator only, the participants get nothing
                assert queued == 1 and set(copies) == {people.facilitator}
                text = text_of(copies[people.facilitator])
                assert "would like another round" in text and "quiet week" in text
                assert "reply to this email" not in text.lower()  # not asked for a story
            else:  # nothing new since: nobody is mailed
                assert queued == 0 and copies == {}
