"""Reads for reports (``status``) and the digest: plain data out, a few queries per
cohort, none per participant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from service.core.states import OutboxState
from service.store.db import schema_version
from service.store.models import (
    Action,
    Digest,
    InboundMessage,
    OutboxMessage,
    Participant,
    Resource,
    Rsvp,
    Story,
)

__all__ = ["CohortFacts", "DigestFacts", "Refused", "cohort_facts", "digest_facts", "schema_version"]

ATTENTION_KINDS = ("unknown_sender", "invalid", "counter")


@dataclass(frozen=True)
class Refused:
    rcpt: str
    kind: str
    error: str
    at: datetime


@dataclass(frozen=True)
class CohortFacts:
    participants: list[Participant]
    rsvps: dict[int, dict[str, str]]  # participant id -> {recurrence key ("" series): PARTSTAT}
    answered: dict[int, set[int]]  # participant id -> check-in numbers with a story
    skipped: dict[int, set[int]]  # participant id -> check-in numbers they skipped
    stories: dict[int, int]  # participant id -> how many stories
    last_reply: dict[int, datetime]
    outbox: dict[str, int]  # state -> rows
    refused: list[Refused]
    attention: int  # inbound messages kept for a person


async def cohort_facts(cohort_id: str) -> CohortFacts:
    people = list(await Participant.filter(cohort_id=cohort_id).order_by("id"))
    rsvps: dict[int, dict[str, str]] = {}
    for pid, key, partstat in await Rsvp.filter(participant__cohort_id=cohort_id).values_list(
            "participant_id", "recurrence_key", "partstat"):
        rsvps.setdefault(int(pid), {})[str(key)] = str(partstat)
    answered: dict[int, set[int]] = {}
    stories: dict[int, int] = {}
    last: dict[int, datetime] = {}
    for pid, number, received in await Story.filter(cohort_id=cohort_id).values_list(
            "participant_id", "checkin_number", "received_at"):
        pid = int(pid)
        stories[pid] = stories.get(pid, 0) + 1
        if number is not None:
            answered.setdefault(pid, set()).add(int(number))
        if pid not in last or received > last[pid]:
            last[pid] = received
    skipped: dict[int, set[int]] = {}
    for pid, number in await Action.filter(cohort_id=cohort_id, kind="skip",
                                           participant_id__isnull=False).values_list(
            "participant_id", "checkin_number"):
        if number is not None:
            skipped.setdefault(int(pid), set()).add(int(number))
    outbox: dict[str, int] = {}
    for state in await OutboxMessage.filter(cohort_id=cohort_id).values_list("state", flat=True):
        outbox[str(state)] = outbox.get(str(state), 0) + 1
    refused = [Refused(r.rcpt, r.kind, r.last_error, r.created_at) for r in
               await OutboxMessage.filter(cohort_id=cohort_id, state=OutboxState.FAILED)
               .order_by("id")]
    attention = await InboundMessage.filter(cohort_id=cohort_id, kind__in=ATTENTION_KINDS).count()
    return CohortFacts(people, rsvps, answered, skipped, stories, last, outbox, refused, attention)


# --- the digest -----------------------------------------------------------------------

@dataclass(frozen=True)
class SharedStory:
    participant_id: int
    checkin: int | None
    text: str
    received_at: datetime


@dataclass(frozen=True)
class SharedResource:
    participant_id: int
    url: str
    title: str


@dataclass(frozen=True)
class Inbound:
    kind: str
    from_addr: str
    subject: str


@dataclass(frozen=True)
class DigestFacts:
    """What one cohort's digest is made of, for the window (start, end]."""

    start: datetime
    people: dict[int, Participant]  # every participant of the cohort
    stories: list[SharedStory]  # published in the window (never a private one)
    resources: list[SharedResource]  # from those stories
    answers: dict[int, str]  # participant id -> PARTSTAT for the next check-in
    answered_recently: set[int]  # participant ids with a story for one of ``recent``
    inbound: list[Inbound]  # kept for a person, received in the window
    declines: list[tuple[int, str | None]]  # (participant id, comment) declined in the window
    wishes: list[tuple[int, str]]  # (participant id, "another-round" | "wrap-up")
    private: list[tuple[int, str]]  # (participant id, text) private stories of the window


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


async def digest_facts(cohort_id: str, end: datetime, *, next_occurrence: str | None,
                       recent: list[int]) -> DigestFacts:
    """``next_occurrence``: the next check-in's key (its answers override the series');
    ``recent``: the check-ins that count for "gone quiet"."""
    last = await Digest.filter(cohort_id=cohort_id).order_by("-period_end").first()
    start = last.period_end if last is not None else EPOCH
    people = {p.id: p for p in await Participant.filter(cohort_id=cohort_id)}
    # shared_at, not received_at: a story held back for consent joins the digest after its
    # author says "share"; private stories never have one.
    stories = [SharedStory(int(pid), number, text, received) for pid, number, text, received in
               await Story.filter(cohort_id=cohort_id, shared_at__gt=start, shared_at__lte=end,
                                  private=False).order_by("shared_at").values_list(
                   "participant_id", "checkin_number", "text", "received_at")]
    # A link is shared when its story is: never from a private or not-yet-shared story.
    resources = [SharedResource(int(pid), url, title) for pid, url, title in
                 await Resource.filter(cohort_id=cohort_id, story__shared_at__gt=start,
                                       story__shared_at__lte=end).order_by("created_at")
                 .values_list("participant_id", "url", "title")]
    answers: dict[int, str] = {}
    if next_occurrence is not None:
        for pid, partstat in await Rsvp.filter(
                participant__cohort_id=cohort_id,
                recurrence_key__in=["", next_occurrence]).order_by("recurrence_key").values_list(
                "participant_id", "partstat"):
            answers[int(pid)] = str(partstat)  # the occurrence's own answer comes last: it wins
    answered: set[int] = set()
    if recent:
        rows = await Story.filter(cohort_id=cohort_id, checkin_number__in=recent).values_list(
            "participant_id", "checkin_number")
        answered = {int(pid) for pid, _ in rows}
    inbound = [Inbound(kind, from_addr, subject) for kind, from_addr, subject in
               await InboundMessage.filter(cohort_id=cohort_id, received_at__gt=start,
                                           kind__in=ATTENTION_KINDS).order_by("id").values_list(
                   "kind", "from_addr", "subject")]
    declines = [(int(pid), comment) for pid, comment in await Rsvp.filter(
        participant__cohort_id=cohort_id, partstat="DECLINED", updated_at__gt=start
    ).values_list("participant_id", "comment")]
    wishes = [(int(pid), str(note)) for pid, note in await Action.filter(
        cohort_id=cohort_id, kind="round", done_at__gt=start, participant_id__isnull=False
    ).values_list("participant_id", "note")]
    private = [(int(pid), str(text)) for pid, text in await Story.filter(
        cohort_id=cohort_id, private=True, received_at__gt=start, received_at__lte=end
    ).order_by("received_at").values_list("participant_id", "text")]
    return DigestFacts(start, people, stories, resources, answers, answered, inbound, declines,
                       wishes, private)
