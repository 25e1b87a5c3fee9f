"""Simulated participants for ``circleback demo``: each reads their own mailbox over IMAP
and answers the way a person with a real mail client would (an RSVP from the calendar,
a reply with the quoted prompt below it, a control word, an out-of-office)."""

from __future__ import annotations

import email
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage, Message
from email.policy import default as default_policy
from email.utils import format_datetime, make_msgid, parseaddr

import icalendar

from service.mail.imap import Mailbox
from service.mail.smtp import SmtpSender

log = logging.getLogger("circleback.demo")


@dataclass
class Persona:
    """How one simulated participant behaves."""

    name: str
    email: str
    rsvp: str  # ACCEPTED | DECLINED | TENTATIVE
    stories: dict[int, str]  # check-in number -> what they write back
    rsvp_comment: str | None = None
    out_of_office: bool = False
    seen_uid: int = 0
    inbox: list[Message] = field(default_factory=list)

    @property
    def first_name(self) -> str:
        return self.name.split()[0]


def _text_of(message: Message) -> str:
    assert isinstance(message, EmailMessage)
    body = message.get_body(preferencelist=("plain",))
    return str(body.get_content()) if body is not None else ""


def _calendar_of(message: Message) -> icalendar.Calendar | None:
    for part in message.walk():
        if part.get_content_type() == "text/calendar":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                return icalendar.Calendar.from_ical(payload)
    return None


def rsvp_reply(persona: Persona, invite: Message, now: datetime) -> EmailMessage | None:
    """What Apple Calendar or Thunderbird send when the participant clicks Accept/Decline."""
    cal = _calendar_of(invite)
    if cal is None or str(cal.get("METHOD", "")).upper() != "REQUEST":
        return None
    event = next(c for c in cal.walk("VEVENT"))
    organizer = str(event.get("ORGANIZER")).removeprefix("mailto:").removeprefix("MAILTO:")
    reply = icalendar.Calendar()
    reply.add("prodid", "-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN")
    reply.add("version", "2.0")
    reply.add("method", "REPLY")
    ev = icalendar.Event()
    ev.add("uid", str(event.get("UID")))
    ev.add("dtstamp", now)
    ev.add("sequence", int(event.get("SEQUENCE", 0)))
    ev["dtstart"] = event["DTSTART"]
    ev.add("summary", str(event.get("SUMMARY")))
    ev["organizer"] = event["ORGANIZER"]
    attendee = icalendar.vCalAddress(f"mailto:{persona.email}")
    attendee.params["CN"] = persona.name
    attendee.params["PARTSTAT"] = persona.rsvp
    ev.add("attendee", attendee)
    if persona.rsvp_comment:
        ev.add("comment", persona.rsvp_comment)
    reply.add_component(ev)
    word = {"ACCEPTED": "Accepted", "DECLINED": "Declined", "TENTATIVE": "Tentative"}[persona.rsvp]
    msg = EmailMessage()
    msg["From"] = f"{persona.name} <{persona.email}>"
    msg["To"] = organizer
    msg["Subject"] = f"{word}: {event.get('SUMMARY')}"
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid(domain=persona.email.split("@")[1])
    msg.set_content(f"{persona.name} has {word.lower()} your event invitation.")
    msg.add_alternative(reply.to_ical(), maintype="text", subtype="calendar",
                        params={"method": "REPLY"})
    return msg


def story_reply(persona: Persona, prompt: Message, text: str, now: datetime) -> EmailMessage:
    """A reply as Gmail writes it: new text on top, then "On ... wrote:" and the quote."""
    reply_to = parseaddr(str(prompt.get("Reply-To") or prompt.get("From")))[1]
    sender_name, sender_addr = parseaddr(str(prompt.get("From")))
    quoted = "\n".join(f"> {line}" if line else ">" for line in _text_of(prompt).splitlines())
    when = email.utils.parsedate_to_datetime(str(prompt["Date"]))
    header = f"On {when:%a, %d %b %Y at %H:%M}, {sender_name} <{sender_addr}> wrote:"
    msg = EmailMessage()
    msg["From"] = f"{persona.name} <{persona.email}>"
    msg["To"] = reply_to
    msg["Subject"] = f"Re: {prompt['Subject']}"
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid(domain=persona.email.split("@")[1])
    msg["In-Reply-To"] = str(prompt["Message-ID"])
    msg["References"] = str(prompt["Message-ID"])
    msg.set_content(f"{text}\n\n{header}\n\n{quoted}\n")
    return msg


def out_of_office(persona: Persona, prompt: Message, now: datetime) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"{persona.name} <{persona.email}>"
    msg["To"] = parseaddr(str(prompt.get("Reply-To") or prompt.get("From")))[1]
    msg["Subject"] = f"Automatic reply: {prompt['Subject']}"
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid(domain=persona.email.split("@")[1])
    msg["Auto-Submitted"] = "auto-replied"
    msg.set_content("I am away until next month with limited access to email.")
    return msg


async def act(persona: Persona, mailbox: Mailbox, sender: SmtpSender,
              now: Callable[[], datetime]) -> list[str]:
    """Read new mail in the persona's inbox and answer it. Returns what they did, in words."""
    await mailbox.select("INBOX")
    did: list[str] = []
    for uid, raw in await mailbox.fetch(await mailbox.uids_after(persona.seen_uid)):
        persona.seen_uid = max(persona.seen_uid, uid)
        message = email.message_from_bytes(raw, policy=default_policy)
        persona.inbox.append(message)
        kind = str(message.get("X-Circleback-Kind", ""))
        answer: EmailMessage | None = None
        if kind == "invite":
            answer = rsvp_reply(persona, message, now())
            if answer is not None:
                did.append(f"{persona.first_name} clicked “{persona.rsvp.title()}” in the calendar")
        elif kind in ("prompt", "reminder"):
            if persona.out_of_office:
                answer = out_of_office(persona, message, now())
                did.append(f"{persona.first_name}'s mail client sent an out-of-office reply")
            else:
                number = _checkin_number(message)
                text = persona.stories.pop(number, None) if number else None
                if text:
                    answer = story_reply(persona, message, text, now())
                    first = text.splitlines()[0]
                    did.append(f"{persona.first_name} replied to check-in {number}: “{first[:60]}”")
        if answer is not None:
            await sender.send(answer.as_bytes(), persona.email,
                              [parseaddr(str(answer["To"]))[1]])
    return did


def _checkin_number(message: Message) -> int | None:
    value = str(message.get("X-Circleback-Checkin", "")).strip()
    return int(value) if value.isdigit() else None
