"""Stories reach the digest only as their authors allow: consent, private, and the
last check-in's "another round"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path

import pytest
from cohort_kit import cohort_config, inbox, new_people, send, thunderbird_reply
from tortoise.transactions import in_transaction

from service.core.clock import ManualClock
from service.dev.devmail import DevMailServer
from service.flows.digest import build_and_queue_digest
from service.runtime.passes import run_once
from service.runtime.service import Runtime, opened
from service.store.models import Action

pytestmark = pytest.mark.integration


def text_of(message: Message) -> str:
    return str(message.get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]


async def digest_now(runtime: Runtime, tag: str) -> None:
    cohort = runtime.cohort()
    now = cohort.clock.now()
    async with in_transaction():
        await Action.create(key=f"digest:test:{tag}", cohort_id=cohort.id, kind="digest", done_at=now)
        await build_and_queue_digest(cohort, now, slot=now, force=True)
    await run_once(runtime)


async def test_consent_private_and_another_round(
    mailserver: DevMailServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    people = new_people(mailserver, monkeypatch)
    clock = ManualClock(datetime.now(UTC))
    config = cohort_config(tmp_path, mailserver, None,
                           people.cohort, [people.alice, people.bob], clock.now(),
                           cohort_extra="stories_need_consent = true", count=1)
    async with opened(config, clock) as runtime:
        await run_once(runtime)
        prompt = next(m for m in await inbox(mailserver, people.alice)
                      if m["X-Circleback-Kind"] == "prompt")
        # The only check-in is the last one: it offers another round; consent is asked.
        assert "another round" in text_of(prompt) and 'reply "share"' in text_of(prompt)
        reply_to = str(prompt["Reply-To"])
        send_as_alice = f"Alice <{people.alice}>"
        await send(mailserver, thunderbird_reply(send_as_alice, prompt,
                                                 "Kept a learning diary: https://example.org/diary"),
                   reply_to)
        await send(mailserver, thunderbird_reply(send_as_alice, prompt,
                                                 "private\nMy manager is making this hard. https://example.org/secret"),
                   reply_to)
        clock.advance(timedelta(minutes=5))
        await run_once(runtime)
        await digest_now(runtime, "1")
        first = [m for m in await inbox(mailserver, people.bob) if m["X-Circleback-Kind"] == "digest"]
        assert "learning diary" not in text_of(first[-1])  # no consent yet
        assert "example.org/secret" not in text_of(first[-1])

        await send(mailserver, thunderbird_reply(send_as_alice, prompt, "share"), reply_to)
        await send(mailserver, thunderbird_reply(send_as_alice, prompt, "another round"), reply_to)
        clock.advance(timedelta(minutes=5))
        await run_once(runtime)
        clock.advance(timedelta(minutes=5))
        await digest_now(runtime, "2")
        second = [m for m in await inbox(mailserver, people.bob) if m["X-Circleback-Kind"] == "digest"]
        text = text_of(second[-1])
        assert "learning diary" in text and "https://example.org/diary" in text
        assert "manager" not in text and "example.org/secret" not in text
        facilitator = [m for m in await inbox(mailserver, people.facilitator)
                       if m["X-Circleback-Kind"] == "digest"]
        assert len(facilitator) == 2
        alice, bob = (f"{a.split('@')[0].title()} Tester" for a in (people.alice, people.bob))
        first = " ".join(text_of(facilitator[0]).split())
        assert f"Private from {alice}: My manager is making this hard" in first
        assert f"Not yet agreed to share their stories: {alice} and {bob}" in first
        assert f"{alice} would like another round" in text_of(facilitator[1])
        assert f"Not yet agreed to share their stories: {bob}\r\n" in text_of(facilitator[1])
        acks = [text_of(m) for m in await inbox(mailserver, people.alice) if m["X-Circleback-Kind"] == "ack"]
        assert any("your stories will be in the circle's weekly digest" in a for a in acks)
        assert any("another round" in a for a in acks)
