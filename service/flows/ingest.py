"""Turn one fetched message into stored state: a story and its resources, an RSVP, a
control word, a bounce, or a record for the facilitator. Pure parsing lives in
``service.inbound``; this module is the database side of it."""

from __future__ import annotations

import contextlib
import hashlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from service.compose import (
    Ack,
    BounceNotice,
    CounterNotice,
    Notice,
    UncountedRsvpNotice,
    compose_control_ack,
    compose_notice,
)
from service.core import keys, tokens
from service.core.clock import Clock
from service.core.polls import poll_times
from service.core.rules import may_receive
from service.core.schedule import checkin_for, series_checkins
from service.core.series import utc_key
from service.core.states import BounceState, InboundState
from service.flows.cohort import Cohort
from service.flows.newmail import Confirmation, answer_new_mail, confirmation_of
from service.inbound.classify import Classification, ClassifyContext, classify
from service.inbound.parse import ParsedMessage
from service.inbound.route import RouteContext, addressed_to, referenced_ids, route, tokenised
from service.inbound.votes import parse_vote
from service.logs import about
from service.store.actions import AlreadyDone, record_action, record_away, record_wish
from service.store.db import transaction
from service.store.inbound import (
    NEW_MAIL,
    advance_cursor,
    any_sent,
    record_inbound,
    sent_messages,
    stored_before,
)
from service.store.models import MailboxCursor, Participant
from service.store.outbox import enqueue
from service.store.participants import (
    consent,
    participant_by_email,
    participants_of,
    pause,
    record_bounce,
    resume,
    set_goal,
    standing,
    stop,
)
from service.store.polls import record_vote
from service.store.reactions import record_reaction
from service.store.replies import (
    NewAttachment,
    NewLink,
    StoryMode,
    calendar_sequence_of,
    prompted_checkin,
    record_rsvp,
    store_story,
)

log = logging.getLogger("circleback.inbound")

PROCESSED = "circleback/processed"
NEEDS_ATTENTION = "circleback/needs-attention"
# Kinds a person should look at; everything else is done with once stored.
ATTENTION_KINDS = {"invalid", "unknown_sender", "counter"}


@dataclass(frozen=True)
class Ingested:
    kind: str
    folder: str
    row_id: int | None = None  # the InboundMessage stored; None: seen before
    reason: str = ""
    cohort_id: str | None = None


@dataclass
class Inbox:
    """One watched mailbox, the cohorts whose replies it is meant for (``home``), and what
    a pass over it needs to know of every cohort's participants (loaded once per pass).

    A message with a valid reply token or a reference to our mail belongs to that cohort
    even when it reached another cohort's mailbox; only the weaker fallbacks (the
    sender's address, a mailbox of one cohort) are limited to ``home``."""

    mailbox: str  # its identity: user@host:port/NAME
    cohorts: dict[str, Cohort]  # every cohort the daemon serves
    clock: Clock
    home: tuple[str, ...] = ()  # the cohorts this mailbox is configured for (default: all)
    people: dict[int, tuple[str, str]] = field(default_factory=dict)  # id -> (cohort, email)

    async def load_people(self) -> None:
        self.people = await participants_of(list(self.cohorts))

    def emails_of(self, cohort_id: str) -> dict[int, str]:
        return {pid: email for pid, (cid, email) in self.people.items() if cid == cohort_id}

    def cohort_for_token(self, token: str) -> str | None:
        """The cohort whose participant a token (a reply token or a +1 token) stands for,
        when it verifies there."""
        plus_one = tokens.claimed_reaction(token)
        pid = plus_one[0] if plus_one else tokens.claimed_participant(token)
        entry = self.people.get(pid) if pid is not None else None
        if entry is None or entry[0] not in self.cohorts:
            return None
        cohort = self.cohorts[entry[0]]
        if plus_one is not None:
            verified = tokens.verify_reaction_token(cohort.secret, cohort.id, token)
            return entry[0] if verified == plus_one else None
        return entry[0] if cohort.participant_id_for_token(token) == pid else None

    def cohorts_of_sender(self, address: str) -> set[str]:
        return {cid for cid, email in self.people.values() if email == address}


def classification_context(cohort: Cohort, people: dict[int, str],
                           sent: dict[str, str]) -> ClassifyContext:
    """What classify needs to authenticate one message for one cohort: ``people`` (id ->
    email) and ``sent`` (our Message-IDs it refers to -> the participant we wrote to)."""

    def participant_for_token(token: str) -> str | None:
        pid = cohort.participant_id_for_token(token)
        return people.get(pid) if pid is not None else None

    def reaction_for_token(token: str) -> tuple[str, int] | None:
        found = tokens.verify_reaction_token(cohort.secret, cohort.id, token)
        email = people.get(found[0]) if found is not None else None
        return (email, found[1]) if found is not None and email else None

    return ClassifyContext(own_address=cohort.config.mail.address,
                           participant_for_token=participant_for_token,
                           reaction_for_token=reaction_for_token, sent_message_ids=sent,
                           participant_emails=set(people.values()),
                           today=cohort.clock.now().astimezone(UTC).date(),
                           max_attachment_bytes=cohort.config.mail.max_attachment_bytes)


def message_key(parsed: ParsedMessage | None, raw: bytes) -> str:
    """The deduplication key: the Message-ID (parse_message already falls back to a hash of
    the raw message when there is none), or that hash for what could not be parsed."""
    if parsed is not None:
        return parsed.message_id[:500]
    return "sha256:" + hashlib.sha256(raw).hexdigest()


_NEEDS_A_COHORT = ("story", "command", "rsvp", "counter")


async def classify_for(inbox: Inbox, raw: bytes) -> tuple[Cohort | None, ParsedMessage | None,
                                                          Classification]:
    """Route one message to its cohort and classify it there (None: no cohort's)."""
    sent = await sent_messages(list(inbox.cohorts), referenced_ids(raw))
    where = route(raw, RouteContext(
        cohort_ids=sorted(inbox.home or inbox.cohorts),
        addresses={c.config.mail.address for c in inbox.cohorts.values()},
        cohort_for_token=inbox.cohort_for_token, sent={m: c for m, (c, _) in sent.items()},
        cohorts_of_sender=inbox.cohorts_of_sender))
    cohort = inbox.cohorts.get(where.cohort_id) if where.cohort_id else None
    if cohort is not None:
        ctx = classification_context(cohort, inbox.emails_of(cohort.id),
                                     {m: e for m, (c, e) in sent.items() if c == cohort.id})
        parsed, result = classify(raw, ctx)
    else:
        parsed, result = classify(raw, None)
        if result.kind in _NEEDS_A_COHORT:
            result = Classification("unknown_sender", None, where.reason)
    return cohort, parsed, result


async def ingest(inbox: Inbox, raw: bytes, uid: int, cursor: MailboxCursor) -> Ingested:
    """Route one message to its cohort, store what it means, and advance the cursor, in
    one transaction."""
    now = inbox.clock.now()
    cohort, parsed, result = await classify_for(inbox, raw)
    key = message_key(parsed, raw)
    kind, folder = await _filing(inbox, cohort, parsed, result, raw)
    cohort_id = cohort.id if cohort else ""
    async with transaction():
        await advance_cursor(cursor, uid)
        before = await stored_before(cohort_id, key)
        if before is not None:
            # Filed where it was filed the first time (left alone, if it was); a record
            # still "stored" (its move never happened) is marked moved along with this copy.
            pending = before.id if before.state == InboundState.STORED else None
            where = "" if before.state == InboundState.LEFT else before.folder or PROCESSED
            return Ingested(before.kind, where, pending, "seen before", cohort_id)
        participant = None
        sender = result.participant or (parsed.from_addr if kind == NEW_MAIL and parsed else None)
        if cohort is not None and sender:
            participant = await participant_by_email(cohort.id, sender)
        confirmed = None
        if cohort is not None and participant is not None and kind != NEW_MAIL:
            confirmed = await confirmation_of(cohort, result, parsed, participant, now)
            if confirmed is not None:  # a "yes" (or an empty reply): not an unreadable one
                kind, folder = "story", PROCESSED
        row = await record_inbound(
            cohort_id=cohort_id, mailbox=inbox.mailbox, message_key=key, uid=uid,
            kind=kind, participant=participant,
            from_addr=parsed.from_addr if parsed else "", subject=parsed.subject if parsed else "",
            reason=result.reason, folder=folder, now=now,
            # A message left in the inbox is someone else's: its content is not kept.
            raw=None if kind in ("story", "rsvp") or not folder else raw)
        if cohort is not None and folder:
            await _apply_to_cohort(cohort, result, parsed, participant, key, now, kind=kind,
                                   confirmed=confirmed)
    with about(cohort_id or None):
        if kind == result.kind and folder:
            _log_result(cohort, result, parsed)
        elif not folder:
            log.info("Left a message from %s in the inbox: it is not for circleback (%s).",
                     (parsed.from_addr if parsed else "") or "no sender", result.reason.rstrip("."))
    return Ingested(kind, folder, row.id, result.reason, cohort_id)


# Kinds that, from someone who is not a participant, may be nothing to do with circleback.
_MAYBE_NOT_OURS = ("unknown_sender", "auto_reply", "bounce")


async def _filing(inbox: Inbox, cohort: Cohort | None, parsed: ParsedMessage | None,
                  result: Classification, raw: bytes) -> tuple[str, str]:
    """(kind, folder) for one message: folder "" leaves it in the inbox.

    The mailbox may be a person's own: mail from outside the circle is set aside only
    when it concerns circleback (sent to a tokenised address, a reply or a bounce of
    circleback's mail, an answer to its calendar series); anything else there stays
    where it was. A participant's new email to the cohort address is ``new_mail``."""
    folder = NEEDS_ATTENTION if result.kind in ATTENTION_KINDS else PROCESSED
    if parsed is None or result.participant is not None or result.kind not in _MAYBE_NOT_OURS:
        return result.kind, folder
    addresses = {c.config.mail.address for c in inbox.cohorts.values()}
    series = {c.series_uid for c in inbox.cohorts.values()}
    if (tokenised(raw, addresses) or (result.rsvp is not None and result.rsvp.uid in series)
            or await any_sent(list(inbox.cohorts), referenced_ids(raw))):
        return result.kind, folder
    if (result.kind == "unknown_sender" and result.rsvp is None and cohort is not None
            and parsed.from_addr in inbox.emails_of(cohort.id).values()
            and addressed_to(raw, cohort.config.mail.address)):
        return NEW_MAIL, PROCESSED
    return result.kind, ""


async def _apply_to_cohort(cohort: Cohort, result: Classification, parsed: ParsedMessage | None,
                           participant: Participant | None, key: str, now: datetime, *,
                           kind: str = "", confirmed: Confirmation | None = None) -> None:
    if kind == NEW_MAIL and participant is not None and parsed is not None:
        await answer_new_mail(cohort, participant, parsed, key, now)
        return
    if confirmed is not None and participant is not None:
        if confirmed.story is not None:  # the text of their new email, now theirs to share
            shared = Classification("story", participant.email, "confirmed", story=confirmed.story)
            await _store_story(cohort, shared, participant, confirmed.key, confirmed.story.text,
                               False, now, await _checkin_of_reply(cohort, participant, None, now))
        return
    if participant is not None:
        await _apply(cohort, result, participant, key, now, parsed)
    if result.kind == "counter" or (result.kind == "unknown_sender" and result.rsvp):
        await _tell_facilitator(cohort, result, parsed, key, now)
    elif result.kind == "bounce" and result.bounce and result.bounce.recipient:
        bounced = await participant_by_email(cohort.id, result.bounce.recipient)
        if bounced is not None and await _record_bounce(bounced, result):
            await _notify(cohort, BounceNotice(bounced.name, bounced.email, result.reason),
                          keys.notice_seed("bounce", key), now)


def _log_result(cohort: Cohort | None, result: Classification, parsed: ParsedMessage | None) -> None:
    sender = (parsed.from_addr if parsed else "") or "no sender"
    if cohort is None:
        log.warning("A message from %s belongs to no cohort (%s); it is kept in %s.", sender,
                    result.reason.rstrip("."), NEEDS_ATTENTION if result.kind in ATTENTION_KINDS
                    else PROCESSED)
    elif result.kind == "story":
        log.info("Stored a story from %s.", result.participant)
    elif result.kind == "rsvp" and result.rsvp:
        log.info("%s answered the invitation: %s.", result.participant, result.rsvp.partstat)
    elif result.kind == "command" and result.control:
        log.info("%s replied with the control word %r.", result.participant, result.control.word)
    elif result.kind in ATTENTION_KINDS:
        log.warning("A message from %s needs the facilitator's attention (%s): %s.", sender,
                    result.kind.replace("_", " "), result.reason.rstrip("."))
    else:
        what = {"auto_reply": "an automatic reply", "bounce": "a bounce"}.get(result.kind, result.kind)
        log.info("Set aside %s from %s (%s).", what, sender, result.reason.rstrip("."))


async def _apply(cohort: Cohort, result: Classification, p: Participant, key: str, now: datetime,
                 parsed: ParsedMessage | None = None) -> None:
    if result.kind in ("story", "command") and result.story is not None and result.reaction is None:
        word = result.control.word if result.control is not None else None
        private = word == "private"
        text = result.story.text
        if result.kind == "command":
            # The control word's own line is an instruction, not part of the story.
            keeps = word in ("private", "edit") and "\n" in text
            text = text.split("\n", 1)[1].strip() if keeps else ""
        number = await _checkin_of_reply(cohort, p, parsed, now)
        if result.kind == "story":
            text = await _vote(cohort, p, number, text, now)
        if text.strip():
            await _store_story(cohort, result, p, key, text, private, now, number,
                               "replace" if word == "edit" else "add")
    if result.kind == "command" and result.control is not None:
        await _apply_control(cohort, result, p, now)
    elif result.kind == "invalid":
        # A participant's reply with nothing we could keep (only the quote, only a picture):
        # say so, rather than let them think it was shared. Once a day at most, so that no
        # misbehaving mail system can keep a loop going.
        try:
            await record_action(cohort.id, keys.empty_reply_key(p.email, now.date()), "ack", now,
                                participant=p)
        except AlreadyDone:
            return
        await _ack(cohort, p, Ack("empty-reply"), keys.empty_reply_seed(key), now)
    elif result.kind == "rsvp" and result.rsvp is not None:
        await _record_rsvp(cohort, result, p, now)


async def _checkin_of_reply(cohort: Cohort, p: Participant, parsed: ParsedMessage | None,
                            now: datetime) -> int | None:
    """The check-in a reply answers: the one whose prompt (or reminder) it replies to, even
    after that call (a late answer); else the latest one prompted for by now."""
    refs = [*parsed.in_reply_to, *parsed.references] if parsed is not None else []
    return await prompted_checkin(cohort.id, p, refs) or checkin_for(cohort.config, now)


async def _vote(cohort: Cohort, p: Participant, number: int | None, text: str,
                now: datetime) -> str:
    """A reply to a prompt that carries a poll, whose first line answers it: the vote is
    recorded (while the poll is open) and the rest of the reply is the story."""
    poll = cohort.config.poll_for(number) if number is not None else None
    vote = parse_vote(text, poll.options) if poll is not None else None
    if poll is None or vote is None:
        return text
    times = poll_times(cohort.config, poll)
    if times is not None and times.is_open(now):
        await record_vote(cohort.id, poll.checkin, p, vote.option, now)
        log.info("%s answered the poll of check-in %d: option %d.", p.email, poll.checkin,
                 vote.option)
    else:
        log.info("%s answered the poll of check-in %d after it closed; not counted.", p.email,
                 poll.checkin)
    return vote.rest


async def _store_story(cohort: Cohort, result: Classification, p: Participant, key: str, text: str,
                       private: bool, now: datetime, number: int | None,
                       mode: StoryMode = "add") -> None:
    assert result.story is not None
    publishable = not private and (p.consented or not cohort.config.cohort.stories_need_consent)
    await store_story(
        cohort_id=cohort.id, participant=p, checkin=number, message_key=key, text=text,
        cut=result.story.cut, private=private, publishable=publishable, now=now,
        # attachments up to [mail] max_attachment_size are kept; larger ones only noted
        attachments=[NewAttachment(a.filename, a.content_type, a.size, a.content or b"")
                     for a in result.story.attachments],
        # a private story's links never become the cohort's resources
        links=[] if private else [NewLink(link.url, link.title) for link in result.story.links],
        mode=mode)
    if number == 1 and not p.goal:
        await set_goal(p, text.strip().split("\n\n")[0][:300])


async def _apply_control(cohort: Cohort, result: Classification, p: Participant, now: datetime) -> None:
    control = result.control
    assert control is not None
    word = control.word
    ack: Ack
    if word == "react":
        # Never answered: a +1 is a click, and an answer could start a loop with a mail system.
        if result.reaction is not None and await record_reaction(cohort.id, result.reaction, p, now):
            log.info("%s found story %d useful (+1).", p.email, result.reaction)
        return
    if word == "edit":
        return  # the story was replaced (see _apply); the next digest shows it
    if word == "skip":
        number = checkin_for(cohort.config, now) or 1
        with contextlib.suppress(AlreadyDone):
            await record_action(cohort.id, keys.skip_key(number, p.email), "skip", now,
                                participant=p, checkin=number)
        ack = Ack("skip", checkin=number)
    elif word == "pause":
        until = None
        if control.until is not None:
            until = datetime.combine(control.until, datetime.min.time(), tzinfo=UTC)
        elif control.duration_days:
            until = now + timedelta(days=control.duration_days)
        if await pause(p, until):
            await record_away(cohort.id, p, "pause", now, until=until)
        ack = Ack("pause", until=until.date() if until else None)
    elif word == "resume":
        if await resume(p):
            await record_away(cohort.id, p, "resume", now)
        ack = Ack("resume")
    elif word == "stop":
        if await stop(p):
            await record_away(cohort.id, p, "stop", now)
        ack = Ack("stop")
    elif word == "share":
        await consent(p, now)
        ack = Ack("share")
    elif word in ("another-round", "wrap-up"):
        await record_wish(cohort.id, keys.round_key(cohort.id, p.email), p, word, now)
        ack = Ack("another-round") if word == "another-round" else Ack("wrap-up")
    elif word == "private":
        ack = Ack("private")
    else:
        log.warning("Control word %r from %s has no effect here.", word, p.email)
        return
    await _ack(cohort, p, ack, keys.ack_key(p.email, now, word), now)


async def _ack(cohort: Cohort, p: Participant, ack: Ack, seed: str, now: datetime) -> None:
    """A short answer to a participant's own (never an automatic) message."""
    if not may_receive(standing(p), "ack", now):
        return
    message = compose_control_ack(sender=cohort.sender(), recipient=cohort.recipient(p), ack=ack,
                                  envelope=cohort.envelope(seed), now=now)
    await enqueue(message, cohort_id=cohort.id, kind="ack", now=now, participant=p,
                  mail_from=cohort.config.mail.address)


async def _record_rsvp(cohort: Cohort, result: Classification, p: Participant, now: datetime) -> None:
    rsvp = result.rsvp
    assert rsvp is not None
    uid = cohort.series_uid
    if rsvp.uid != uid:
        log.warning("Ignored an RSVP from %s for an event that is not this cohort's (%s).",
                    p.email, rsvp.uid)
        return
    told = await calendar_sequence_of(p, uid)
    if told is not None and rsvp.sequence < told:
        # RFC 5546 2.1.5: a reply to an older version says nothing about the current one.
        log.info("Ignored an RSVP from %s to an older version of the invitation (%d < %d).",
                 p.email, rsvp.sequence, told)
        return
    rkey = ""
    if rsvp.recurrence_id is not None:
        # Matched by the UTC instant, whatever TZID the client wrote it in.
        rkey = utc_key(rsvp.recurrence_id)
        known = {utc_key(c.original_start) for c in series_checkins(cohort.config.checkins)}
        if rkey not in known:
            log.warning("Ignored an RSVP from %s for a check-in the series does not have (%s).",
                        p.email, rkey)
            return
    # Only PARTSTAT and COMMENT are taken from a reply (RFC 5546 3.2.3: the attendee may
    # change nothing else).
    await record_rsvp(p, rsvp.uid, rkey, (rsvp.partstat or "NEEDS-ACTION").upper()[:32],
                      rsvp.comment, rsvp.sequence, now)


async def _tell_facilitator(cohort: Cohort, result: Classification, parsed: ParsedMessage | None,
                            key: str, now: datetime) -> None:
    """Calendar answers that change nothing by themselves: the facilitator decides."""
    sender = parsed.from_addr if parsed else ""
    rsvp = result.rsvp
    notice: Notice
    if result.kind == "counter" and rsvp is not None:
        notice = CounterNotice(sender=sender, proposed_start=rsvp.proposed_start,
                               occurrence=rsvp.recurrence_id, comment=rsvp.comment)
    else:
        notice = UncountedRsvpNotice(sender=sender, reason=result.reason)
    await _notify(cohort, notice, keys.notice_seed("", key), now)


async def _notify(cohort: Cohort, notice: Notice, seed: str, now: datetime) -> None:
    """A short email to the facilitator (never to the sender of what caused it)."""
    message = compose_notice(sender=cohort.sender(), recipient=cohort.facilitator_recipient(),
                             notice=notice, envelope=cohort.envelope(seed), now=now)
    await enqueue(message, cohort_id=cohort.id, kind="notice", now=now,
                  mail_from=cohort.config.mail.address)


async def _record_bounce(p: Participant, result: Classification) -> bool:
    """Count the bounce; True when the address has just become undeliverable."""
    bounce = result.bounce
    assert bounce is not None
    outcome = await record_bounce(p, bounce.hard)
    if outcome.state == BounceState.HARD:
        log.error("Mail to %s bounced for good (%s); circleback stops mailing that address.",
                  p.email, bounce.status or bounce.diagnostic[:80])
    else:
        log.warning("Mail to %s bounced for now (%s, %d in a row).", p.email,
                    bounce.status or "temporary", outcome.soft_bounces)
    return outcome.newly_hard
