"""``circleback export``: the cohort book. Read what the cohort shared (``store.book``, a
fixed number of queries), put it in check-in order (``book_view``, pure), render it
(``compose.book``) and write it. Nothing in the database is changed."""

from __future__ import annotations

import csv
import io
import mailbox
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Literal, TextIO, get_args

from service.compose.book import (
    BookResource,
    BookSection,
    BookStory,
    BookView,
    csv_rows,
    mbox_messages,
    render_html,
    render_markdown,
)
from service.core import keys
from service.core.schedule import checkins, series_checkins
from service.flows.cohort import Cohort
from service.store.book import Author, BookFacts, book_facts

__all__ = ["FORMATS", "Format", "book_view", "default_path", "gather_book", "write_book"]

Format = Literal["md", "html", "csv", "mbox"]
FORMATS: tuple[Format, ...] = get_args(Format)
TO_STDOUT: frozenset[Format] = frozenset({"md", "csv"})  # the others need a file

Tick = Callable[[int], None]  # "n more stories written": a progress bar's advance


async def gather_book(cohort: Cohort) -> BookView:
    """Everything the book says, read in one go."""
    facts = await book_facts(cohort.id)
    return book_view(cohort, facts, cohort.clock.now())


def book_view(cohort: Cohort, facts: BookFacts, now: datetime) -> BookView:
    """Pure: the stories grouped by check-in (those sent before the first check-in's prompt
    first), every check-in that has taken place listed even without a story, and the links
    with who shared them and for which check-in."""
    config = cohort.config
    held = {c.number: c for c in checkins(config.checkins)}
    planned = {c.number: c for c in series_checkins(config.checkins)}

    def author(pid: int) -> Author:
        return facts.authors.get(pid, Author("", ""))  # participants are never deleted

    links: dict[int, list[str]] = {}
    for link in facts.links:
        links.setdefault(link.story_id, []).append(link.url)
    grouped: dict[int | None, list[BookStory]] = {}
    for row in facts.stories:
        who = author(row.participant_id)
        grouped.setdefault(row.checkin, []).append(BookStory(
            author=who.name, email=who.email, received_at=row.received_at, text=row.text,
            links=tuple(links.get(row.id, ())),
            message_id=cohort.message_id(keys.book_story_seed(row.id))))
    numbers = {n for n, c in held.items() if c.start_utc <= now} | {n for n in grouped if n is not None}
    sections = [BookSection(None, None, False, tuple(grouped[None]))] if None in grouped else []
    for number in sorted(numbers):
        checkin = held.get(number) or planned.get(number)
        sections.append(BookSection(number, checkin.start if checkin else None,
                                    number not in held and number in planned,
                                    tuple(grouped.get(number, ()))))
    checkin_of = {row.id: row.checkin for row in facts.stories}
    resources = tuple(
        # A link without words of its own was stored with its URL as its title.
        BookResource(url=link.url, title="" if link.title == link.url else link.title,
                     shared_by=author(link.participant_id).name,
                     checkin=checkin_of.get(link.story_id), shared_at=link.created_at)
        for link in facts.links)
    series = sorted(held.values(), key=lambda c: c.start)
    return BookView(
        cohort_id=cohort.id, cohort_name=config.cohort.name,
        facilitator_name=config.facilitator.name, timezone=config.cohort.timezone,
        address=config.mail.address, display_name=config.mail.display_name,
        first_checkin=series[0].start if series else None,
        last_checkin=series[-1].start if series else None, checkin_count=len(series),
        sections=tuple(sections), resources=resources, exported_at=now)


def default_path(cohort_id: str, fmt: Format) -> Path:
    """Where an export goes without ``--out``: ``COHORT-book.FORMAT`` in the current folder."""
    return Path(f"{cohort_id}-book.{fmt}")


def write_book(view: BookView, fmt: Format, out: Path | None, *, stdout: TextIO,
               emails: bool = False, tick: Tick | None = None) -> None:
    """Render ``view`` as ``fmt`` into the file ``out`` (None: ``stdout``; not for mbox).

    A file is written beside its final name and renamed into place, so an export that
    stops half-way never leaves half a book (or, for mbox, appends to an old one).
    ``emails``: participants' addresses in the CSV and as the mbox's From addresses."""
    advance = tick or (lambda n: None)
    if fmt == "mbox":
        if out is None:
            raise ValueError("an mbox is written to a file")
        _replace(out, lambda tmp: _write_mbox(view, tmp, emails, advance))
        return
    if out is None:
        stdout.write(_render_text(view, fmt, emails, advance))
        stdout.flush()
        return
    # CSV gets a byte-order mark: Excel reads a CSV without one in the machine's legacy
    # code page and garbles every non-ASCII name.
    encoding = "utf-8-sig" if fmt == "csv" else "utf-8"
    text = _render_text(view, fmt, emails, advance)
    _replace(out, lambda tmp: tmp.write_text(text, encoding=encoding, newline=""))


def _render_text(view: BookView, fmt: Format, emails: bool, advance: Tick) -> str:
    if fmt == "csv":
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer)  # RFC 4180: CRLF rows, quoted where needed
        rows = csv_rows(view, emails=emails)
        writer.writerow(next(rows))
        for row in rows:
            writer.writerow(row)
            advance(1)
        return buffer.getvalue()
    text = render_markdown(view) if fmt == "md" else render_html(view)
    advance(len(view.stories))
    return text


def _write_mbox(view: BookView, path: Path, emails: bool, advance: Tick) -> None:
    box = mailbox.mbox(path, create=True)
    try:
        for message in mbox_messages(view, emails=emails):
            box.add(message)
            advance(1)
        box.flush()
    finally:
        box.close()


def _replace(out: Path, write: Callable[[Path], object]) -> None:
    tmp = out.with_name(f".{out.name}.{os.getpid()}.part")
    tmp.unlink(missing_ok=True)
    try:
        write(tmp)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
