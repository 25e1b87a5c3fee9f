"""Tests for service/flows/export.py without a database: how the book is put in check-in
order (book_view) and how it is written (write_book)."""

from __future__ import annotations

import csv
import io
import mailbox
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from service.config import Config
from service.core.clock import ManualClock
from service.flows.cohort import Cohort
from service.flows.export import book_view, default_path, write_book
from service.store.book import Author, BookFacts, BookLink, BookStoryRow

# The conftest cohort: weekly check-ins in New York from Tuesday 20 October 2026, 12:00.
NOW = datetime(2026, 10, 28, 12, 0, tzinfo=UTC)  # after check-in 2, before check-in 3


def _at(day: int, hour: int = 15) -> datetime:
    return datetime(2026, 10, day, hour, 0, tzinfo=UTC)


FACTS = BookFacts(
    authors={1: Author("Alice", "alice@example.com"), 2: Author("Bob", "bob@example.com")},
    stories=[
        BookStoryRow(10, 1, None, "Before it all began.", _at(16)),
        BookStoryRow(11, 1, 1, "My goal: https://example.org/goal", _at(19)),
        BookStoryRow(12, 2, 1, "Bob's first.", _at(19, 16)),
        BookStoryRow(13, 1, 3, "Early for check-in 3, with a guide.", _at(28, 11)),
    ],
    links=[
        BookLink(1, 11, "https://example.org/goal", "https://example.org/goal", _at(19)),
        BookLink(1, 13, "https://example.org/guide", "A guide", _at(28, 11)),
    ],
)


def _cohort(config: Config, cancelled: tuple[int, ...] = ()) -> Cohort:
    config = replace(config, checkins=replace(config.checkins, cancelled=cancelled))
    return Cohort(config, b"k" * 32, ManualClock(NOW))


def test_stories_are_grouped_by_checkin_with_the_checkins_that_took_place(config: Config) -> None:
    view = book_view(_cohort(config), FACTS, NOW)
    assert [s.number for s in view.sections] == [None, 1, 2, 3]  # 4 is yet to come, and empty
    before, first, second, third = view.sections
    assert [s.text for s in before.stories] == ["Before it all began."]
    assert [s.author for s in first.stories] == ["Alice", "Bob"]
    assert second.stories == () and not second.cancelled
    assert third.start is not None and f"{third.start:%Y-%m-%d %H:%M %Z}" == "2026-11-03 12:00 EST"
    assert first.stories[0].links == ("https://example.org/goal",)
    assert first.stories[0].email == "alice@example.com"
    assert view.first_checkin and f"{view.first_checkin:%Y-%m-%d %H:%M}" == "2026-10-20 12:00"
    assert view.checkin_count == 4 and view.timezone == "America/New_York"
    assert view.authors == 2 and len(view.stories) == 4


def test_a_cancelled_checkin_keeps_its_stories_and_says_so(config: Config) -> None:
    view = book_view(_cohort(config, cancelled=(1,)), FACTS, NOW)
    first = next(s for s in view.sections if s.number == 1)
    assert first.cancelled and len(first.stories) == 2 and first.start is not None
    assert view.checkin_count == 3


def test_resources_name_who_shared_them_and_for_which_checkin(config: Config) -> None:
    view = book_view(_cohort(config), FACTS, NOW)
    assert [(r.url, r.title, r.shared_by, r.checkin) for r in view.resources] == [
        ("https://example.org/goal", "", "Alice", 1),  # no title of its own: shown as its URL
        ("https://example.org/guide", "A guide", "Alice", 3),
    ]


def test_each_story_has_its_own_stable_message_id(config: Config) -> None:
    ids = [s.message_id for s in book_view(_cohort(config), FACTS, NOW).stories]
    again = [s.message_id for s in book_view(_cohort(config), FACTS, NOW).stories]
    assert ids == again and len(set(ids)) == len(ids)
    assert all(i.endswith("@example.org") for i in ids)


def test_files_are_replaced_whole(config: Config, tmp_path: Path) -> None:
    view = book_view(_cohort(config), FACTS, NOW)
    out = tmp_path / "out" / "book.mbox"
    out.parent.mkdir()
    for _ in range(2):  # a second export replaces the first, never appends to it
        write_book(view, "mbox", out, stdout=io.StringIO())
    box = mailbox.mbox(out, create=False)
    try:
        assert len(box) == 4
    finally:
        box.close()
    assert [p.name for p in out.parent.iterdir()] == ["book.mbox"]  # no part file left behind


def test_csv_file_opens_in_excel_and_in_python(config: Config, tmp_path: Path) -> None:
    ticks: list[int] = []
    out = tmp_path / "book.csv"
    write_book(book_view(_cohort(config), FACTS, NOW), "csv", out, stdout=io.StringIO(),
               tick=ticks.append)
    assert out.read_bytes().startswith(b"\xef\xbb\xbfcheckin,")  # Excel needs the BOM
    with out.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 5 and rows[3][4] == "Bob's first."
    assert sum(ticks) == 4


def test_markdown_goes_to_standard_output(config: Config) -> None:
    stdout = io.StringIO()
    write_book(book_view(_cohort(config), FACTS, NOW), "md", None, stdout=stdout)
    assert stdout.getvalue().startswith("# Circle\n")


def test_an_mbox_needs_a_file(config: Config) -> None:
    with pytest.raises(ValueError, match="file"):
        write_book(book_view(_cohort(config), FACTS, NOW), "mbox", None, stdout=io.StringIO())
    assert default_path("c1", "mbox") == Path("c1-book.mbox")
