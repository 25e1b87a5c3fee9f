"""The weekly digest: gather what happened since the last one, compose a copy for each
participant (and the facilitator's, with the private section), queue them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.transactions import in_transaction

from service.compose import (
    CheckinView,
    DigestView,
    FacilitatorSection,
    ResourceView,
    StoryView,
    compose_digest,
)
from service.core import keys
from service.core.rules import may_receive
from service.core.schedule import checkins, digest_slots, question_for
from service.core.series import utc_key
from service.flows.cohort import Cohort
from service.store.actions import AlreadyDone, record_action
from service.store.models import Action, Digest, InboundMessage, Participant, Resource, Rsvp, Story
from service.store.outbox import enqueue
from service.store.participants import standing

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


async def period_start(cohort: Cohort) -> datetime:
    last = await Digest.filter(cohort_id=cohort.id).order_by("-period_end").first()
    if last is not None:
        return last.period_end
    return datetime(1970, 1, 1, tzinfo=UTC)


async def gather(cohort: Cohort, now: datetime) -> DigestContent:
    """Everything the digest says, read from the database (no mail is composed here)."""
    start = await period_start(cohort)
    people = {p.id: p for p in await Participant.filter(cohort_id=cohort.id)}
    # shared_at, not received_at: a story held back for consent joins the digest after
    # its author says "share"; private stories never have one.
    stories = await Story.filter(cohort_id=cohort.id, shared_at__gt=start, shared_at__lte=now,
                                 private=False).order_by("shared_at")
    # A link is shared when its story is: never from a private or not-yet-shared story.
    resources = await Resource.filter(cohort_id=cohort.id, story__shared_at__gt=start,
                                      story__shared_at__lte=now).order_by("created_at")
    series = checkins(cohort.config.checkins)
    upcoming = [c for c in series if c.start.astimezone(UTC) > now]
    next_view = None
    next_prompt = None
    accepted: tuple[str, ...] = ()
    if upcoming:
        nxt = upcoming[0]
        next_view = CheckinView(number=nxt.number, start=nxt.start, end=nxt.end,
                                location=cohort.config.checkins.location)
        next_prompt = question_for(cohort.config, nxt.number)
        key = utc_key(nxt.original_start)
        rsvps = await Rsvp.filter(participant__cohort_id=cohort.id,
                                  recurrence_key__in=["", key]).order_by("recurrence_key")
        status: dict[int, str] = {}
        for r in rsvps:  # the occurrence's own answer overrides the series answer
            status[r.participant_id] = r.partstat  # type: ignore[attr-defined]
        accepted = tuple(sorted(people[pid].name for pid, s in status.items()
                                if s == "ACCEPTED" and people[pid].status != "removed"))
    view = DigestView(
        cohort_name=cohort.config.cohort.name, period_start=start, period_end=now,
        stories=tuple(StoryView(participant_name=people[s.participant_id].name,  # type: ignore[attr-defined]
                                checkin_number=s.checkin_number, text=s.text,
                                received_at=s.received_at) for s in stories),
        resources=tuple(ResourceView(url=r.url, title=r.title,
                                     shared_by=people[r.participant_id].name)  # type: ignore[attr-defined]
                        for r in resources),
        next_checkin=next_view, next_prompt=next_prompt, accepted=accepted,
    )
    return DigestContent(view=view, facilitator=await facilitator_section(cohort, start, now),
                         period_start=start, period_end=now)


async def facilitator_section(cohort: Cohort, start: datetime, now: datetime) -> FacilitatorSection:
    """Only the facilitator's copy says who has gone quiet, bounced, or wrote from outside."""
    series = checkins(cohort.config.checkins)
    past = [c.number for c in series if c.start.astimezone(UTC) <= now][-2:]
    people = await Participant.filter(cohort_id=cohort.id).exclude(status="removed")
    quiet = []
    if past:
        for p in people:
            if not await Story.exists(participant_id=p.id, checkin_number__in=past):
                quiet.append(p.name)
    bounces = [f"{p.name} <{p.email}> ({p.bounce_state} bounce)" for p in people
               if p.bounce_state != "ok"]
    inbound = await InboundMessage.filter(cohort_id=cohort.id, received_at__gt=start,
                                          kind__in=["unknown_sender", "counter", "invalid"])
    strangers = [f"{m.from_addr or 'no sender'} (“{m.subject[:80]}”)" for m in inbound
                 if m.kind == "unknown_sender"]
    counters = [m for m in inbound if m.kind == "counter"]
    unreadable = [m for m in inbound if m.kind == "invalid"]
    declines = await Rsvp.filter(participant__cohort_id=cohort.id, partstat="DECLINED",
                                 updated_at__gt=start).prefetch_related("participant")
    notes = [f"{d.participant.name} declined" + (f": “{d.comment}”" if d.comment else "")
             for d in declines]
    notes += [f"{m.from_addr} proposed another time for a check-in (nothing was changed)"
              for m in counters]
    if unreadable:
        notes.append(f"{len(unreadable)} message(s) could not be used; they are in the IMAP "
                     "folder circleback/needs-attention")
    names = {p.email: p.name for p in people}
    for action in await Action.filter(cohort_id=cohort.id, kind="round", done_at__gt=start):
        email = action.key.rsplit(":", 1)[-1]
        wish = "would like another round" if action.note == "another-round" else "is ready to wrap up"
        notes.append(f"{names.get(email, email)} {wish}")
    for story in await Story.filter(cohort_id=cohort.id, private=True, received_at__gt=start,
                                    received_at__lte=now).prefetch_related("participant"):
        notes.append(f"Private from {story.participant.name}: {story.text}")
    if cohort.config.cohort.stories_need_consent:
        waiting = [p.name for p in people if not p.consented]
        if waiting:
            notes.append("Not yet agreed to share their stories: " + ", ".join(waiting))
    return FacilitatorSection(quiet=tuple(quiet), bounces=tuple(bounces),
                              strangers=tuple(strangers), notes=tuple(notes))


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
        async with in_transaction():
            await record_action(cohort.id, key, "digest", now)
            await build_and_queue_digest(cohort, now, slot=slot)
    except AlreadyDone:
        return False
    return True


async def send_digest_now(cohort: Cohort) -> int:
    """``circleback digest --send-now``: compose and queue it now, even if nothing
    happened. Returns how many copies were queued."""
    now = cohort.clock.now()
    async with in_transaction():
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
        await Digest.create(cohort_id=cohort.id, slot=slot, period_start=content.period_start,
                            period_end=now, sent=False, created_at=now)
        log.info("Nothing was shared since the last digest, so none is sent this time.")
        return 0
    digest = await Digest.create(
        cohort_id=cohort.id, slot=slot, period_start=content.period_start, period_end=now,
        stories=len(content.view.stories), resources=len(content.view.resources), sent=True,
        created_at=now)
    queued = 0
    for p in await Participant.filter(cohort_id=cohort.id).order_by("id"):
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
