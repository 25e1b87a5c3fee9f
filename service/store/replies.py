"""What participants' replies leave in the database: stories with their attachments and
the resources they shared, and calendar answers."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from service.store.models import (
    CalendarCopy,
    OutboxMessage,
    Participant,
    Resource,
    Rsvp,
    Story,
    StoryAttachment,
)

__all__ = ["NewAttachment", "NewLink", "StoryMode", "calendar_sequence_of", "prompted_checkin",
           "record_rsvp", "store_story"]


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


StoryMode = Literal["add", "replace"]


def _noted(attachments: Sequence[NewAttachment]) -> list[dict[str, object]]:
    return [{"filename": a.filename, "content_type": a.content_type, "size": a.size,
             "kept": bool(a.content)} for a in attachments]


async def store_story(*, cohort_id: str, participant: Participant, checkin: int | None,
                      message_key: str, text: str, cut: str, private: bool, publishable: bool,
                      attachments: Sequence[NewAttachment], links: Sequence[NewLink],
                      now: datetime, mode: StoryMode = "add") -> Story:
    """The participant's story for ``checkin``; its links become the cohort's resources
    (the first sharer is credited).

    One story per participant and check-in (private and shared ones apart): a second
    reply is appended to it (``add``), an "edit" reply (``replace``) replaces its text,
    files and links. Either way a story that may be published joins the next digest
    again, as it reads now. Without a check-in (no prompt yet) every reply is its own."""
    story = None
    if checkin is not None:
        query = Story.filter(cohort_id=cohort_id, participant_id=participant.id,
                             checkin_number=checkin)
        story = await (query if mode == "replace" else query.filter(private=private)) \
            .order_by("-id").first()
    if story is None:
        story = await Story.create(
            cohort_id=cohort_id, participant=participant, checkin_number=checkin,
            message_id=message_key, text=text, cut=cut, private=private, received_at=now,
            shared_at=now if publishable else None, attachments=_noted(attachments))
    else:
        story = await _grow(story, mode, text, cut, attachments, publishable, now)
    await _keep(story, cohort_id, participant, attachments, links, now)
    return story


async def _grow(story: Story, mode: StoryMode, text: str, cut: str,
                attachments: Sequence[NewAttachment], publishable: bool, now: datetime) -> Story:
    """Append to (or replace) ``story``, guarded: the row must still be as it was read."""
    if mode == "replace":
        changes: dict[str, object] = {"text": text, "cut": cut, "attachments": _noted(attachments)}
        await StoryAttachment.filter(story_id=story.id).delete()
        await Resource.filter(story_id=story.id).delete()
    else:
        changes = {"text": f"{story.text.rstrip()}\n\n{text.strip()}",
                   "cut": "\n\n".join(part for part in (story.cut, cut) if part),
                   "attachments": [*story.attachments, *_noted(attachments)]}
    # A private story stays private; a shared one comes back in the next digest, updated.
    shared_at = now if publishable and not story.private else story.shared_at
    changes |= {"replies": story.replies + 1, "updated_at": now, "shared_at": shared_at}
    updated = await Story.filter(id=story.id, replies=story.replies).update(**changes)
    if not updated:  # changed meanwhile (another copy of this message): read it again
        fresh = await Story.get(id=story.id)
        return await _grow(fresh, mode, text, cut, attachments, publishable, now)
    return await Story.get(id=story.id)


async def _keep(story: Story, cohort_id: str, participant: Participant,
                attachments: Sequence[NewAttachment], links: Sequence[NewLink],
                now: datetime) -> None:
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


async def prompted_checkin(cohort_id: str, participant: Participant,
                           message_ids: Collection[str]) -> int | None:
    """The check-in whose prompt or reminder to ``participant`` a reply refers to
    (In-Reply-To/References): a late answer still counts for the check-in it answers.
    The latest such check-in when it names several; None when it names none."""
    if not message_ids:
        return None
    numbers: list[int | None] = await OutboxMessage.filter(
        cohort_id=cohort_id, participant_id=participant.id, kind__in=["prompt", "reminder"],
        message_id__in=list(message_ids), checkin_number__isnull=False,
    ).values_list("checkin_number", flat=True)  # type: ignore[assignment]
    return max((int(n) for n in numbers if n is not None), default=None)


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
