"""Shared pieces of the cohort-level integration tests: a cohort on the session's mail
server with fresh accounts, and participants' messages as their clients write them."""

from __future__ import annotations

import asyncio
import email
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage, Message
from email.policy import default as default_policy
from email.utils import format_datetime, make_msgid
from pathlib import Path

import icalendar
import pytest

from service.config import Config, load_config
from service.dev.devmail import DevMailServer
from service.mail.imap import Mailbox
from service.mail.smtp import SmtpSender
from service.runtime.passes import RunReport, mailbox_client, mailbox_pass
from service.runtime.service import Runtime

PASSWORD = "secret"


def cohort_config(tmp: Path, mail: DevMailServer, db_url: str | None, cohort: str,
                  people: list[str], start: datetime, *, first_in: timedelta = timedelta(days=1),
                  checkins_extra: str = "", duration: str = "45m", cohort_extra: str = "",
                  count: int = 3, message_gap: str = "0m") -> Config:
    """A cohort in UTC (participants in Europe/Berlin) on the session's mail server;
    ``db_url`` None: a SQLite file in ``tmp``. ``message_gap`` is none by default, so a
    test sees a pass's invitations and prompts at once; test_cohort_flow keeps the real
    default and waits it out."""
    db_url = db_url or f"sqlite://{tmp / 'cb.sqlite3'}"
    first = (start + first_in).astimezone(UTC).replace(tzinfo=None, microsecond=0)
    parts = "".join(f'[[participants]]\nname = "{p.split("@")[0].title()} Tester"\n'
                    f'email = "{p}"\ntimezone = "Europe/Berlin"\n' for p in people)
    text = f"""
[cohort]
id = "flow"
name = "Flow cohort"
timezone = "UTC"
{cohort_extra}
[facilitator]
name = "Helen"
email = "helen-{cohort.split('@')[0]}@example.test"
[mail]
address = "{cohort}"
display_name = "Flow circle"
message_gap = "{message_gap}"
[checkins]
first = {first:%Y-%m-%dT%H:%M:%S}
every = "1w"
count = {count}
duration = "{duration}"
location = "https://meet.example.org/flow"
prompt_before = "2d"
{checkins_extra}
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



@dataclass(frozen=True)
class People:
    tag: str
    cohort: str
    alice: str
    bob: str
    facilitator: str


def new_people(mail: DevMailServer, monkeypatch: pytest.MonkeyPatch | None = None) -> People:
    """Fresh accounts for one test: the cohort mailbox, two participants, the facilitator
    (and, given ``monkeypatch``, the password variable cohort_config names)."""
    if monkeypatch is not None:
        monkeypatch.setenv("CB_FLOW_PASSWORD", PASSWORD)
    tag = uuid.uuid4().hex[:8]
    people = People(tag, f"circle-{tag}@cohort.test", f"alice-{tag}@example.test",
                    f"bob-{tag}@example.test", f"helen-circle-{tag}@example.test")
    for user in (people.cohort, people.alice, people.bob, people.facilitator):
        mail.add_user(user, PASSWORD)
    return people


async def connected(runtime: Runtime) -> None:
    """circleback's first connection to each mailbox of ``runtime`` (one mailbox pass, no
    mail sent): from then on what arrives is read. Mail delivered before it is left alone,
    so a test that delivers before any run calls this first."""
    for watch in runtime.mailboxes():
        box = mailbox_client(watch.imap)
        await box.connect()
        try:
            await mailbox_pass(runtime, watch, box, RunReport())
        finally:
            await box.close()


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 30.0) -> None:
    """Wait until ``check()`` is true (a daemon doing its work), at most ``seconds``."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the daemon did not get there in time")
        await asyncio.sleep(0.2)


def closed_port() -> int:
    """A loopback port where nothing listens (for a server that is down)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
