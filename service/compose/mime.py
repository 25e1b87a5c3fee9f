"""Headers and MIME assembly for the mail circleback sends (pure, no I/O).

`service.compose` renders the words; this module turns them into an
`email.message.EmailMessage` whose headers and part layout the big clients
handle well. Everything here is built with `email.policy.SMTP` (CRLF line
endings, RFC 2047 encoding of non-ASCII header text).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

__all__ = [
    "Envelope",
    "attach_calendar",
    "mailbox",
    "new_message",
    "one_line",
    "set_bodies",
]

_POLICY = policy.SMTP

# Every character str.splitlines() breaks on, plus the other C0/C1 controls:
# email.policy refuses header values that splitlines() would split
# ("Header values may not contain linefeed or carriage return characters"),
# and NUL/ESC and friends have no business in a subject either.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_SPACES = re.compile(r"\s{2,}")
_MSGID = re.compile(r"^[^\s<>()\[\]\\,;:\"]+@[^\s<>()\[\]\\,;:\"]+$")
_ADDR = re.compile(r"^[^\s<>()\[\]\\,;:\"]+@[^\s<>()\[\]\\,;:\"@]+$")
_LIST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*\.[A-Za-z0-9.-]+$")
# RFC 5322 specials: without them a phrase is plain atoms, which may then be
# RFC 2047-encoded; encoded words inside a quoted string are never decoded.
_SPECIALS = re.compile(r'[()<>@,;:\\".\[\]]')


@dataclass(frozen=True)
class Envelope:
    """Identity and list headers of one outgoing message.

    `message_id` and `in_reply_to` are bare ids (``abc@example.org``); angle
    brackets are added here. `list_id` is the bare list identifier
    (``orlando-2015.circle.example.org``, RFC 2919).
    """

    message_id: str
    in_reply_to: str | None = None
    list_id: str | None = None
    unsubscribe_mailto: str | None = None  # "circle+TOKEN@example.org?subject=stop" or "mailto:..."
    unsubscribe_url: str | None = None  # https URL for RFC 8058 one-click


def one_line(text: str) -> str:
    """Text fit for a header: controls and line breaks become single spaces.

    This is what stops a name or subject such as ``"x\\r\\nBcc: evil@x"`` from
    adding a header; `email.policy` would also refuse it, but with an error.
    """
    return _SPACES.sub(" ", _CONTROL.sub(" ", text)).strip()


def _addr_spec(address: str) -> str:
    address = address.strip()
    if not _ADDR.match(address):
        raise ValueError(f"not a plain email address: {address!r}")
    return address


def mailbox(display_name: str, address: str) -> Address:
    """The `formataddr((display_name, address))` mailbox as a header object.

    An `Address` rather than a formatted string, so the policy quotes commas
    and encodes non-ASCII names itself instead of re-parsing formataddr's
    output (which splits a non-ASCII name containing a comma oddly).
    """
    local, _, domain = _addr_spec(address).rpartition("@")
    return Address(display_name=one_line(display_name), username=local, domain=domain)


def _msgid(value: str) -> str:
    bare = value.strip().removeprefix("<").removesuffix(">")
    if not _MSGID.match(bare):
        raise ValueError(f"not a usable Message-ID: {value!r}")
    return f"<{bare}>"


def _unsubscribe(envelope: Envelope) -> tuple[str | None, bool]:
    """The List-Unsubscribe value (RFC 2369) and whether one-click (RFC 8058) applies."""
    uris: list[str] = []
    one_click = False
    if envelope.unsubscribe_mailto:
        mailto = one_line(envelope.unsubscribe_mailto)
        if not mailto.lower().startswith("mailto:"):
            mailto = "mailto:" + mailto
        uris.append(mailto)
    if envelope.unsubscribe_url:
        url = one_line(envelope.unsubscribe_url)
        scheme = url.split(":", 1)[0].lower()
        if scheme not in ("http", "https") or " " in url:
            raise ValueError(f"unsubscribe_url must be an http(s) URL: {url!r}")
        uris.append(url)
        # RFC 8058 section 3.1: the one-click POST target must be HTTPS.
        one_click = scheme == "https"
    if not uris:
        return None, False
    if any(">" in uri or "<" in uri for uri in uris):
        raise ValueError(f"unsubscribe URI contains angle brackets: {uris!r}")
    return ", ".join(f"<{uri}>" for uri in uris), one_click


def new_message(
    *,
    sender: Address,
    to: Address,
    reply_to: str,
    subject: str,
    now: datetime,
    envelope: Envelope,
    list_name: str,
    bulk: bool,
    calendar: bool = False,
) -> EmailMessage:
    """An empty message carrying every header circleback sets.

    `bulk` marks the list-like mail (prompt, reminder, digest) with
    ``Precedence: list``. `calendar` is for invitations and cancellations:
    calendar clients must still be able to answer those, so only
    out-of-office and auto-replies are suppressed there.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    msg = EmailMessage(policy=_POLICY)
    msg["From"] = sender
    msg["To"] = to
    msg["Reply-To"] = _addr_spec(reply_to)
    msg["Subject"] = one_line(subject)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = _msgid(envelope.message_id)
    if envelope.in_reply_to:
        parent = _msgid(envelope.in_reply_to)
        msg["In-Reply-To"] = parent
        # Gmail threads on References, not In-Reply-To alone.
        msg["References"] = parent
    # RFC 3834: mark every message as automatic so that well-behaved
    # auto-responders stay quiet and our own inbound screen can spot loops.
    msg["Auto-Submitted"] = "auto-generated"
    # Exchange/Outlook ignore RFC 3834 and honour only this header. "All" would
    # also stop Outlook from sending meeting responses, so invitations keep
    # just OOF and AutoReply suppressed.
    msg["X-Auto-Response-Suppress"] = "OOF, AutoReply" if calendar else "All"
    if envelope.list_id:
        list_id = one_line(envelope.list_id).removeprefix("<").removesuffix(">")
        if not _LIST_ID.match(list_id):
            raise ValueError(f"not a usable List-Id: {envelope.list_id!r}")
        name = one_line(_SPECIALS.sub(" ", list_name))
        msg["List-Id"] = f"{name} <{list_id}>" if name else f"<{list_id}>"
    unsubscribe, one_click = _unsubscribe(envelope)
    if unsubscribe:
        msg["List-Unsubscribe"] = unsubscribe
        if one_click:
            msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if bulk:
        # Old vacation programs (and Exchange) still key on Precedence.
        msg["Precedence"] = "list"
    return msg


def _tidy(msg: EmailMessage) -> None:
    # add_alternative()/add_attachment() give every subpart its own
    # MIME-Version header; RFC 2045 wants it only at the top.
    for part in msg.walk():
        if part is not msg:
            del part["MIME-Version"]


def set_bodies(msg: EmailMessage, text: str, html: str) -> None:
    """multipart/alternative [text/plain, text/html].

    Quoted-printable rather than 8bit: policy.SMTP would pick 8bit for
    non-ASCII text, which a relay without 8BITMIME (RFC 6152) must refuse or
    mangle, and inline-CSS HTML easily passes the 998-octet line limit.
    """
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    _tidy(msg)


def attach_calendar(msg: EmailMessage, text: str, html: str, ics: bytes, method: str) -> None:
    """The layout Google Calendar and Thunderbird send for iMIP (RFC 6047):

    multipart/mixed [
        multipart/alternative [text/plain, text/html, text/calendar; method=M],
        application/ics; name="invite.ics" (attachment)
    ]

    text/calendar comes last in the alternative because RFC 2046 section 5.1.4
    makes the last part the preferred one: Gmail, Outlook and Apple Mail then
    show their Accept/Decline buttons. The application/ics copy is for clients
    that only offer attachments (some webmail and phone apps). Both are base64
    so the CRLF line endings RFC 5545 requires survive every relay.
    """
    method = method.upper()
    declared = _ics_method(ics)
    if declared != method:
        raise ValueError(f"method {method!r} does not match METHOD:{declared} in the ics body")
    set_bodies(msg, text, html)
    # Outlook only recognises a meeting request when the method parameter is
    # present and equal to METHOD in the body (RFC 6047 section 2.4).
    msg.add_alternative(ics, "text", "calendar", cte="base64", params={"method": method, "charset": "UTF-8"})
    msg.add_attachment(ics, "application", "ics", filename="invite.ics", params={"name": "invite.ics"})
    _tidy(msg)


def _ics_method(ics: bytes) -> str | None:
    for line in ics.splitlines():
        name, sep, value = line.partition(b":")
        if sep and name.strip().upper() == b"METHOD":
            return value.strip().decode("ascii", "replace").upper()
        if line.strip().upper() == b"BEGIN:VEVENT":
            break  # METHOD is a VCALENDAR property; it comes before any component
    return None
