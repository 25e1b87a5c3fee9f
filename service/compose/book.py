"""The cohort book (``circleback export``), rendered: Markdown and HTML from
templates/export.md.j2 and export.html.j2, CSV rows, and one RFC 5322 message per story
for an mbox (templates/export.mbox.j2 words them).

Pure: plain data in, text or messages out; the only I/O is reading templates. Every
participant's word is escaped for the format it lands in: HTML through ``text_html`` (escaped,
then sanitised by nh3, as in the digest), Markdown by backslash escapes (every value a
template prints is escaped unless a filter here made it Markdown), CSV cells that a
spreadsheet would run as a formula start with an apostrophe.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from functools import lru_cache
from mailbox import mboxMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from service.compose.emails import templates_dir
from service.compose.localtime import long_day
from service.compose.mime import mailbox, one_line
from service.compose.templating import new_environment
from service.compose.texts import is_web_url

__all__ = [
    "CSV_COLUMNS",
    "BookResource",
    "BookSection",
    "BookStory",
    "BookView",
    "csv_rows",
    "mbox_messages",
    "md_block",
    "md_inline",
    "render_html",
    "render_markdown",
]


@dataclass(frozen=True)
class BookStory:
    author: str
    email: str
    received_at: datetime  # aware
    text: str  # plain text, as stored
    links: tuple[str, ...]  # the URLs this story was the first to share
    message_id: str  # bare, for its copy in the mbox


@dataclass(frozen=True)
class BookResource:
    url: str
    title: str
    shared_by: str
    checkin: int | None
    shared_at: datetime  # aware


@dataclass(frozen=True)
class BookSection:
    """The stories of one check-in (``number`` None: those sent before the first one's
    prompt)."""

    number: int | None
    start: datetime | None  # aware, in the cohort's zone; None with ``number``
    cancelled: bool
    stories: tuple[BookStory, ...]

    @property
    def anchor(self) -> str:
        return f"checkin-{self.number}" if self.number is not None else "before"


@dataclass(frozen=True)
class BookView:
    cohort_id: str
    cohort_name: str
    facilitator_name: str
    timezone: str  # the cohort's: every date in the book is in it
    address: str  # the cohort address (From: of a story whose author's address is left out)
    display_name: str
    first_checkin: datetime | None
    last_checkin: datetime | None
    checkin_count: int
    sections: tuple[BookSection, ...]
    resources: tuple[BookResource, ...]
    exported_at: datetime

    @property
    def stories(self) -> tuple[BookStory, ...]:
        return tuple(story for section in self.sections for story in section.stories)

    @property
    def authors(self) -> int:
        """How many participants shared a story."""
        return len({story.author for story in self.stories})


# --- dates, in the cohort's zone -------------------------------------------------------

def book_day(dt: datetime, tz: str) -> str:
    """``Tuesday 1 December 2026``: the day ``dt`` falls on in zone ``tz``."""
    return long_day(dt.astimezone(ZoneInfo(tz)).date())


def book_time(dt: datetime, tz: str) -> str:
    """``Tuesday 1 December 2026, 14:05``: the book names its zone once, on its title page."""
    return f"{book_day(dt, tz)}, {dt.astimezone(ZoneInfo(tz)):%H:%M}"


def iso_local(dt: datetime, tz: str) -> str:
    return dt.astimezone(ZoneInfo(tz)).isoformat(timespec="minutes")


# --- Markdown ---------------------------------------------------------------------------

class Md(str):
    """Text that is Markdown already (made by the filters below): printed as it is."""


_URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_URL_TAIL = ".,;:!?)]}'\""
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Characters that start or end Markdown structure anywhere in a line (emphasis, code, links,
# HTML, tables, strike-through); ``&`` only where it would start an entity.
_INLINE = re.compile(r"([\\`*_\[\]<>|~])|&(?=#|[A-Za-z0-9]+;)")
# What makes a line a heading, quote, list item, rule or setext underline when it starts it.
_LINE_START = re.compile(r"^([#+=-])|^(\d+)([.)])")


def _escape_inline(text: str) -> str:
    return _INLINE.sub(lambda m: "\\" + (m.group(1) or "&"), text)


def _escape_start(line: str) -> str:
    def one(m: re.Match[str]) -> str:
        return "\\" + m.group(1) if m.group(1) else m.group(2) + "\\" + m.group(3)

    return _LINE_START.sub(one, line, count=1)


def _autolink(url: str) -> str | None:
    # CommonMark autolink: no escapes are read inside <...>, so only a URL with none of
    # < > \ or spaces may be one; anything else is shown as escaped text.
    if is_web_url(url) and not set(url) & set("<>\\"):
        return f"<{url}>"
    return None


def _md_line(line: str) -> str:
    pieces: list[str] = []
    position = 0
    for match in _URL.finditer(line):
        url = match.group(0).rstrip(_URL_TAIL)
        link = _autolink(url)
        if link is None:
            continue
        pieces.append(_escape_inline(line[position:match.start()]))
        pieces.append(link)
        position = match.start() + len(url)
    pieces.append(_escape_inline(line[position:]))
    return _escape_start("".join(pieces))


def md_inline(value: object) -> Md:
    """Any value as Markdown text on one line, every control character escaped (the start
    of the value too, which a template may put at the start of a line)."""
    if isinstance(value, Md):
        return value
    return Md(_md_line(one_line(str(value))))


def md_block(text: str) -> Md:
    """A participant's plain text as Markdown paragraphs: blank lines part paragraphs,
    each line break stays one (a trailing backslash, CommonMark's hard break), leading
    blanks are dropped (four of them would make a code block), URLs become autolinks."""
    lines = [_CONTROLS.sub(" ", line).strip() for line in text.splitlines()]
    paragraphs: list[list[str]] = [[]]
    for line in lines:
        if line:
            paragraphs[-1].append(_md_line(line))
        elif paragraphs[-1]:
            paragraphs.append([])
    return Md("\n\n".join("\\\n".join(p) for p in paragraphs if p))


def md_link(url: str, label: str = "") -> Md:
    """``[label](<url>)``, or the URL as an autolink without a label; a URL that is not a
    plain web address is shown as text, never linked."""
    if not _autolink(url):
        shown = one_line(f"{label} ({url})" if label else url)
        return Md(_escape_start(_escape_inline(shown)))  # no part of it made a link
    if not label.strip():
        return Md(f"<{url}>")
    return Md(f"[{md_inline(label)}](<{url}>)")


# --- templates --------------------------------------------------------------------------

def _finalize_md(value: object) -> object:
    return md_inline(value)


def verbatim(value: object) -> Md:
    """The template's own Markdown (a macro's output): printed as it is. Never for data."""
    return Md(str(value))


@lru_cache(maxsize=4)
def _environment(directory: Path, markdown: bool) -> jinja2.Environment:
    # HTML escapes everything it prints; in Markdown every value printed is escaped unless
    # it is Md already; the mbox's words are plain text.
    env = new_environment(directory, autoescape_html=not markdown,
                          finalize=_finalize_md if markdown else None)
    env.filters["day"] = book_day
    env.filters["when"] = book_time
    env.filters["iso"] = iso_local
    env.filters["md"] = md_block
    env.filters["md_link"] = md_link
    env.filters["verbatim"] = verbatim
    return env


def _context(view: BookView) -> dict[str, Any]:
    return {"view": view, "tz": view.timezone, "stories": view.stories}


def render_markdown(view: BookView) -> str:
    return _environment(templates_dir(), True).get_template("export.md.j2").render(_context(view))


def render_html(view: BookView) -> str:
    """One self-contained page: its styles inside, no scripts, no external assets."""
    return _environment(templates_dir(), False).get_template("export.html.j2").render(_context(view))


# --- CSV --------------------------------------------------------------------------------

CSV_COLUMNS = ("checkin", "checkin_date", "author", "email", "date", "text", "links")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str) -> str:
    # A spreadsheet runs a cell that starts like a formula (OWASP "CSV injection"): a
    # leading apostrophe makes Excel and LibreOffice show it as text.
    return "'" + value if value.startswith(_FORMULA_START) else value


def csv_rows(view: BookView, *, emails: bool) -> Iterator[list[str]]:
    """The header, then one row per story; ``email`` only with ``emails``."""
    columns = [c for c in CSV_COLUMNS if emails or c != "email"]
    yield columns
    for section in view.sections:
        for story in section.stories:
            row = {
                "checkin": "" if section.number is None else str(section.number),
                "checkin_date": section.start.date().isoformat() if section.start else "",
                "author": story.author,
                "email": story.email,
                "date": iso_local(story.received_at, view.timezone),
                "text": story.text,
                "links": "\n".join(story.links),
            }
            yield [_cell(row[c]) for c in columns]


# --- mbox -------------------------------------------------------------------------------

# Folded only past RFC 5322's hard limit: the stdlib folds a long Subject right after its
# colon, and some clients then show it with a leading space. (mailbox writes headers unfolded
# anyway.)
_MBOX_POLICY = policy.default.clone(max_line_length=998)


def _words() -> Any:
    return _environment(templates_dir(), False).get_template("export.mbox.j2").module


def _from_address(view: BookView, story: BookStory, emails: bool) -> str:
    # Without ``emails`` the author's name goes with the cohort's address, as a list shows
    # a member's post; an address a plain header cannot carry (non-ASCII local part) too.
    if emails and story.email.isascii():
        return story.email
    return view.address


def mbox_messages(view: BookView, *, emails: bool) -> Iterator[mboxMessage]:
    """One message per story, From its author, dated when it was sent, its Subject naming
    the check-in: what a mail client imports from an mbox file."""
    words = _words()
    zone = ZoneInfo(view.timezone)
    for section in view.sections:
        for story in section.stories:
            subject = one_line(str(words.subject(view=view, section=section, story=story,
                                                 tz=view.timezone)))
            body = str(words.body(view=view, section=section, story=story, tz=view.timezone))
            msg = EmailMessage(policy=_MBOX_POLICY)
            msg["From"] = mailbox(story.author, _from_address(view, story, emails))
            msg["To"] = mailbox(view.display_name, view.address)
            msg["Subject"] = subject
            msg["Date"] = format_datetime(story.received_at.astimezone(zone))
            msg["Message-ID"] = f"<{story.message_id}>"
            msg.set_content(body, charset="utf-8", cte="quoted-printable")
            copy = mboxMessage(msg)
            # The "From " line mbox readers sort and show by: sender and date, in UTC.
            copy.set_from(_from_address(view, story, emails),
                          story.received_at.utctimetuple())
            yield copy
