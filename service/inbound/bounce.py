"""Recognise delivery failures: RFC 3464 reports and the common non-standard bounces."""

from __future__ import annotations

import re
from dataclasses import dataclass

from service.inbound.parse import ParsedMessage

__all__ = ["Bounce", "parse_bounce"]

_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_SMTP_CODE = re.compile(r"(?:^|[\s:(])([45]\d\d)[ -]")
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
_BOUNCE_SENDER = re.compile(r"^(?:mailer-daemon|postmaster|mail-daemon|mailerdaemon)\b", re.I)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver(?:ed|able)|returned mail|delivery status notification|mail delivery failed"
    r"|delivery (?:has )?failed|failure notice|delivery failure|nicht zustellbar"
    r"|unzustellbar|non remis|non distribuibile|no se puede entregar|não entregue",
    re.IGNORECASE,
)
_BOUNCE_BODY = re.compile(
    r"This is the qmail-send program|This message was created automatically by mail delivery"
    r"|could not be delivered to one or more|This is the mail system at host"
    r"|(?:wasn't|was not) delivered to|Delivery to the following recipient"
    r"|Address not found|The following addresses? had permanent fatal errors",
    re.IGNORECASE,
)
_SOFT_WORDS = re.compile(
    r"\bdelay(?:ed)?\b|will (?:retry|keep trying)|temporar(?:y|ily)|still trying|"
    r"not yet been delivered",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Bounce:
    """Who did not get a message we sent, and whether that is permanent (hard)."""

    recipient: str | None
    status: str | None  # RFC 3463 enhanced status code, e.g. "5.1.1"
    hard: bool
    diagnostic: str


def parse_bounce(raw: bytes, msg: ParsedMessage) -> Bounce | None:
    """The delivery failure `msg` reports, or None when it is not a bounce.

    Success and relay notifications (Action: delivered/relayed/expanded) are not bounces.
    """
    status_text = msg.delivery_status
    if status_text is None and re.search(rb"(?im)^final-recipient\s*:", raw):
        # Some MTAs send the report fields as text/plain instead of message/delivery-status.
        status_text = raw.decode("latin-1")
    if status_text is not None:
        report = _from_report(status_text, msg)
        if report is not None or msg.report_type == "delivery-status":
            return report
    if msg.content_type == "multipart/report" and msg.report_type not in (None, "delivery-status"):
        return None  # read receipts (disposition-notification) and feedback reports
    if not _looks_like_bounce(msg):
        return None
    return _from_text(msg)


def _fields(block: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    name = ""
    for line in block.split("\n"):
        if line[:1] in (" ", "\t") and name:
            fields[name] += " " + line.strip()  # folded field (RFC 3464 uses RFC 822 syntax)
            continue
        key, sep, value = line.partition(":")
        if sep and key.strip():
            name = key.strip().lower()
            fields.setdefault(name, value.strip())
    return fields


def _typed_address(value: str) -> str | None:
    """ "rfc822; alice@example.com" -> "alice@example.com" (RFC 3464 section 2.3.2)."""
    address = value.split(";", 1)[-1].strip().strip("<>").strip().lower()
    return address if "@" in address else None


def _from_report(text: str, msg: ParsedMessage) -> Bounce | None:
    text = text.replace("\r\n", "\n")
    recipients = [f for f in map(_fields, re.split(r"\n\s*\n", text)) if "action" in f]
    if not recipients:
        recipients = [f for f in map(_fields, re.split(r"\n\s*\n", text)) if "final-recipient" in f]
    failed = [f for f in recipients if f.get("action", "").lower() in ("failed", "delayed", "")]
    if not failed:
        return None
    fields = next((f for f in failed if f.get("action", "").lower() == "failed"), failed[0])
    action = fields.get("action", "").lower()
    status_match = _STATUS.search(fields.get("status", ""))
    status = status_match.group(0) if status_match else None
    recipient = _typed_address(fields.get("original-recipient", "")) or _typed_address(
        fields.get("final-recipient", "")
    )
    if status is not None:
        hard = status.startswith("5")
    else:
        hard = action == "failed"
    diagnostic = fields.get("diagnostic-code", "").split(";", 1)[-1].strip()
    if not diagnostic:
        diagnostic = _first_sentence(msg.text)
    return Bounce(recipient, status, hard, diagnostic)


def _looks_like_bounce(msg: ParsedMessage) -> bool:
    sender_is_daemon = bool(_BOUNCE_SENDER.match(msg.from_addr))
    null_sender = any(v.strip() == "<>" for v in msg.header_all("return-path"))
    subject = bool(_BOUNCE_SUBJECT.search(msg.subject))
    body = bool(_BOUNCE_BODY.search(msg.text[:5000]))
    if msg.header("x-failed-recipients"):
        return True
    # A story may quote "550 5.1.1"; only mail from the mail system itself is a bounce.
    return body or (subject and (sender_is_daemon or null_sender))


def _from_text(msg: ParsedMessage) -> Bounce:
    text = msg.text[:20000]
    recipient = _text_recipient(msg, text)
    status_match = _STATUS.search(text)
    status = status_match.group(0) if status_match else None
    code_match = _SMTP_CODE.search(text)
    if status is not None:
        hard = status.startswith("5")
    elif code_match is not None:
        hard = code_match.group(1).startswith("5")
    else:
        hard = not _SOFT_WORDS.search(text + " " + msg.subject)
    return Bounce(recipient, status, hard, _diagnostic(text))


def _text_recipient(msg: ParsedMessage, text: str) -> str | None:
    failed = msg.header("x-failed-recipients")  # Exim
    if failed:
        found = _ADDRESS.search(failed)
        if found:
            return found.group(0).lower()
    patterns = (
        r"^<([^<>\s]+@[^<>\s]+)>:",  # qmail and Postfix: "<alice@example.com>:"
        r"(?:wasn't|was not) delivered to\s+<?([^\s<>]+@[^\s<>]+?)>?\s",  # Gmail
        r"failed:\s*\n\s+<?([^\s<>]+@[^\s<>]+?)>?\s*$",  # Exim: address indented after
        r"following (?:recipient|address)e?s?[^:\n]*:\s*\n\s*<?([^\s<>]+@[^\s<>]+?)>?\s*$",
    )
    for pattern in patterns:
        m = re.search(pattern, text, re.IGNORECASE | re.MULTILINE)
        if m:
            return m.group(1).strip(".,;:").lower()
    return None


def _diagnostic(text: str) -> str:
    """The line carrying the SMTP error, else the first sentence of the notice."""
    for line in text.split("\n"):
        if _STATUS.search(line) or _SMTP_CODE.search(line):
            return " ".join(line.split())[:500]
    return _first_sentence(text)


def _first_sentence(text: str) -> str:
    paragraph = next((p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()), "")
    return " ".join(paragraph.split())[:500]
