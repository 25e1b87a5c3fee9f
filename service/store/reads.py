"""Reads for reports (``status``) and the digest: plain data out, a few queries per
cohort, none per participant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.functions import Count, Max
from tortoise.queryset import QuerySet

from service.core.engagement import AwayEvent
from service.core.states import InboundState, OutboxState
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

__all__ = ["CohortFacts", "Delivery", "DigestFacts", "Refused", "cohort_facts", "delivery_facts",
           "digest_facts", "schema_version", "shared_resources", "shared_stories"]

ATTENTION_KINDS = ("unknown_sender", "invalid", "counter")


@dataclass(frozen=True)
class Refused:
    """An outbox row that failed: refused for good (a 5xx) or given up after retries."""

    id: int
    rcpt: str
    kind: str
    error: str
    at: datetime  # when it was queued


@dataclass(frozen=True)
class Delivery:
    """What the outbox says about reaching people: the rows that failed, and for each
    address the id of the newest row sent to it (a later success clears a refusal)."""

    failed: list[Refused]
    last_delivered: dict[str, int]  # rcpt (lower-cased) -> newest sent row id


@dataclass(frozen=True)
class CohortFacts:
    participants: list[Participant]
    rsvps: dict[int, dict[str, str]]  # participant id -> {recurrence key ("" series): PARTSTAT}
    answered: dict[int, set[int]]  # participant id -> check-in numbers with a story
    skipped: dict[int, set[int]]  # participant id -> check-in numbers they skipped
    away: dict[int, list[AwayEvent]]  # participant id -> their pause, stop, resume events
    stories: dict[int, int]  # participant id -> how many stories
    last_reply: dict[int, datetime]
    outbox: dict[str, int]  # state -> rows
    delivery: Delivery
    attention: int  # inbound messages kept for a person


async def cohort_facts(cohort_id: str) -> CohortFacts:
    """Everything ``status`` shows, in a fixed number of queries whatever the number of
    participants and stories: counts and latest times are aggregated by the database."""
    people = list(await Participant.filter(cohort_id=cohort_id).order_by("id"))
    rsvps: dict[int, dict[str, str]] = {}
    for pid, key, partstat in await Rsvp.filter(participant__cohort_id=cohort_id).values_list(
            "participant_id", "recurrence_key", "partstat"):
        rsvps.setdefault(int(pid), {})[str(key)] = str(partstat)
    stories: dict[int, int] = {}
    last: dict[int, datetime] = {}
    for pid, n, received in await Story.filter(cohort_id=cohort_id).annotate(
            n=Count("id"), last=Max("received_at")).group_by("participant_id").values_list(
            "participant_id", "n", "last"):
        stories[int(pid)] = int(n)
        if received is not None:
            last[int(pid)] = received
    answered: dict[int, set[int]] = {}
    for pid, number in await Story.filter(cohort_id=cohort_id, checkin_number__isnull=False).group_by(
            "participant_id", "checkin_number").values_list("participant_id", "checkin_number"):
        answered.setdefault(int(pid), set()).add(int(number))
    skipped, away = _skips_and_away(await Action.filter(
        cohort_id=cohort_id, kind__in=["skip", *AWAY_KINDS], participant_id__isnull=False
    ).order_by("done_at").values_list("participant_id", "kind", "checkin_number", "done_at", "note"))
    outbox = {str(state): int(n) for state, n in await OutboxMessage.filter(cohort_id=cohort_id)
              .annotate(n=Count("id")).group_by("state").values_list("state", "n")}
    delivery = await delivery_facts(cohort_id)
    # Those left in the inbox (a stranger's mail in a shared mailbox) are not in the folder.
    attention = await InboundMessage.filter(cohort_id=cohort_id, kind__in=ATTENTION_KINDS).exclude(
        state=InboundState.LEFT).count()
    return CohortFacts(people, rsvps, answered, skipped, away, stories, last, outbox, delivery,
                       attention)


AWAY_KINDS = ("pause", "stop", "resume")


def _skips_and_away(rows: list[tuple[Any, ...]]) -> tuple[dict[int, set[int]], dict[int, list[AwayEvent]]]:
    skipped: dict[int, set[int]] = {}
    away: dict[int, list[AwayEvent]] = {}
    for pid, kind, number, done_at, note in rows:
        if kind == "skip":
            if number is not None:
                skipped.setdefault(int(pid), set()).add(int(number))
        elif kind in AWAY_KINDS:
            away.setdefault(int(pid), []).append((done_at, kind, _until(note)))
    return skipped, away


def _until(note: str | None) -> datetime | None:
    """A pause's end, as its action's note keeps it (ISO 8601; "" until "resume")."""
    if not note:
        return None
    try:
        until = datetime.fromisoformat(note)
    except ValueError:
        return None
    return until if until.tzinfo else until.replace(tzinfo=UTC)


async def delivery_facts(cohort_id: str) -> Delivery:
    """The cohort's failed outbox rows and its newest delivery per address (two queries)."""
    failed = [Refused(int(i), str(rcpt), str(kind), str(error), at) for i, rcpt, kind, error, at in
              await OutboxMessage.filter(cohort_id=cohort_id, state=OutboxState.FAILED)
              .order_by("id").values_list("id", "rcpt", "kind", "last_error", "created_at")]
    last: dict[str, int] = {}
    for rcpt, newest in await OutboxMessage.filter(cohort_id=cohort_id, state=OutboxState.SENT).annotate(
            newest=Max("id")).group_by("rcpt").values_list("rcpt", "newest"):
        address = str(rcpt).lower()
        last[address] = max(last.get(address, 0), int(newest))
    return Delivery(failed, last)


# --- the digest -----------------------------------------------------------------------

@dataclass(frozen=True)
class SharedStory:
    participant_id: int
    checkin: int | None
    text: str
    received_at: datetime
    story_id: int = 0
    replies: int = 1  # more than one: grown by a second reply or an edit


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
    left: bool = False  # left in the inbox (not moved to circleback/needs-attention)


@dataclass(frozen=True)
class DigestFacts:
    """What one cohort's digest is made of, for the window (start, end]."""

    start: datetime
    people: dict[int, Participant]  # every participant of the cohort
    stories: list[SharedStory]  # published in the window (never a private one)
    resources: list[SharedResource]  # from those stories
    answers: dict[int, str]  # participant id -> PARTSTAT for the next check-in
    answered_recently: dict[int, set[int]]  # participant id -> which of ``recent`` they answered
    inbound: list[Inbound]  # kept for a person, received in the window
    # (participant id, comment, recurrence key: "" the series) declined in the window
    declines: list[tuple[int, str | None, str]]
    wishes: list[tuple[int, str]]  # (participant id, "another-round" | "wrap-up")
    private: list[tuple[int, str]]  # (participant id, text) private stories of the window
    skips: list[tuple[int, int]]  # (participant id, check-in number) skipped in the window
    # (participant id, pause | stop | resume, a pause's end) in the window, oldest first
    away: list[tuple[int, str, datetime | None]]
    delivery: Delivery  # for the addresses refused for good (whenever that was)
    skipped: dict[int, set[int]]  # participant id -> every check-in they skipped
    away_events: dict[int, list[AwayEvent]]  # participant id -> every pause, stop, resume


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def shared_stories(cohort_id: str) -> QuerySet[Story]:
    """The cohort's stories everyone in it may read: never a private one, never one held
    back for its author's consent (``shared_at`` is set when a story becomes publishable).
    The one rule the digest and the cohort book share."""
    return Story.filter(cohort_id=cohort_id, private=False, shared_at__isnull=False)


def shared_resources(cohort_id: str) -> QuerySet[Resource]:
    """A link is shared when its story is: never from a private or not-yet-shared story."""
    return Resource.filter(cohort_id=cohort_id, story__private=False,
                           story__shared_at__isnull=False)


async def digest_facts(cohort_id: str, end: datetime, *, next_occurrence: str | None,
                       recent: list[int]) -> DigestFacts:
    """``next_occurrence``: the next check-in's key (its answers override the series');
    ``recent``: the check-ins that count for "gone quiet"."""
    last = await Digest.filter(cohort_id=cohort_id).order_by("-period_end").first()
    start = last.period_end if last is not None else EPOCH
    people = {p.id: p for p in await Participant.filter(cohort_id=cohort_id)}
    # shared_at, not received_at: a story held back for consent joins the digest after its
    # author says "share"; private stories never have one.
    stories = [SharedStory(int(pid), number, text, received, int(sid), int(replies))
               for pid, number, text, received, sid, replies in
               await shared_stories(cohort_id).filter(shared_at__gt=start, shared_at__lte=end)
               .order_by("shared_at").values_list(
                   "participant_id", "checkin_number", "text", "received_at", "id", "replies")]
    resources = [SharedResource(int(pid), url, title) for pid, url, title in
                 await shared_resources(cohort_id).filter(story__shared_at__gt=start,
                                                          story__shared_at__lte=end)
                 .order_by("created_at").values_list("participant_id", "url", "title")]
    answers: dict[int, str] = {}
    if next_occurrence is not None:
        for pid, partstat in await Rsvp.filter(
                participant__cohort_id=cohort_id,
                recurrence_key__in=["", next_occurrence]).order_by("recurrence_key").values_list(
                "participant_id", "partstat"):
            answers[int(pid)] = str(partstat)  # the occurrence's own answer comes last: it wins
    answered: dict[int, set[int]] = {}
    if recent:
        for pid, number in await Story.filter(cohort_id=cohort_id, checkin_number__in=recent).group_by(
                "participant_id", "checkin_number").values_list("participant_id", "checkin_number"):
            answered.setdefault(int(pid), set()).add(int(number))
    inbound = [Inbound(kind, from_addr, subject, state == InboundState.LEFT)
               for kind, from_addr, subject, state in
               await InboundMessage.filter(cohort_id=cohort_id, received_at__gt=start,
                                           kind__in=ATTENTION_KINDS).order_by("id").values_list(
                   "kind", "from_addr", "subject", "state")]
    declines = [(int(pid), comment, str(key)) for pid, comment, key in await Rsvp.filter(
        participant__cohort_id=cohort_id, partstat="DECLINED", updated_at__gt=start
    ).order_by("updated_at").values_list("participant_id", "comment", "recurrence_key")]
    wishes = [(int(pid), str(note)) for pid, note in await Action.filter(
        cohort_id=cohort_id, kind="round", done_at__gt=start, participant_id__isnull=False
    ).values_list("participant_id", "note")]
    private = [(int(pid), str(text)) for pid, text in await Story.filter(
        cohort_id=cohort_id, private=True, received_at__gt=start, received_at__lte=end
    ).order_by("received_at").values_list("participant_id", "text")]
    rows = await Action.filter(
        cohort_id=cohort_id, kind__in=["skip", *AWAY_KINDS], participant_id__isnull=False,
        done_at__lte=end).order_by("done_at").values_list(
        "participant_id", "kind", "checkin_number", "done_at", "note")
    skipped, away_events = _skips_and_away(rows)
    skips = [(int(pid), int(number)) for pid, kind, number, at, _ in rows
             if kind == "skip" and number is not None and at > start]
    away = [(int(pid), str(kind), _until(note)) for pid, kind, _, at, note in rows
            if kind in AWAY_KINDS and at > start]
    return DigestFacts(start, people, stories, resources, answers, answered, inbound, declines,
                       wishes, private, skips, away, await delivery_facts(cohort_id), skipped,
                       away_events)
