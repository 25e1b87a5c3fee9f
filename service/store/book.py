"""Reads for the cohort book (``circleback export``): every story the cohort may read and
every link shared in them, with their authors. Three queries, whatever the cohort's size;
none per story or per participant. Nothing here writes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from service.store.models import Participant
from service.store.reads import shared_resources, shared_stories

__all__ = ["Author", "BookFacts", "BookLink", "BookStoryRow", "book_facts"]


@dataclass(frozen=True)
class Author:
    name: str
    email: str


@dataclass(frozen=True)
class BookStoryRow:
    id: int
    participant_id: int
    checkin: int | None
    text: str
    received_at: datetime


@dataclass(frozen=True)
class BookLink:
    participant_id: int
    story_id: int
    url: str
    title: str
    created_at: datetime


@dataclass(frozen=True)
class BookFacts:
    """What the book is made of, in the order it was shared."""

    authors: dict[int, Author]  # every participant of the cohort (removed ones too)
    stories: list[BookStoryRow]  # shared with the cohort: never private, never awaiting consent
    links: list[BookLink]  # from those stories only


async def book_facts(cohort_id: str) -> BookFacts:
    """The cohort's shared stories and links, by the rule the digest uses
    (``service.store.reads.shared_stories``)."""
    authors = {int(pid): Author(str(name), str(email)) for pid, name, email in
               await Participant.filter(cohort_id=cohort_id).values_list("id", "name", "email")}
    stories = [BookStoryRow(int(sid), int(pid), None if number is None else int(number), str(text),
                            received)
               for sid, pid, number, text, received in
               await shared_stories(cohort_id).order_by("received_at", "id").values_list(
                   "id", "participant_id", "checkin_number", "text", "received_at")]
    links = [BookLink(int(pid), int(sid), str(url), str(title), created)
             for pid, sid, url, title, created in
             await shared_resources(cohort_id).order_by("created_at", "id").values_list(
                 "participant_id", "story_id", "url", "title", "created_at")]
    return BookFacts(authors, stories, links)

