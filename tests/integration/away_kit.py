"""A first week of six participants, each doing one thing the facilitator must hear of,
on the real mail servers: Alice shares a story; Bob's mail bounces; the SMTP server
refuses Carol's address for good (she has no account there); Dana replies "pause 2w";
Erin replies "skip" and declines the series with a comment; Frank replies "stop"; and a
stranger writes to the plain cohort address."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage, Message
from email.utils import make_msgid
from pathlib import Path

import pytest
from cohort_kit import (
    PASSWORD,
    People,
    calendar_reply,
    cohort_config,
    inbox,
    new_people,
    send,
    thunderbird_reply,
)

from service.config import Config
from service.core.clock import ManualClock
from service.dev.devmail import DevMailServer
from service.runtime.passes import run_once
from service.runtime.service import Runtime

DSN = Path(__file__).parent.parent / "fixtures" / "mail" / "postfix_bounce_dsn.eml"
COMMENT = "Travelling that week <b>sorry</b>"


@dataclass(frozen=True)
class Week:
    people: People
    carol: str
    dana: str
    erin: str
    frank: str
    config: Config
    clock: ManualClock

    @property
    def alice(self) -> str:
        return self.people.alice

    @property
    def bob(self) -> str:
        return self.people.bob

    def name(self, address: str) -> str:
        """The name cohort_config gives a participant."""
        return f"{address.split('@')[0].title()} Tester"


async def new_week(mail: DevMailServer, tmp: Path, db_url: str | None,
                   monkeypatch: pytest.MonkeyPatch) -> Week:
    people = new_people(mail, monkeypatch)
    carol, dana, erin, frank = (f"{n}-{people.tag}@example.test"
                                for n in ("carol", "dana", "erin", "frank"))
    for user in (dana, erin, frank):  # Carol has no account: RCPT gets 550 5.1.1
        await mail.create_user(user, PASSWORD)
    clock = ManualClock(datetime.now(UTC))
    config = cohort_config(tmp, mail, db_url, people.cohort,
                           [people.alice, people.bob, carol, dana, erin, frank], clock.now())
    return Week(people, carol, dana, erin, frank, config, clock)


async def _latest(mail: DevMailServer, user: str, kind: str) -> Message:
    return [m for m in await inbox(mail, user) if m["X-Circleback-Kind"] == kind][-1]


def _bounce_of(prompt: Message, address: str) -> bytes:
    """A real Postfix DSN for ``address``, returning circleback's own prompt (so that it is
    recognised as a bounce of our mail, even in a shared mailbox)."""
    message_id = str(prompt["Message-ID"]).strip().strip("<>")
    return (DSN.read_bytes().replace(b"frank@example.net", address.encode())
            .replace(b"checkin-3.frank@circle.example.org", message_id.encode()))


def _decline_with_comment(frm: str, invite: Message, comment: str) -> EmailMessage:
    msg = calendar_reply(frm, invite, "DECLINED")
    body = str(msg.get_content()).replace("ORGANIZER", f"COMMENT:{comment}\r\nORGANIZER", 1)
    msg.set_content(body, subtype="calendar")
    return msg


def _stranger(to: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Seller <seller@elsewhere.test>"
    msg["To"] = to
    msg["Subject"] = "Buy my course"
    msg["Message-ID"] = make_msgid(domain="elsewhere.test")
    msg.set_content("Limited offer.\n")
    return msg


async def play_first_week(week: Week, runtime: Runtime, mail: DevMailServer) -> None:
    """Invitations and prompts go out; everyone answers in their own way; then the clock
    moves past check-in 1 (nothing more is run: the test looks at what is there)."""
    await run_once(runtime)
    prompts = {who: await _latest(mail, who, "prompt")
               for who in (week.alice, week.bob, week.dana, week.erin, week.frank)}

    async def reply(who: str, text: str) -> None:
        prompt = prompts[who]
        await send(mail, thunderbird_reply(f"{week.name(who)} <{who}>", prompt, text),
                   str(prompt["Reply-To"]))

    await reply(week.alice, "Tried the two-minute rule every morning. https://example.org/habits")
    await reply(week.dana, "pause 2w")
    await reply(week.erin, "skip")
    await reply(week.frank, "stop")
    invite = await _latest(mail, week.erin, "invite")
    await send(mail, _decline_with_comment(week.erin, invite, COMMENT), week.people.cohort)
    await mail.deliver_async(_bounce_of(prompts[week.bob], week.bob), week.people.cohort,
                             mail_from="")
    await send(mail, _stranger(week.people.cohort), week.people.cohort)
    week.clock.advance(timedelta(minutes=5))
    await run_once(runtime)
    week.clock.advance(timedelta(days=1, hours=1))  # check-in 1 took place
