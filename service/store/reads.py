"""Reads for reports (``status``) and the digest: plain data out, a few queries per
cohort, none per participant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from service.core.states import OutboxState
from service.store.db import schema_version
from service.store.models import Action, InboundMessage, OutboxMessage, Participant, Rsvp, Story

__all__ = ["CohortFacts", "Refused", "cohort_facts", "schema_version"]

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
