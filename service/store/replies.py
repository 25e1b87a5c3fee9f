"""What participants' replies leave in the database: stories with their attachments and
the resources they shared, and calendar answers."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from service.store.models import CalendarCopy, Participant, Resource, Rsvp, Story, StoryAttachment

__all__ = ["NewAttachment", "NewLink", "calendar_sequence_of", "record_rsvp", "store_story"]


@dataclass(frozen=True)
class NewAttachment:
    filename: str
    content_type: str
    size: int
    content: bytes  # b"": larger than [mail] max_attachment_size, only noted


@dataclass(frozen=True)
class NewLink:
    url: str
    title: str


def url_key(url: str) -> str:
    """Resources are unique per cohort by their normalised URL."""
    return hashlib.sha256(url.strip().rstrip("/").lower().encode()).hexdigest()


async def store_story(*, cohort_id: str, participant: Participant, checkin: int | None,
                      message_key: str, text: str, cut: str, private: bool, publishable: bool,
                      attachments: Sequence[NewAttachment], links: Sequence[NewLink],
                      now: datetime) -> Story:
    """One story; its links become the cohort's resources (the first sharer is credited)."""
    story = await Story.create(
        cohort_id=cohort_id, participant=participant, checkin_number=checkin,
        message_id=message_key, text=text, cut=cut, private=private, received_at=now,
        shared_at=now if publishable else None,
        attachments=[{"filename": a.filename, "content_type": a.content_type, "size": a.size,
                      "kept": bool(a.content)} for a in attachments])
    for a in attachments:
        if a.content:
            await StoryAttachment.create(story=story, filename=a.filename[:255],
                                         content_type=a.content_type[:255], size=a.size,
                                         content=a.content)
    for link in links:
        key = url_key(link.url)
        if not await Resource.exists(cohort_id=cohort_id, url_key=key):
            await Resource.create(cohort_id=cohort_id, url=link.url[:2048], url_key=key,
                                  title=link.title[:500] or link.url, participant=participant,
                                  story=story, created_at=now)
    return story


async def calendar_sequence_of(participant: Participant, uid: str) -> int | None:
    """The SEQUENCE the participant's calendar last received (None: never invited)."""
    copy = await CalendarCopy.get_or_none(participant=participant, uid=uid)
    return copy.sequence if copy else None


async def record_rsvp(participant: Participant, uid: str, occurrence: str, partstat: str,
                      comment: str | None, sequence: int, now: datetime) -> None:
    """The participant's answer for the series (``occurrence`` "") or one check-in."""
    await Rsvp.update_or_create(
        participant=participant, uid=uid, recurrence_key=occurrence,
        defaults={"partstat": partstat, "comment": comment, "sequence": sequence,
                  "updated_at": now})
