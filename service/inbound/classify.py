"""Classify one inbound message: story, RSVP, command, auto-reply, bounce, stranger."""

from __future__ import annotations

import email.utils
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from service.calendar.itip import ItipMessage, parse_itip
from service.inbound.autoreply import automatic_reason
from service.inbound.bounce import Bounce, parse_bounce
from service.inbound.controls import Control, parse_control
from service.inbound.links import Link, extract_links
from service.inbound.parse import Attachment, MalformedMessage, ParsedMessage, parse_message
from service.inbound.trim import Trimmed, split_html_reply, trim_html_reply, trim_reply

__all__ = ["Classification", "ClassifyContext", "Kind", "Story", "classify", "story_of", "to_json"]

Kind = Literal["story", "rsvp", "counter", "auto_reply", "bounce", "unknown_sender", "command", "invalid"]
_TOKEN_HEADERS = ("to", "cc", "delivered-to", "x-original-to", "envelope-to")
_NO_CONFIG = "parsed without a config: sender not authenticated"


@dataclass(frozen=True)
class Story:
    """What the participant wrote, trimmed, with the links and files they shared."""

    text: str
    cut: str
    links: tuple[Link, ...]
    attachments: tuple[Attachment, ...]


@dataclass(frozen=True)
class ClassifyContext:
    """What classification needs to know about the cohort."""

    own_address: str  # e.g. "circle@example.org"; replies go to circle+TOKEN@example.org
    participant_for_token: Callable[[str], str | None]  # None when the token is not valid
    sent_message_ids: Mapping[str, str]  # Message-ID (no <>) of mail we sent -> participant
    participant_emails: Collection[str]  # lower case
    today: date
    max_attachment_bytes: int = 10 * 1024 * 1024  # larger attachments are noted, not kept
    # A +1 token -> (the participant it was made for, the story); None when not valid.
    reaction_for_token: Callable[[str], tuple[str, int] | None] = lambda _token: None


@dataclass(frozen=True)
class Classification:
    """The verdict on one message, with what it yields."""

    kind: Kind
    participant: str | None
    reason: str
    story: Story | None = None
    rsvp: ItipMessage | None = None
    control: Control | None = None
    bounce: Bounce | None = None
    token: str | None = None
    reaction: int | None = None  # the story a +1 is for (kind "command", control "react")


def classify(raw: bytes, ctx: ClassifyContext | None) -> tuple[ParsedMessage | None, Classification]:
    """Classify raw message bytes. Never raises; unreadable input is kind "invalid".

    Order: invalid, bounce, auto_reply, rsvp/counter, then authentication (reply token,
    else In-Reply-To/References to mail we sent), then command or story. Without a
    context (parse-only mode) nothing is authenticated.
    """
    try:
        msg = parse_message(raw, max_attachment_bytes=ctx.max_attachment_bytes if ctx else 0)
    except MalformedMessage as exc:
        return None, Classification("invalid", None, f"unreadable message: {exc}")
    if not msg.from_addr:
        # Not mail a person or a mail system wrote: no one to credit, no one to answer.
        return msg, Classification("invalid", None, "the message has no sender address (From:)")
    try:
        return msg, _classify(raw, msg, ctx)
    except Exception as exc:  # a bug in a rule must not stop the mailbox; keep the message
        return msg, Classification("invalid", None, f"classification failed: {exc!r}")


def _classify(raw: bytes, msg: ParsedMessage, ctx: ClassifyContext | None) -> Classification:
    known = {e.lower() for e in ctx.participant_emails} if ctx else set()
    bounce = parse_bounce(raw, msg)
    if bounce is not None:
        participant = _bounced_participant(raw, msg, bounce, ctx, known)
        what = "hard" if bounce.hard else "soft"
        reason = f"{what} bounce for {bounce.recipient or 'an unknown recipient'}"
        reason += f" ({bounce.status})" if bounce.status else ""
        return Classification("bounce", participant, reason, bounce=bounce)

    itip = _calendar_reply(msg)
    # An iTIP REPLY/COUNTER is recorded, never answered, so the automatic-mail rules (RFC
    # 3834) do not hold it back: CalDAV servers send it from a relay such as Nextcloud's
    # mail_from_address, often "noreply@...".
    why = automatic_reason(msg, (ctx.own_address,) if ctx else ()) if itip is None else None
    if why is not None:
        participant = msg.from_addr if msg.from_addr in known else None
        return Classification("auto_reply", participant, f"automatic: {why}")

    participant, token, auth_reason = _authenticate(msg, ctx)
    if itip is not None:
        kind: Kind = "counter" if itip.method == "COUNTER" else "rsvp"
        if ctx is None:
            return Classification(kind, None, _NO_CONFIG, rsvp=itip)
        if participant is None:
            participant, token, auth_reason = _relayed(msg, ctx) or (participant, token, auth_reason)
        if participant is None:
            return Classification("unknown_sender", None, auth_reason, rsvp=itip, token=token)
        if (itip.attendee_email or "").lower() != participant:
            reason = f"the calendar reply is for {itip.attendee_email}, not for {participant}"
            return Classification("unknown_sender", None, reason, rsvp=itip, token=token)
        reason = f"calendar {itip.method} from the participant; {auth_reason}"
        return Classification(kind, participant, reason, rsvp=itip, token=token)

    plus_one = _reaction(msg, ctx) if ctx is not None else None
    if plus_one is not None:
        return plus_one
    if ctx is not None and participant is None:
        return Classification("unknown_sender", None, auth_reason, token=token)

    story = story_of(msg)
    today = ctx.today if ctx else (msg.date.date() if msg.date else date.today())
    # An RFC 2369 List-Unsubscribe mailto ("circle+TOKEN@...?subject=stop") arrives with
    # the control word in the subject and an empty body.
    subject = re.sub(r"^(?:\s*(?:re|aw|sv|vs|antw|r|rif)\s*:)+", "", msg.subject, flags=re.I)
    subject_control = parse_control(subject, today) if not story.text else None
    if not story.text and subject_control is None:
        return Classification("invalid", participant, "empty reply", story=story, token=token)
    control = subject_control or parse_control(story.text, today)
    reason = auth_reason if ctx else _NO_CONFIG
    if control is not None:
        return Classification(
            "command",
            participant,
            f"control word {control.word!r}; {reason}",
            story=story,
            control=control,
            token=token,
        )
    return Classification("story", participant, reason, story=story, token=token)


def story_of(msg: ParsedMessage) -> Story:
    """Trim the plain text part, or the HTML when there is no usable plain text."""
    html_used: str | None = None
    trimmed = trim_reply(msg.text) if msg.has_plain else Trimmed("", "")
    if not trimmed.text and msg.html:
        trimmed = trim_html_reply(msg.html)
        html_used = split_html_reply(msg.html)[0]
    links = extract_links(trimmed.text, html_used)
    return Story(trimmed.text, trimmed.cut, tuple(links), msg.attachments)


def _calendar_reply(msg: ParsedMessage) -> ItipMessage | None:
    """The first calendar part whose METHOD is REPLY or COUNTER (RFC 5546 section 3.2)."""
    for i, data in enumerate(msg.calendar_parts):
        declared = msg.calendar_methods[i] if i < len(msg.calendar_methods) else ""
        if not declared:
            m = re.search(rb"(?im)^METHOD\s*:\s*([A-Z-]+)", data)
            declared = m.group(1).decode("ascii").upper() if m else ""
        if declared not in ("REPLY", "COUNTER"):
            continue
        try:
            itip = parse_itip(data)
        except Exception:  # a broken calendar must not break classification
            itip = None
        if itip is not None:
            return itip
    return None


def _authenticate(msg: ParsedMessage, ctx: ClassifyContext | None) -> tuple[str | None, str | None, str]:
    """(participant, token, reason). The participant is None when not authenticated.

    The reply token wins; In-Reply-To/References is the fallback only when no recipient
    carries a valid token (the Discourse/GitLab rule: the sender must match either way).
    """
    if ctx is None:
        return None, None, _NO_CONFIG
    sender = msg.from_addr
    owners = [(t, ctx.participant_for_token(t)) for t in _tokens(msg, ctx.own_address)]
    valid = [(t, o.lower()) for t, o in owners if o]
    for token, owner in valid:
        if owner == sender:
            return owner, token, "authenticated by reply token"
    if valid:
        reason = f"the sender {sender or '(none)'} does not match the reply token's participant"
        return None, valid[0][0], reason
    referenced = [
        o.lower() for i in (*msg.in_reply_to, *msg.references) if (o := ctx.sent_message_ids.get(i))
    ]
    if sender and sender in referenced:
        return sender, None, "authenticated by In-Reply-To/References"
    first_token = owners[0][0] if owners else None
    if referenced:
        reason = f"the sender {sender or '(none)'} does not match the participant we wrote to"
    elif owners:
        reason = "the reply token is not valid"
    else:
        reason = "no reply token in the recipients and no In-Reply-To/References to our mail"
    return None, first_token, reason


def _reaction(msg: ParsedMessage, ctx: ClassifyContext) -> Classification | None:
    """A message to a story's +1 address: a +1 from the participant the address was made
    for (whatever the message says: nothing of it is published), else unknown_sender."""
    for token in _tokens(msg, ctx.own_address):
        found = ctx.reaction_for_token(token)
        if found is None:
            continue
        owner, story_id = found[0].lower(), found[1]
        if owner != msg.from_addr:
            reason = f"the sender {msg.from_addr or '(none)'} does not match the +1 address's participant"
            return Classification("unknown_sender", None, reason, token=token)
        return Classification("command", owner, "a +1 for a story; authenticated by its +1 address",
                              control=Control("react", None, None), token=token, reaction=story_id)
    return None


def _relayed(msg: ParsedMessage, ctx: ClassifyContext) -> tuple[str, str, str] | None:
    """(participant, token, reason) for a calendar reply a CalDAV server sent for the
    participant, else None.

    Nextcloud's IMipPlugin mails the REPLY From its own address with the attendee in
    Reply-To. The token must still be that participant's; Reply-To is no easier to forge
    than From, and the caller still requires the ATTENDEE to be the participant.
    """
    pairs = email.utils.getaddresses(msg.header_all("reply-to"))
    reply_to = {address.strip().strip("<>").lower() for _, address in pairs}
    for token in _tokens(msg, ctx.own_address):
        owner = (ctx.participant_for_token(token) or "").lower()
        if owner and owner in reply_to:
            return owner, token, "authenticated by reply token (Reply-To: sent by a calendar server)"
    return None


def _tokens(msg: ParsedMessage, own_address: str) -> list[str]:
    """Tokens from recipients LOCAL+TOKEN@DOMAIN matching our address (case kept)."""
    own_local, _, own_domain = own_address.lower().partition("@")
    own_local = own_local.split("+", 1)[0]
    values = [v for name, v in msg.headers if name.lower() in _TOKEN_HEADERS]
    tokens: list[str] = []
    for _, address in email.utils.getaddresses(values):
        local, _, domain = address.strip().strip("<>").rpartition("@")
        base, plus, token = local.partition("+")
        if plus and token and base.lower() == own_local and domain.lower() == own_domain:
            if token not in tokens:
                tokens.append(token)
    return tokens


_RETURNED_ID = re.compile(rb"(?im)^Message-ID\s*:\s*<([^<>\s]+)>")


def _bounced_participant(
    raw: bytes, msg: ParsedMessage, bounce: Bounce, ctx: ClassifyContext | None, known: set[str]
) -> str | None:
    """The participant whose address bounced: the recipient, else our returned Message-ID."""
    if ctx is None:
        return None
    if bounce.recipient and bounce.recipient in known:
        return bounce.recipient
    ids = [*msg.in_reply_to, *msg.references]
    ids += [m.decode("ascii", "replace") for m in _RETURNED_ID.findall(raw[:2_000_000])]
    for message_id in ids:
        owner = ctx.sent_message_ids.get(message_id)
        if owner is not None:
            return owner.lower()
    return None


def to_json(c: Classification) -> dict[str, Any]:
    """The `circleback inspect --json` object (the contract in design.md)."""
    out: dict[str, Any] = {
        "kind": c.kind,
        "participant": c.participant,
        "story": None,
        "rsvp": None,
        "reason": c.reason,
    }
    if c.story is not None:
        out["story"] = {
            "text": c.story.text,
            "links": [{"url": link.url, "title": link.title} for link in c.story.links],
            "cut": c.story.cut,
            "attachments": [
                {"filename": a.filename, "content_type": a.content_type, "size": a.size}
                for a in c.story.attachments
            ],
        }
    if c.rsvp is not None:
        out["rsvp"] = {
            "uid": c.rsvp.uid,
            "partstat": c.rsvp.partstat,
            "recurrence_id": c.rsvp.recurrence_id.isoformat() if c.rsvp.recurrence_id else None,
            "method": c.rsvp.method,
            "attendee": c.rsvp.attendee_email,
        }
        if c.rsvp.proposed_start is not None:
            out["rsvp"]["proposed_start"] = c.rsvp.proposed_start.isoformat()
    if c.control is not None:
        out["control"] = {
            "word": c.control.word,
            "until": c.control.until.isoformat() if c.control.until else None,
            "duration_days": c.control.duration_days,
        }
    if c.reaction is not None:
        out["reaction"] = {"story": c.reaction}
    if c.bounce is not None:
        out["bounce"] = {
            "recipient": c.bounce.recipient,
            "status": c.bounce.status,
            "hard": c.bounce.hard,
            "diagnostic": c.bounce.diagnostic,
        }
    return out
