"""+1 reactions: recorded once per (story, participant), counted for the digest."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from tortoise.functions import Count

from service.store.models import Digest, Participant, Reaction, Story

__all__ = [
    "ReactedStory",
    "reacted_since",
    "reaction_counts",
    "reactions_window_start",
    "record_reaction",
]


async def record_reaction(cohort_id: str, story_id: int, participant: Participant,
                          now: datetime) -> bool:
    """The participant's +1 for a story of their cohort that was shared. False when it
    does not count: a story of another cohort, a private or unshared one, one's own (a +1
    on one's own story is not counted: the digest offers none), or a +1 given before.
    The unique (cohort, story, participant) keeps it once even when two copies of the
    message are handled at the same moment (INSERT ... ON CONFLICT DO NOTHING)."""
    story = await Story.get_or_none(id=story_id, cohort_id=cohort_id, private=False,
                                    shared_at__isnull=False)
    if story is None or story.participant_id == participant.id:  # type: ignore[attr-defined]
        return False
    if await Reaction.exists(cohort_id=cohort_id, story_id=story_id, participant_id=participant.id):
        return False
    await Reaction.bulk_create(
        [Reaction(cohort_id=cohort_id, story_id=story_id, participant_id=participant.id,
                  created_at=now)], ignore_conflicts=True)
    return True


async def reaction_counts(cohort_id: str, story_ids: Collection[int]) -> dict[int, int]:
    """Story id -> how many participants found it useful (stories without any left out)."""
    if not story_ids:
        return {}
    rows = await Reaction.filter(cohort_id=cohort_id, story_id__in=list(story_ids)).group_by(
        "story_id").annotate(n=Count("id")).values_list("story_id", "n")
    return {int(sid): int(n) for sid, n in rows}


async def reactions_window_start(cohort_id: str) -> datetime | None:
    """Where the +1s a digest reports begin: the end of the last digest that was sent
    (a digest skipped for a quiet week passes its +1s on to the next one)."""
    last = await Digest.filter(cohort_id=cohort_id, sent=True).order_by("-period_end").first()
    return last.period_end if last is not None else None


@dataclass(frozen=True)
class ReactedStory:
    story_id: int
    participant_id: int
    checkin: int | None
    text: str
    received_at: datetime


async def reacted_since(cohort_id: str, start: datetime | None, end: datetime) -> list[ReactedStory]:
    """Stories that received a +1 in (start, end], oldest story first."""
    query = Reaction.filter(cohort_id=cohort_id, created_at__lte=end)
    if start is not None:
        query = query.filter(created_at__gt=start)
    ids = set(await query.values_list("story_id", flat=True))
    if not ids:
        return []
    rows = await Story.filter(cohort_id=cohort_id, id__in=list(ids), private=False).order_by(
        "received_at").values_list("id", "participant_id", "checkin_number", "text", "received_at")
    return [ReactedStory(int(i), int(pid), n, str(text), received) for i, pid, n, text, received in rows]
