"""Parse one raw inbound message into plain data, defensively.

`parse_message` never raises anything but `MalformedMessage`: the stdlib parser is lenient
about MIME structure, but header access under `email.policy.default` can raise on broken
input, so headers are read raw and decoded here, and the body walk is retried under
`compat32` when the modern policy fails.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message

from service.inbound.charset import decode_bytes, decode_header_value, unflow

__all__ = ["Attachment", "MalformedMessage", "ParsedMessage", "parse_message"]

RECIPIENT_HEADERS = ("to", "cc", "delivered-to", "x-original-to", "envelope-to")
CALENDAR_TYPES = frozenset({"text/calendar", "application/ics"})
_MAX_HEADER_CHARS = 16_384  # longer values are truncated before any structured parsing
_MSGID = re.compile(r"<([^<>\s]+)>")


class MalformedMessage(Exception):
    """The input cannot be read as an email message; str() is a human reason."""


@dataclass(frozen=True)
class Attachment:
    """A non-body MIME part. ``content`` holds its bytes when it is no larger than the
    parse's ``max_attachment_bytes``, else it is empty (described, not kept)."""

    filename: str
    content_type: str
    size: int
    content: bytes = field(default=b"", repr=False, compare=False)


@dataclass(frozen=True)
class ParsedMessage:
    """Everything classification needs from one message, decoded to plain Python values."""

    message_id: str
    from_addr: str
    from_name: str
    recipients: tuple[str, ...]
    subject: str
    date: datetime | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    headers: tuple[tuple[str, str], ...]
    text: str
    html: str | None
    calendar_parts: tuple[bytes, ...]
    attachments: tuple[Attachment, ...]
    content_type: str
    report_type: str | None
    raw_size: int
    has_plain: bool = False  # False when `text` was derived from the HTML part
    calendar_methods: tuple[str, ...] = ()  # METHOD param per calendar part, "" when absent
    delivery_status: str | None = None  # message/delivery-status body (RFC 3464) as text

    def header(self, name: str) -> str | None:
        """The first value of a header (case-insensitive name), or None."""
        lower = name.lower()
        for key, value in self.headers:
            if key.lower() == lower:
                return value
        return None

    def header_all(self, name: str) -> list[str]:
        """All values of a header (case-insensitive name)."""
        lower = name.lower()
        return [value for key, value in self.headers if key.lower() == lower]


def parse_message(raw: bytes, *, max_parts: int = 500, max_depth: int = 20,
                  max_attachment_bytes: int = 0) -> ParsedMessage:
    """Parse raw RFC 5322 bytes. Raises only `MalformedMessage`, whatever the input.
    Attachments up to ``max_attachment_bytes`` keep their content."""
    try:
        return _parse(raw, max_parts, max_depth, max_attachment_bytes)
    except MalformedMessage:
        raise
    except RecursionError as exc:
        raise MalformedMessage("MIME structure nested too deeply to parse") from exc
    except Exception as exc:
        raise MalformedMessage(f"unreadable message: {type(exc).__name__}: {exc}") from exc


def _parse(raw: bytes, max_parts: int, max_depth: int, max_attachment_bytes: int) -> ParsedMessage:
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise MalformedMessage("message is not bytes")
    raw = bytes(raw)
    if not raw.strip():
        raise MalformedMessage("message is empty")
    # compat32: header values come back as the raw strings (decoded below by our own,
    # forgiving decode_header_value); the default policy parses Content-Type again on
    # every access and made the MIME walk three times slower than the parse itself.
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    headers = tuple(
        (_clean_name(name), decode_header_value(_truncate(value))) for name, value in msg.raw_items()
    )
    if not headers:
        raise MalformedMessage("message has no header fields")
    raw_headers = [(name.lower(), _truncate(value)) for name, value in msg.raw_items()]
    try:
        body = _Body(max_parts, max_depth, max_attachment_bytes)
        body.walk(msg)
    except MalformedMessage:
        raise
    except Exception as exc:
        raise MalformedMessage(f"the MIME structure cannot be read ({type(exc).__name__})") from exc

    from_name, from_addr = _first_address(_values(raw_headers, "from"))
    if not from_addr:
        from_name, from_addr = _first_address(_values(raw_headers, "sender"))
    recipients: list[str] = []
    for name in RECIPIENT_HEADERS:
        for _, addr in _addresses(_values(raw_headers, name)):
            if addr and addr not in recipients:
                recipients.append(addr)

    message_ids = _ids(_values(raw_headers, "message-id"))
    message_id = message_ids[0] if message_ids else ""
    if not message_id:
        message_id = "sha256:" + hashlib.sha256(raw).hexdigest()

    text = body.text
    if not body.has_plain and body.html is not None:
        from service.inbound.trim import html_to_text

        text = html_to_text(body.html)
    return ParsedMessage(
        message_id=message_id,
        from_addr=from_addr,
        from_name=from_name,
        recipients=tuple(recipients),
        subject=_first(headers, "subject"),
        date=_date(_first(headers, "date")),
        in_reply_to=_ids(_values(raw_headers, "in-reply-to")),
        references=_ids(_values(raw_headers, "references")),
        headers=headers,
        text=text,
        html=body.html,
        calendar_parts=tuple(body.calendars),
        attachments=tuple(body.attachments),
        content_type=body.content_type,
        report_type=body.report_type,
        raw_size=len(raw),
        has_plain=body.has_plain,
        calendar_methods=tuple(body.calendar_methods),
        delivery_status=body.delivery_status,
    )


class _Body:
    """Collects body text, HTML, calendars and attachments in one iterative walk."""

    def __init__(self, max_parts: int, max_depth: int, max_attachment_bytes: int = 0) -> None:
        self.max_attachment_bytes = max_attachment_bytes
        self.max_parts = max_parts
        self.max_depth = max_depth
        self.text = ""
        self.has_plain = False
        self.html: str | None = None
        self.calendars: list[bytes] = []
        self.calendar_methods: list[str] = []
        self._calendar_keys: set[bytes] = set()
        self.attachments: list[Attachment] = []
        self.content_type = "text/plain"
        self.report_type: str | None = None
        self.delivery_status: str | None = None

    def walk(self, root: Message) -> None:
        self.content_type = root.get_content_type()
        if self.content_type == "multipart/report":
            report = root.get_param("report-type")
            self.report_type = str(report).lower() if isinstance(report, str) else None
        stack: list[tuple[Message, int, str]] = [(root, 0, "")]
        seen = 0
        while stack:
            part, depth, parent = stack.pop()
            seen += 1
            if seen > self.max_parts:
                raise MalformedMessage(f"more than {self.max_parts} MIME parts")
            if depth > self.max_depth:
                raise MalformedMessage(f"MIME parts nested deeper than {self.max_depth}")
            ctype = part.get_content_type()
            if ctype == "message/delivery-status":
                self._delivery_status(part)
            elif part.is_multipart():
                if ctype.startswith("message/"):
                    self._message_part(part)  # forwarded or returned mail: not our body
                    continue
                children = part.get_payload()
                if isinstance(children, list):
                    stack.extend((c, depth + 1, ctype) for c in reversed(children) if isinstance(c, Message))
            else:
                self._leaf(part, ctype, parent)

    def _leaf(self, part: Message, ctype: str, parent: str) -> None:
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = _filename(part)
        disposition = (part.get_content_disposition() or "").lower()
        if ctype in CALENDAR_TYPES:
            # Outlook and Google send the same invite inline and as invite.ics.
            key = data.replace(b"\r\n", b"\n").strip()
            if key and key not in self._calendar_keys:
                self._calendar_keys.add(key)
                self.calendars.append(data)
                method = part.get_param("method")
                self.calendar_methods.append(method.upper() if isinstance(method, str) else "")
            return
        is_body = disposition != "attachment" and not filename
        # Apple Mail splits the text around inline images into several text/plain parts
        # of one multipart/mixed: they are all the body, in order.
        more_text = self.has_plain and parent == "multipart/mixed"
        if is_body and ctype == "text/plain" and (not self.has_plain or more_text):
            text = decode_bytes(data, part.get_content_charset())
            text = text.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n")
            if str(part.get_param("format") or "").lower() == "flowed":
                delsp = str(part.get_param("delsp") or "").lower() == "yes"
                text = unflow(text, delsp)
            self.text = f"{self.text}\n{text}" if more_text else text
            self.has_plain = True
        elif is_body and ctype == "text/html" and self.html is None:
            html = decode_bytes(data, part.get_content_charset())
            self.html = html.replace("\x00", "")
        else:
            keep = len(data) <= self.max_attachment_bytes
            self.attachments.append(Attachment(filename, ctype, len(data), data if keep else b""))

    def _message_part(self, part: Message) -> None:
        filename = _filename(part)
        try:
            size = len(part.as_bytes())
        except Exception:
            size = 0
        self.attachments.append(Attachment(filename, part.get_content_type(), size))

    def _delivery_status(self, part: Message) -> None:
        # The stdlib parses message/delivery-status into one sub-message per field block.
        blocks: list[str] = []
        payload = part.get_payload()
        if isinstance(payload, list):
            for block in payload:
                if isinstance(block, Message):
                    lines = [f"{k}: {decode_header_value(_truncate(str(v)))}" for k, v in block.raw_items()]
                    blocks.append("\n".join(lines))
        elif isinstance(payload, str):
            blocks.append(payload)
        self.delivery_status = "\n\n".join(blocks)


def _truncate(value: object) -> str:
    text = str(value)
    return text if len(text) <= _MAX_HEADER_CHARS else text[:_MAX_HEADER_CHARS]


def _clean_name(name: str) -> str:
    return name.strip().replace("\x00", "")


def _values(headers: list[tuple[str, str]], name: str) -> list[str]:
    return [value for key, value in headers if key == name]


def _first(headers: tuple[tuple[str, str], ...], name: str) -> str:
    for key, value in headers:
        if key.lower() == name:
            return value
    return ""


def _addresses(raw_values: list[str]) -> list[tuple[str, str]]:
    """(display name, lower-case address) pairs from raw address header values."""
    unfolded = [re.sub(r"\r?\n[ \t]*", " ", v).replace("\x00", "") for v in raw_values]
    try:
        pairs = email.utils.getaddresses(unfolded)
    except Exception:
        pairs = [("", m) for v in unfolded for m in re.findall(r"[^\s<>,;\"]+@[^\s<>,;\"]+", v)]
    result: list[tuple[str, str]] = []
    for name, addr in pairs:
        addr = decode_header_value(addr).strip().strip("<>").lower()
        if "@" not in addr:
            addr = ""
        result.append((decode_header_value(name).strip(), addr))
    return result


def _first_address(raw_values: list[str]) -> tuple[str, str]:
    for name, addr in _addresses(raw_values):
        if addr:
            return name, addr
    return "", ""


def _ids(raw_values: list[str]) -> tuple[str, ...]:
    """Message ids without angle brackets, in order, deduplicated (RFC 5322 section 3.6.4)."""
    ids: list[str] = []
    for value in raw_values:
        value = value.replace("\x00", "")
        found = _MSGID.findall(value) or value.split()  # some MUAs omit the brackets
        for item in found:
            item = item.strip().strip("<>")
            if item and item not in ids:
                ids.append(item)
    return tuple(ids)


def _date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except Exception:
        return None
    if parsed.tzinfo is None:  # "-0000": no zone information (RFC 5322 section 3.3)
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _filename(part: Message) -> str:
    try:
        name = part.get_filename()
    except Exception:
        name = None
    return decode_header_value(name) if isinstance(name, str) else ""
