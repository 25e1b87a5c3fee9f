"""The weekly digest: gather what happened since the last one, compose a copy for each
participant (and the facilitator's, with the private section), queue them."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from service.compose import (
    BouncingAddress,
    CheckinView,
    Decline,
    DigestView,
    FacilitatorSection,
    Pause,
    PollView,
    PrivateStory,
    RefusedAddress,
    ResourceView,
    RoundWish,
    Skip,
    StoryView,
    Stranger,
    compose_digest,
)
from service.config import PollConfig
from service.core import keys, tokens
from service.core.engagement import (
    Member,
    PastCheckin,
    away_periods,
    gone_quiet,
    participant_state,
    paused_now,
    refused_addresses,
)
from service.core.polls import PollTimes, poll_times, tally
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
from service.store.polls import poll_votes
from service.store.reactions import ReactedStory, reacted_since, reaction_counts, reactions_window_start
from service.store.reads import EPOCH, DigestFacts, digest_facts

log = logging.getLogger("circleback.digest")


@dataclass(frozen=True)
class DigestContent:
    view: DigestView
    facilitator: FacilitatorSection
    period_start: datetime
    period_end: datetime
    facilitator_view: DigestView | None = None  # None: the participants' view (open polls too)
    # (story id, its participant's id) of each of view.stories, in their order
    authors: tuple[tuple[int, int], ...] = ()

    @property
    def empty(self) -> bool:
        # A poll that closed is news for everyone; +1s alone do not make a digest.
        return not self.view.stories and not self.view.resources and not self.view.polls


@dataclass(frozen=True)
class Participation:
    """What participants did besides their stories: +1s (story id -> how many) for the
    window's stories and for earlier ones that got a +1 since the last digest, and the
    polls to show (the facilitator's copy also shows those still open)."""

    found_useful: dict[int, int] = field(default_factory=dict)
    appreciated: tuple[ReactedStory, ...] = ()
    polls: tuple[PollView, ...] = ()  # closed since the last digest
    open_polls: tuple[PollView, ...] = ()  # the facilitator's copy only


async def participation(cohort: Cohort, facts: DigestFacts, now: datetime) -> Participation:
    """Read the +1s and poll votes the digest reports (a few queries, none per person)."""
    since = await reactions_window_start(cohort.id)
    shown = {s.story_id for s in facts.stories}
    earlier = tuple(r for r in await reacted_since(cohort.id, since, now) if r.story_id not in shown)
    counts = await reaction_counts(cohort.id, shown | {r.story_id for r in earlier})
    start = since or EPOCH
    timed = [(p, t) for p in cohort.config.polls if (t := poll_times(cohort.config, p))]
    closed = [(p, t) for p, t in timed if start < t.closes <= now]
    still_open = [(p, t) for p, t in timed if t.is_open(now)]
    votes = await poll_votes(cohort.id, [p.checkin for p, _ in closed + still_open])

    def view(items: list[tuple[PollConfig, PollTimes]], is_closed: bool) -> tuple[PollView, ...]:
        return tuple(PollView(p.question, p.options, t.closes, tally(p, votes[p.checkin]).counts,
                              closed=is_closed) for p, t in items)

    return Participation(counts, earlier, view(closed, True), view(still_open, False))


async def gather(cohort: Cohort, now: datetime) -> DigestContent:
    """Everything the digest says: read from the store, then put in words' places."""
    series = checkins(cohort.config.checkins)
    upcoming = [c for c in series if c.start.astimezone(UTC) > now]
    recent = [c.number for c in series if c.start.astimezone(UTC) <= now][-2:]
    nxt = upcoming[0] if upcoming else None
    facts = await digest_facts(cohort.id, now, recent=recent,
                               next_occurrence=utc_key(nxt.original_start) if nxt else None)
    return digest_content(cohort, facts, now, nxt, bool(recent),
                          await participation(cohort, facts, now))


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
                   any_past: bool, extra: Participation | None = None) -> DigestContent:
    """Pure: the views the templates render, from the facts of the window."""
    people = facts.people
    extra = extra or Participation()
    useful = extra.found_useful
    start = shown_start(cohort, facts, now)

    def name(pid: int) -> str:
        return people[pid].name  # participants are never deleted, only marked removed

    accepted = tuple(sorted(name(pid) for pid, s in facts.answers.items()
                            if s == "ACCEPTED" and pid in people
                            and people[pid].status != ParticipantStatus.REMOVED))
    view = DigestView(
        cohort_name=cohort.config.cohort.name, period_start=start, period_end=now,
        stories=tuple(StoryView(participant_name=name(s.participant_id), checkin_number=s.checkin,
                                text=s.text, received_at=s.received_at,
                                found_useful=useful.get(s.story_id, 0), updated=s.replies > 1)
                      for s in facts.stories),
        appreciated=tuple(StoryView(participant_name=name(r.participant_id), checkin_number=r.checkin,
                                    text=r.text, received_at=r.received_at,
                                    found_useful=useful.get(r.story_id, 0))
                          for r in extra.appreciated if useful.get(r.story_id)),
        polls=extra.polls,
        resources=tuple(ResourceView(url=r.url, title=r.title, shared_by=name(r.participant_id))
                        for r in facts.resources),
        next_checkin=CheckinView(number=nxt.number, start=nxt.start, end=nxt.end,
                                 location=cohort.config.checkins.location) if nxt else None,
        next_prompt=cohort.question(nxt.number) if nxt else None,
        accepted=accepted,
    )
    facilitator = facilitator_section(cohort, facts, now, any_past)
    return DigestContent(view=view, facilitator=facilitator, period_start=start,
                         period_end=now,
                         facilitator_view=replace(view, polls=extra.polls + extra.open_polls),
                         authors=tuple((s.story_id, s.participant_id) for s in facts.stories))


def facilitator_section(cohort: Cohort, facts: DigestFacts, now: datetime,
                        any_past: bool = True) -> FacilitatorSection:
    """Pure: what only the facilitator's copy says, as facts. "Gone quiet" and the states
    follow the rules ``circleback status`` follows (``service.core.engagement``)."""
    people = facts.people

    def name(pid: int) -> str:
        return people[pid].name  # participants are never deleted, only marked removed

    series = checkins(cohort.config.checkins)
    recent = [PastCheckin(c.number, c.start.astimezone(UTC)) for c in series
              if c.start.astimezone(UTC) <= now][-2:] if any_past else []
    occurrence = {utc_key(c.original_start): c.number
                  for c in series_checkins(cohort.config.checkins)}
    refused = refused_addresses(((f.id, f.rcpt, f.error) for f in facts.delivery.failed),
                                facts.delivery.last_delivered)
    states = {p.id: participant_state(str(p.status), str(p.bounce_state), p.paused_until,
                                      refused=p.email.lower() in refused, now=now)
              for p in people.values()}
    present = [p for p in people.values() if p.status != ParticipantStatus.REMOVED]

    def quiet(p: Participant) -> bool:
        return gone_quiet(Member(
            state=states[p.id], joined_at=p.joined_at, removed_at=p.removed_at,
            answered=frozenset(facts.answered_recently.get(p.id, ())),
            skipped=frozenset(facts.skipped.get(p.id, ())),
            away=away_periods(facts.away_events.get(p.id, ())),
            paused=paused_now(str(p.status), p.paused_until, now)), recent)

    # A participant's last word of the period counts: paused, then resumed, is neither.
    last_word: dict[int, tuple[str, datetime | None]] = {}
    for pid, kind, until in facts.away:
        last_word[pid] = (kind, until)
    owner = {p.email.lower(): p for p in people.values()}
    return FacilitatorSection(
        # Only the facilitator's copy says who has gone quiet, bounced, or wrote from outside.
        quiet=tuple(p.name for p in present if quiet(p)),
        bounces=tuple(BouncingAddress(p.name, p.email, str(p.bounce_state)) for p in present
                      if p.bounce_state != BounceState.OK),
        strangers=tuple(Stranger(m.from_addr, m.subject) for m in facts.inbound
                        if m.kind == "unknown_sender"),
        declines=tuple(Decline(name(pid), comment or None, occurrence.get(key))
                       for pid, comment, key in facts.declines),
        counters=tuple(m.from_addr for m in facts.inbound if m.kind == "counter"),
        # (the words say they are in circleback/needs-attention: those left are not)
        unreadable=sum(1 for m in facts.inbound if m.kind == "invalid" and not m.left),
        rounds=tuple(RoundWish(name(pid), "another-round" if wish == "another-round" else "wrap-up")
                     for pid, wish in facts.wishes),
        private_stories=tuple(PrivateStory(name(pid), text) for pid, text in facts.private),
        awaiting_consent=tuple(p.name for p in present if not p.consented)
        if cohort.config.cohort.stories_need_consent else (),
        skips=tuple(dict.fromkeys(Skip(name(pid), number) for pid, number in facts.skips)),
        pauses=tuple(Pause(name(pid), until.date() if until else None)
                     for pid, (kind, until) in last_word.items() if kind == "pause"),
        stops=tuple(name(pid) for pid, (kind, _) in last_word.items() if kind == "stop"),
        # Removed and stopped people's addresses no longer matter (status's precedence).
        refused=tuple(RefusedAddress(owner[a].name if a in owner else "", a) for a in refused
                      if a not in owner or states[owner[a].id] == "refused"),
    )


def reader_view(cohort: Cohort, content: DigestContent, reader: Participant) -> DigestView:
    """The participants' view with this reader's +1 address under each story they may
    give one: everyone's but their own."""
    stories = tuple(
        replace(story, plus_one=cohort.config.mail.reply_address(
            tokens.make_reaction_token(cohort.secret, cohort.id, reader.id, sid)))
        if author != reader.id and sid else story
        for story, (sid, author) in zip(content.view.stories, content.authors, strict=True))
    return replace(content.view, stories=stories)


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
    # Nothing shared: the participants get no digest, but what the facilitator was promised
    # to hear of (a wish for another round, a private story, a skip ...) still reaches them.
    facilitator_only = content.empty and not force and not cohort.config.digest.quiet_week_note
    if facilitator_only and not content.facilitator.news:
        await record_digest(cohort.id, slot=slot, period_start=content.period_start,
                            period_end=now, stories=0, resources=0, sent=False, now=now)
        log.info("Nothing was shared since the last digest, so none is sent this time.")
        return 0
    digest = await record_digest(
        cohort.id, slot=slot, period_start=content.period_start, period_end=now,
        stories=len(content.view.stories), resources=len(content.view.resources), sent=True,
        now=now)
    queued = 0
    for p in () if facilitator_only else (await roster(cohort.id)).values():
        if not may_receive(standing(p), "digest", now):
            continue
        message = compose_digest(
            sender=cohort.sender(), recipient=cohort.recipient(p), view=reader_view(cohort, content, p),
            envelope=cohort.envelope(keys.digest_copy_seed(digest.id, p.email), listed=True,
                                     participant=p),
            now=now)
        await enqueue(message, cohort_id=cohort.id, kind="digest", now=now, participant=p,
                      mail_from=cohort.config.mail.address,
                      send_at=None if force else local_send_time(cohort, p, now))
        queued += 1
    message = compose_digest(
        sender=cohort.sender(), recipient=cohort.facilitator_recipient(),
        view=content.facilitator_view or content.view,
        envelope=cohort.envelope(keys.digest_copy_seed(digest.id, None), listed=True),
        now=now, facilitator_section=content.facilitator)
    await enqueue(message, cohort_id=cohort.id, kind="digest", now=now,
                  mail_from=cohort.config.mail.address)
    if facilitator_only:
        log.info("Nothing was shared since the last digest: only the facilitator's copy is "
                 "sent (it has news for them).")
    else:
        log.info("Queued the digest (%d stories, %d resources) for %d participants and the "
                 "facilitator.", len(content.view.stories), len(content.view.resources), queued)
    return queued + 1
