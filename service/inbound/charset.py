"""Decoding of mail bodies and headers whose declared charset may be wrong or missing."""

from __future__ import annotations

import codecs
import re

__all__ = ["decode_bytes", "decode_header_value", "unflow"]

# Labels that mail clients declare but Python does not know, or where a superset is what
# is really sent. WHATWG Encoding Standard: "iso-8859-1" and "us-ascii" mean windows-1252
# (Outlook declares iso-8859-1 and sends curly quotes from 0x80-0x9F).
_ALIASES: dict[str, tuple[str, ...]] = {
    "us-ascii": ("ascii",),
    "ascii": ("ascii",),
    "iso-8859-1": ("cp1252",),
    "latin1": ("cp1252",),
    "latin-1": ("cp1252",),
    "iso-2022-jp": ("iso2022_jp", "iso2022_jp_ext", "iso2022_jp_2"),
    "shift_jis": ("cp932",),
    "shift-jis": ("cp932",),
    "x-sjis": ("cp932",),
    "gb2312": ("gb18030",),
    "gbk": ("gb18030",),
    "ks_c_5601-1987": ("cp949",),
    "euc-kr": ("cp949",),
    "iso-8859-8-i": ("iso-8859-8",),
    "windows-874": ("cp874",),
    "utf8": ("utf-8",),
    "unicode-1-1-utf-7": ("utf-7",),
}
_UNKNOWN = frozenset({"unknown-8bit", "x-unknown", "unknown", "x-user-defined", "default", ""})
_FALLBACKS = ("utf-8", "cp1252")


def _codecs_for(charset: str | None) -> list[str]:
    names: list[str] = []
    label = (charset or "").strip().strip('"').lower()
    if label and label not in _UNKNOWN:
        for name in _ALIASES.get(label, (label,)):
            try:
                names.append(codecs.lookup(name).name)
            except LookupError:
                continue
    for name in _FALLBACKS:
        if name not in names:
            names.append(name)
    return names


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode with the declared charset, then utf-8, cp1252, and finally latin-1 (never fails)."""
    for name in _codecs_for(charset):
        try:
            return data.decode(name)
        except (UnicodeDecodeError, LookupError, ValueError):
            continue
    return data.decode("latin-1")


_SURROGATES = re.compile(r"[\udc80-\udcff]")


def fix_surrogates(value: str) -> str:
    """Turn raw 8-bit header bytes (surrogate-escaped by the email parser) into text.

    RFC 6532 allows UTF-8 in headers; older clients send raw cp1252/latin-1 bytes instead.
    """
    if not _SURROGATES.search(value):
        return value
    try:
        data = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return _SURROGATES.sub("\ufffd", value)
    return decode_bytes(data, "utf-8")


_BLANKS = re.compile(r"[ \t]{2,}|\t")


def decode_header_value(raw: str) -> str:
    """Unfold and decode one raw header value (RFC 5322 folding, RFC 2047 encoded words)."""
    from email.header import decode_header, make_header

    value = fix_surrogates(raw)
    # Unfolding removes the line break only (RFC 5322 section 2.2.3); clients that fold
    # after a space as well as before ("word \r\n word") would leave two, so runs of
    # blanks become one: a header is read as one line of words.
    value = _BLANKS.sub(" ", re.sub(r"\r?\n", "", value)).strip()
    if "=?" not in value:
        return value.replace("\x00", "")
    try:
        decoded = _BLANKS.sub(" ", str(make_header(decode_header(value)))).strip()
    except Exception:
        decoded = value
    return decoded.replace("\x00", "")


def unflow(text: str, delsp: bool) -> str:
    """Undo RFC 3676 format=flowed: join soft-broken lines, remove space-stuffing.

    A line ending in a space is soft-broken and continues on the next line of the same
    quote depth (section 4.2); with DelSp=yes that trailing space was added by the sender
    and is removed (section 4.5). "-- " is the signature separator, never flowed.
    """
    out: list[str] = []
    buffer: str | None = None
    buffer_depth = 0
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):  # space-stuffing, section 4.4
            content = content[1:]
        if buffer is not None and depth != buffer_depth:
            # Section 4.5: a quote depth change ends the paragraph even after a soft break.
            out.append(_quote(buffer_depth, buffer))
            buffer = None
        flowed = content.endswith(" ") and content != "-- "
        if flowed and delsp:
            content = content[:-1]
        buffer = content if buffer is None else buffer + content
        buffer_depth = depth
        if not flowed:
            out.append(_quote(depth, buffer))
            buffer = None
    if buffer is not None:
        out.append(_quote(buffer_depth, buffer))
    return "\n".join(out)


def _quote(depth: int, content: str) -> str:
    if depth == 0:
        return content
    return ">" * depth + (" " + content if content else "")
