"""Participants in the database: the roster synced from the config, the plan's view of
each participant, and every change of a participant's status or bounce state (the only
module that writes them, each a guarded update)."""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from service.config import ParticipantConfig
from service.core.plan import ParticipantState
from service.core.rules import Standing
from service.core.series import Shape
from service.core.states import BounceState, ParticipantStatus
from service.store.models import Action, CalendarCopy, Participant, Story

log = logging.getLogger("circleback")

__all__ = [
    "BounceOutcome",
    "Roster",
    "consent",
    "end_pause",
    "participant_by_email",
    "participant_by_id",
    "participant_states",
    "participants_of",
    "pause",
    "record_bounce",
    "reset_bounce",
    "resume",
    "roster",
    "set_goal",
    "standing",
    "stop",
    "sync_participants",
    "unstop",
]

SOFT_BOUNCE_LIMIT = 3
_ACTIVE, _PAUSED = ParticipantStatus.ACTIVE, ParticipantStatus.PAUSED
_STOPPED, _REMOVED = ParticipantStatus.STOPPED, ParticipantStatus.REMOVED


@dataclass(frozen=True)
class Roster:
    """What a sync changed: who joined, came back, or left."""

    joined: tuple[Participant, ...] = ()
    returned: tuple[Participant, ...] = ()
    left: tuple[Participant, ...] = ()


async def sync_participants(cohort_id: str, listed: Collection[ParticipantConfig],
                            now: datetime) -> Roster:
    """Bring the cohort's participants in line with the config.

    New entries are added, entries that left the config are marked removed (never
    deleted: their stories stay), and names and zones follow the config. Daemons starting
    together on one database add the same people at the same moment: the one whose insert
    lost reads the roster again (the winner's rows are committed by then) and carries on."""
    for attempt in range(3):
        try:
            return await _sync_participants(cohort_id, listed, now)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def _sync_participants(cohort_id: str, listed: Collection[ParticipantConfig],
                             now: datetime) -> Roster:
    joined: list[Participant] = []
    returned: list[Participant] = []
    left: list[Participant] = []
    async with in_transaction():
        existing = {p.email: p for p in await Participant.filter(cohort_id=cohort_id)}
        emails = set()
        for pc in listed:
            emails.add(pc.email)
            p = existing.get(pc.email)
            if p is None:
                joined.append(await Participant.create(
                    cohort_id=cohort_id, email=pc.email, name=pc.name, timezone=pc.timezone,
                    joined_at=now))
                continue
            if p.name != pc.name or p.timezone != pc.timezone:
                await Participant.filter(id=p.id).update(name=pc.name, timezone=pc.timezone)
            if p.status == _REMOVED and await Participant.filter(id=p.id, status=_REMOVED).update(
                    status=_ACTIVE, removed_at=None):
                returned.append(p)
        for email, p in existing.items():
            if email not in emails and await Participant.filter(id=p.id).exclude(
                    status=_REMOVED).update(status=_REMOVED, removed_at=now):
                left.append(p)
    return Roster(tuple(joined), tuple(returned), tuple(left))


async def participant_states(cohort_id: str, series_uid: str) -> list[ParticipantState]:
    """The plan's view of every participant of the cohort, in four queries."""
    replied: dict[int, set[int]] = {}
    rows = await Story.filter(cohort_id=cohort_id, checkin_number__isnull=False).values_list(
        "participant_id", "checkin_number")
    for pid, number in rows:
        replied.setdefault(int(pid), set()).add(int(number))
    skips = await Action.filter(cohort_id=cohort_id, kind="skip", participant_id__isnull=False,
                                checkin_number__isnull=False).values_list(
        "participant_id", "checkin_number")
    for pid, number in skips:
        replied.setdefault(int(pid), set()).add(int(number))
    copies = {int(c.participant_id): c for c in  # type: ignore[attr-defined]
              await CalendarCopy.filter(participant__cohort_id=cohort_id, uid=series_uid)}
    out = []
    for p in await Participant.filter(cohort_id=cohort_id).order_by("id"):
        copy = copies.get(p.id)
        out.append(ParticipantState(
            email=p.email, status=p.status, paused_until=p.paused_until,
            bounce_state=p.bounce_state, joined_at=p.joined_at,
            replied=frozenset(replied.get(p.id, ())), timezone=p.timezone,
            calendar=Shape.from_json(copy.shape) if copy else None,
            calendar_sequence=copy.sequence if copy else 0,
            calendar_at=copy.updated_at if copy else None))
    return out


def standing(p: Participant) -> Standing:
    """What ``service.core.rules.may_receive`` needs to know of a participant."""
    return Standing(ParticipantStatus(p.status), BounceState(p.bounce_state), p.paused_until)


# --- transitions: each a guarded update, its row count checked --------------------------

async def pause(p: Participant, until: datetime | None) -> bool:
    """active | paused -> paused (until a date, or until they say "resume")."""
    n = await Participant.filter(id=p.id, status__in=[_ACTIVE, _PAUSED]).update(
        status=_PAUSED, paused_until=until)
    return _took(n, p, "paused")


async def resume(p: Participant) -> bool:
    """paused | stopped -> active (a participant who said "stop" may come back)."""
    n = await Participant.filter(id=p.id, status__in=[_PAUSED, _STOPPED, _ACTIVE]).update(
        status=_ACTIVE, paused_until=None)
    return _took(n, p, "active")


async def end_pause(p: Participant) -> bool:
    """paused -> active: the facilitator's `participants resume` (never un-stops anyone)."""
    n = await Participant.filter(id=p.id, status=_PAUSED).update(status=_ACTIVE, paused_until=None)
    return _took(n, p, "active")


async def unstop(p: Participant) -> bool:
    """stopped -> active: the facilitator's `participants unstop`, for someone who said
    "stop" and asked to come back."""
    n = await Participant.filter(id=p.id, status=_STOPPED).update(status=_ACTIVE, paused_until=None)
    return _took(n, p, "active")


async def reset_bounce(p: Participant) -> bool:
    """soft | hard -> ok, the count of soft bounces back to 0: the facilitator's
    `participants reset-bounce`, once the address works again."""
    n = await Participant.filter(id=p.id, bounce_state__in=[BounceState.SOFT, BounceState.HARD]
                                 ).update(bounce_state=BounceState.OK, soft_bounces=0)
    if n != 1:
        log.info("%s <%s> has no bounces to forget.", p.name, p.email)
    return n == 1


async def stop(p: Participant) -> bool:
    """active | paused -> stopped: no more mail (a "stop" reply or one-click unsubscribe)."""
    n = await Participant.filter(id=p.id, status__in=[_ACTIVE, _PAUSED]).update(
        status=_STOPPED, paused_until=None)
    return _took(n, p, "stopped")


async def consent(p: Participant, now: datetime) -> None:
    """They said "share": their stories held back for consent join the next digest
    (private ones stay private)."""
    await Participant.filter(id=p.id).update(consented=True)
    await Story.filter(participant_id=p.id, shared_at__isnull=True, private=False).update(
        shared_at=now)


async def set_goal(p: Participant, goal: str) -> None:
    """Their week-1 goal, once (the first one counts)."""
    await Participant.filter(id=p.id, goal__isnull=True).update(goal=goal)


@dataclass(frozen=True)
class BounceOutcome:
    state: BounceState
    soft_bounces: int
    newly_hard: bool  # the address has just become undeliverable: tell the facilitator


async def record_bounce(p: Participant, hard: bool) -> BounceOutcome:
    """ok | soft -> soft | hard. A hard bounce, or the third soft one, stops mail. The count
    is an atomic increment and the move to hard a guarded update, so two daemons recording
    bounces at once count each, and only one of them is told the address just went hard."""
    if not hard:
        await Participant.filter(id=p.id).update(soft_bounces=F("soft_bounces") + 1)
    soft = (await Participant.get(id=p.id)).soft_bounces
    newly_hard = False
    if hard or soft >= SOFT_BOUNCE_LIMIT:
        newly_hard = await Participant.filter(id=p.id).exclude(bounce_state=BounceState.HARD).update(
            bounce_state=BounceState.HARD) == 1
    else:
        await Participant.filter(id=p.id, bounce_state=BounceState.OK).update(
            bounce_state=BounceState.SOFT)
    state = (await Participant.get(id=p.id)).bounce_state
    return BounceOutcome(BounceState(state), soft, newly_hard)


async def address_refused(participant_id: int) -> bool:
    """The SMTP server refused this participant's address for good (5xx at RCPT): treated
    as a hard bounce, so nothing more is queued for them until the facilitator fixes the
    address and says `participants reset-bounce`. True when this call made it so."""
    return await Participant.filter(id=participant_id).exclude(
        bounce_state=BounceState.HARD).update(bounce_state=BounceState.HARD) == 1


def _took(n: int, p: Participant, what: str) -> bool:
    if n != 1:
        log.info("%s <%s> is %s already, or may not become %s now.", p.name, p.email,
                 p.status, what)
    return n == 1


async def participant_by_email(cohort_id: str, email: str) -> Participant | None:
    return await Participant.get_or_none(cohort_id=cohort_id, email=email.lower())


async def participant_by_id(participant_id: int) -> Participant | None:
    return await Participant.get_or_none(id=participant_id)


async def roster(cohort_id: str) -> dict[str, Participant]:
    """Every participant of the cohort (removed ones too), by email."""
    return {p.email: p for p in await Participant.filter(cohort_id=cohort_id).order_by("id")}


async def participants_of(cohort_ids: Collection[str]) -> dict[int, tuple[str, str]]:
    """id -> (cohort id, email) for the participants of these cohorts, in one query."""
    rows = await Participant.filter(cohort_id__in=list(cohort_ids)).values_list(
        "id", "cohort_id", "email")
    return {int(pid): (str(cid), str(email)) for pid, cid, email in rows}
