"""The weekly digest: gather what happened since the last one, compose a copy for each
participant (and the facilitator's, with the private section), queue them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from service.compose import (
    BouncingAddress,
    CheckinView,
    Decline,
    DigestView,
    FacilitatorSection,
    PrivateStory,
    ResourceView,
    RoundWish,
    StoryView,
    Stranger,
    compose_digest,
)
from service.core import keys
from service.core.rules import may_receive
from service.core.schedule import Checkin, checkins, digest_slots, series_checkins
from service.core.series import utc_key
from service.core.states import BounceState, ParticipantStatus
from service.flows.cohort import Cohort
from service.store.actions import AlreadyDone, record_action
from service.store.db import transaction
from service.store.digests import record_digest
from service.store.models import Participant
from service.store.outbox import enqueue
from service.store.participants import roster, standing
from service.store.reads import EPOCH, DigestFacts, digest_facts

log = logging.getLogger("circleback.digest")


@dataclass(frozen=True)
class DigestContent:
    view: DigestView
    facilitator: FacilitatorSection
    period_start: datetime
    period_end: datetime

    @property
    def empty(self) -> bool:
        return not self.view.stories and not self.view.resources


async def gather(cohort: Cohort, now: datetime) -> DigestContent:
    """Everything the digest says: read from the store, then put in words' places."""
    series = checkins(cohort.config.checkins)
    upcoming = [c for c in series if c.start.astimezone(UTC) > now]
    recent = [c.number for c in series if c.start.astimezone(UTC) <= now][-2:]
    nxt = upcoming[0] if upcoming else None
    facts = await digest_facts(cohort.id, now, recent=recent,
                               next_occurrence=utc_key(nxt.original_start) if nxt else None)
    return digest_content(cohort, facts, now, nxt, bool(recent))


def shown_start(cohort: Cohort, facts: DigestFacts, now: datetime) -> datetime:
    """Where the period the digest names begins: the end of the last digest, or for the
    first one the cohort's first prompt (or its first story, if one came even earlier),
    never the beginning of time."""
    if facts.start != EPOCH:
        return facts.start
    series = series_checkins(cohort.config.checkins)
    candidates = [now] + [s.received_at for s in facts.stories]
    if series:
        candidates.append(series[0].start.astimezone(UTC) - cohort.config.checkins.prompt_before)
    return min(candidates)


def digest_content(cohort: Cohort, facts: DigestFacts, now: datetime, nxt: Checkin | None,
                   any_past: bool) -> DigestContent:
    """Pure: the views the templates render, from the facts of the window."""
    people = facts.people
    start = shown_start(cohort, facts, now)

    def name(pid: int) -> str:
        return people[pid].name  # participants are never deleted, only marked removed

    present = [p for p in people.values() if p.status != ParticipantStatus.REMOVED]
    accepted = tuple(sorted(name(pid) for pid, s in facts.answers.items()
                            if s == "ACCEPTED" and pid in people
                            and people[pid].status != ParticipantStatus.REMOVED))
    view = DigestView(
        cohort_name=cohort.config.cohort.name, period_start=start, period_end=now,
        stories=tuple(StoryView(participant_name=name(s.participant_id), checkin_number=s.checkin,
                                text=s.text, received_at=s.received_at) for s in facts.stories),
        resources=tuple(ResourceView(url=r.url, title=r.title, shared_by=name(r.participant_id))
                        for r in facts.resources),
        next_checkin=CheckinView(number=nxt.number, start=nxt.start, end=nxt.end,
                                 location=cohort.config.checkins.location) if nxt else None,
        next_prompt=cohort.question(nxt.number) if nxt else None,
        accepted=accepted,
    )
    facilitator = FacilitatorSection(
        # Only the facilitator's copy says who has gone quiet, bounced, or wrote from outside.
        quiet=tuple(p.name for p in present if any_past and p.id not in facts.answered_recently),
        bounces=tuple(BouncingAddress(p.name, p.email, str(p.bounce_state)) for p in present
                      if p.bounce_state != BounceState.OK),
        strangers=tuple(Stranger(m.from_addr, m.subject) for m in facts.inbound
                        if m.kind == "unknown_sender"),
        declines=tuple(Decline(name(pid), comment or None) for pid, comment in facts.declines),
        counters=tuple(m.from_addr for m in facts.inbound if m.kind == "counter"),
        unreadable=sum(1 for m in facts.inbound if m.kind == "invalid"),
        rounds=tuple(RoundWish(name(pid), "another-round" if wish == "another-round" else "wrap-up")
                     for pid, wish in facts.wishes),
        private_stories=tuple(PrivateStory(name(pid), text) for pid, text in facts.private),
        awaiting_consent=tuple(p.name for p in present if not p.consented)
        if cohort.config.cohort.stories_need_consent else (),
    )
    return DigestContent(view=view, facilitator=facilitator, period_start=start,
                         period_end=now)


def local_send_time(cohort: Cohort, p: Participant, now: datetime) -> datetime | None:
    """With ``[digest] local_time``: the participant's own weekday and time (the digest is
    composed when the first zone gets there). None: send now."""
    d = cohort.config.digest
    if not d.local_time:
        return None
    slots = digest_slots(d, p.timezone, now - timedelta(minutes=1), now + timedelta(days=8))
    return slots[0] if slots and slots[0] > now else None


async def send_scheduled_digest(cohort: Cohort, key: str, slot: datetime) -> bool:
    """The digest of one scheduled slot, once (the action's key guards it)."""
    now = cohort.clock.now()
    try:
        async with transaction():
            await record_action(cohort.id, key, "digest", now)
            await build_and_queue_digest(cohort, now, slot=slot)
    except AlreadyDone:
        return False
    return True


async def send_digest_now(cohort: Cohort) -> int:
    """``circleback digest --send-now``: compose and queue it now, even if nothing
    happened. Returns how many copies were queued."""
    now = cohort.clock.now()
    async with transaction():
        await record_action(cohort.id, keys.manual_digest_key(now), "digest", now)
        return await build_and_queue_digest(cohort, now, slot=now.astimezone(UTC), force=True)


async def build_and_queue_digest(cohort: Cohort, now: datetime, *, slot: datetime,
                                 force: bool = False) -> int:
    """Queue this digest for everyone who may get it now; returns how many copies were
    queued (0: nothing happened).

    Call inside a transaction: the Digest row and the outbox rows commit together.
    """
    content = await gather(cohort, now)
    if content.empty and not force and not cohort.config.digest.quiet_week_note:
        await record_digest(cohort.id, slot=slot, period_start=content.period_start,
                            period_end=now, stories=0, resources=0, sent=False, now=now)
        log.info("Nothing was shared since the last digest, so none is sent this time.")
        return 0
    digest = await record_digest(
        cohort.id, slot=slot, period_start=content.period_start, period_end=now,
        stories=len(content.view.stories), resources=len(content.view.resources), sent=True,
        now=now)
    queued = 0
    for p in (await roster(cohort.id)).values():
        if not may_receive(standing(p), "digest", now):
            continue
        message = compose_digest(
            sender=cohort.sender(), recipient=cohort.recipient(p), view=content.view,
            envelope=cohort.envelope(keys.digest_copy_seed(digest.id, p.email), listed=True,
                                     participant=p),
            now=now)
        await enqueue(message, cohort_id=cohort.id, kind="digest", now=now, participant=p,
                      mail_from=cohort.config.mail.address,
                      send_at=None if force else local_send_time(cohort, p, now))
        queued += 1
    message = compose_digest(
        sender=cohort.sender(), recipient=cohort.facilitator_recipient(), view=content.view,
        envelope=cohort.envelope(keys.digest_copy_seed(digest.id, None), listed=True),
        now=now, facilitator_section=content.facilitator)
    await enqueue(message, cohort_id=cohort.id, kind="digest", now=now,
                  mail_from=cohort.config.mail.address)
    log.info("Queued the digest (%d stories, %d resources) for %d participants and the facilitator.",
             len(content.view.stories), len(content.view.resources), queued)
    return queued + 1
