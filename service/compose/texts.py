"""Participants' words in email: plain text made into safe HTML, sanitising, shortening."""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import urlsplit

import nh3
from markupsafe import Markup, escape

from service.compose.mime import one_line

# --- HTML from plain text -------------------------------------------------

_ALLOWED_TAGS = {"p", "br", "a", "strong", "em", "b", "i", "ul", "ol", "li", "blockquote"}
_URL_IN_TEXT = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_URL_TAIL = ".,;:!?)]}'\""
_P_STYLE = "margin:0 0 12px;"
_A_STYLE = "color:#0b57d0; text-decoration:underline; word-break:break-all; overflow-wrap:anywhere;"


def sanitize_html(html: str) -> str:
    """Reduce untrusted HTML to a few formatting tags and http(s) links (nh3)."""
    return nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes={"a": {"href"}},
        url_schemes={"http", "https"},
        link_rel="noopener noreferrer nofollow",
    )


def is_web_url(url: str) -> bool:
    """True only for a plain http(s) URL; javascript:, data: and the rest are not links."""
    if not url or url != url.strip() or any(c.isspace() or ord(c) < 32 for c in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def _linkify(line: str) -> Markup:
    pieces: list[Markup] = []
    position = 0
    for match in _URL_IN_TEXT.finditer(line):
        url = match.group(0).rstrip(_URL_TAIL)
        pieces.append(escape(line[position : match.start()]))
        # Markup.format escapes its arguments, quotes included.
        pieces.append(Markup('<a href="{0}">{0}</a>').format(url))
        position = match.start() + len(url)
    pieces.append(escape(line[position:]))
    return Markup("").join(pieces)


def text_html(text: str) -> Markup:
    """Plain text as escaped HTML: blank lines make paragraphs, newlines <br>, URLs links."""
    normalised = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    paragraphs = [p for p in re.split(r"\n[ \t]*\n", normalised) if p.strip()]
    html = "".join(
        Markup("<p>{}</p>").format(Markup("<br>").join(_linkify(line) for line in p.split("\n")))
        for p in paragraphs
    )
    # Belt and braces: whatever the escaping above missed, nh3 removes. The
    # margin and link colour go on afterwards (nh3 drops style attributes) because Outlook's
    # Word engine and Gmail disagree on the default <p> margins.
    clean = (
        sanitize_html(html)
        .replace("<p>", f'<p style="{_P_STYLE}">')
        .replace('<a href="', f'<a style="{_A_STYLE}" href="')
    )
    return Markup(clean)


# --- long stories in the plain-text part ----------------------------------

STORY_TEXT_LIMIT = 700  # characters of a story the digest's text/plain part shows
# The end of a sentence (its closing quote or bracket included), or a line break.
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*(?=\s)|\n")
_WORD_END = re.compile(r"\S(?=\s)")


def shorten_story(text: str, note: str, limit: int = STORY_TEXT_LIMIT) -> str:
    """`text` if it fits in `limit` characters, else its start plus `note` (the
    template's words saying where the rest is).

    The cut falls after the last sentence that ends in the second half of the
    limit, else after the last whole word, so no word (and no URL, which a
    client would then link half of) is broken; only a text without any space
    is cut mid-word. The HTML part always carries the whole story.
    """
    text = text.strip()
    if len(text) <= limit:
        return text
    # One character more than the limit, so a sentence or word ending right at
    # the limit is seen to end there.
    head = text[: limit + 1]
    sentences = [m.end() for m in _SENTENCE_END.finditer(head) if m.end() <= limit]
    words = [m.end() for m in _WORD_END.finditer(head) if m.end() <= limit]
    if sentences and sentences[-1] >= limit // 2:
        cut = sentences[-1]
    elif words:
        cut = words[-1]
    else:
        cut = limit
    kept = text[:cut].rstrip().rstrip(",;:–—-").rstrip()
    return f"{kept} {note}"


URL_LABEL_LIMIT = 72  # characters of a long URL shown as the words of a link


def url_label(url: str, limit: int = URL_LABEL_LIMIT) -> str:
    """`url` for display under its link: cut to `limit` characters with "…" when longer.

    The link itself keeps the whole URL; a 300-character address shown in full
    fills a phone's screen with nine lines of noise.
    """
    return url if len(url) <= limit else url[: limit - 1] + "…"


def first_name(name: str) -> str:
    words = one_line(name).split()
    return words[0] if words else "there"


def join_names(names: Sequence[str]) -> str:
    names = [one_line(n) for n in names if n.strip()]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


# --- plain text for a calendar ----------------------------------------------

# C0/C1 controls other than HTAB and LF (str.splitlines() has already made every line break
# a LF): RFC 5545 3.3.11 allows none of them in a TEXT value.
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]+")


def plain_lines(text: str) -> str:
    """Text fit for an iCalendar TEXT value such as DESCRIPTION: every kind of line break
    (CR LF, CR, U+2028 ...) becomes one LF, which the calendar writer escapes as ``\\n``;
    other control characters become spaces; at most one blank line in a row."""
    lines = [_TEXT_CONTROL.sub(" ", line).rstrip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
