"""Turn one fetched message into stored state: a story and its resources, an RSVP, a
control word, a bounce, or a record for the facilitator. Pure parsing lives in
``service.inbound``; this module is the database side of it."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.parser import BytesHeaderParser
from email.policy import compat32
from zoneinfo import ZoneInfo

from tortoise.transactions import in_transaction

from service.calendar.series import utc_key
from service.compose import compose_control_ack
from service.core.schedule import checkin_for, series_checkins, series_key
from service.flows.cohort import Cohort
from service.inbound.classify import Classification, ClassifyContext, classify
from service.inbound.parse import ParsedMessage
from service.store.models import (
    Action,
    CalendarCopy,
    InboundMessage,
    MailboxCursor,
    OutboxMessage,
    Participant,
    Resource,
    Rsvp,
    Story,
    StoryAttachment,
)
from service.store.outbox import enqueue

log = logging.getLogger("circleback.inbound")

PROCESSED = "circleback/processed"
NEEDS_ATTENTION = "circleback/needs-attention"
SOFT_BOUNCE_LIMIT = 3
# Kinds a person should look at; everything else is done with once stored.
ATTENTION_KINDS = {"invalid", "unknown_sender", "counter"}


@dataclass(frozen=True)
class Ingested:
    kind: str
    folder: str
    row_id: int | None = None  # the InboundMessage stored; None: seen before
    reason: str = ""


def _referenced_ids(raw: bytes) -> list[str]:
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(raw[:65536])
    except Exception:
        return []
    ids: list[str] = []
    for name in ("In-Reply-To", "References"):
        for value in headers.get_all(name) or []:
            ids.extend(part.strip("<> \t\r\n") for part in str(value).split() if "@" in part)
    return ids[:50]


async def participant_emails(cohort: Cohort) -> dict[int, str]:
    return {int(pid): str(email) for pid, email in
            await Participant.filter(cohort_id=cohort.id).values_list("id", "email")}


async def classification_context(cohort: Cohort, raw: bytes,
                                 people: dict[int, str] | None = None) -> ClassifyContext:
    """What classify needs to authenticate one message (``people``: id -> email, when the
    caller has it already)."""
    if people is None:
        people = await participant_emails(cohort)
    ids = _referenced_ids(raw)
    sent: dict[str, str] = {}
    if ids:
        rows = await OutboxMessage.filter(cohort_id=cohort.id, message_id__in=ids,
                                          participant_id__isnull=False).prefetch_related("participant")
        sent = {r.message_id: r.participant.email for r in rows if r.participant}

    def participant_for_token(token: str) -> str | None:
        pid = cohort.participant_id_for_token(token)
        return people.get(pid) if pid is not None else None

    return ClassifyContext(own_address=cohort.config.mail.address,
                           participant_for_token=participant_for_token, sent_message_ids=sent,
                           participant_emails=set(people.values()),
                           today=cohort.clock.now().astimezone(UTC).date(),
                           max_attachment_bytes=cohort.config.mail.max_attachment_bytes)


def message_key(parsed: ParsedMessage | None, raw: bytes) -> str:
    """The deduplication key: the Message-ID (parse_message already falls back to a hash of
    the raw message when there is none), or that hash for what could not be parsed."""
    if parsed is not None:
        return parsed.message_id[:500]
    return "sha256:" + hashlib.sha256(raw).hexdigest()


async def ingest(cohort: Cohort, raw: bytes, uid: int, cursor: MailboxCursor,
                 people: dict[int, str] | None = None) -> Ingested:
    """Store what one message means, and advance the cursor, in one transaction."""
    now = cohort.clock.now()
    ctx = await classification_context(cohort, raw, people)
    parsed, result = classify(raw, ctx)
    key = message_key(parsed, raw)
    folder = NEEDS_ATTENTION if result.kind in ATTENTION_KINDS else PROCESSED
    async with in_transaction():
        cursor.last_uid = max(cursor.last_uid, uid)
        await cursor.save(update_fields=["last_uid"])
        if await InboundMessage.exists(cohort_id=cohort.id, message_id=key):
            return Ingested(result.kind, PROCESSED, reason="seen before")
        participant = None
        if result.participant:
            participant = await Participant.get_or_none(cohort_id=cohort.id, email=result.participant)
        row = await InboundMessage.create(
            cohort_id=cohort.id, message_id=key, uid=uid, kind=result.kind, participant=participant,
            from_addr=parsed.from_addr if parsed else "", subject=parsed.subject[:500] if parsed else "",
            reason=result.reason, folder=folder, state="stored", received_at=now,
            raw_message=None if result.kind in ("story", "rsvp") else raw[:5_000_000])
        if participant is not None:
            await _apply(cohort, result, participant, key, now)
        if result.kind == "counter" or (result.kind == "unknown_sender" and result.rsvp):
            await _tell_facilitator(cohort, result, parsed, key, now)
        elif result.kind == "bounce" and result.bounce and result.bounce.recipient:
            bounced = await Participant.get_or_none(cohort_id=cohort.id, email=result.bounce.recipient)
            if bounced is not None and await _record_bounce(bounced, result):
                await _notify(cohort, f"Mail to {bounced.name} <{bounced.email}> bounces",
                              f"Mail to {bounced.name} <{bounced.email}> bounced "
                              f"({result.reason}). circleback has stopped mailing that address. "
                              "If they have a new one, change it in the config and reload.",
                              f"notice:bounce:{key}", now)
    _log_result(result, parsed)
    return Ingested(result.kind, folder, row.id, result.reason)


def _log_result(result: Classification, parsed: ParsedMessage | None) -> None:
    sender = (parsed.from_addr if parsed else "") or "no sender"
    if result.kind == "story":
        log.info("Stored a story from %s.", result.participant)
    elif result.kind == "rsvp" and result.rsvp:
        log.info("%s answered the invitation: %s.", result.participant, result.rsvp.partstat)
    elif result.kind == "command" and result.control:
        log.info("%s asked to %s.", result.participant, result.control.word)
    elif result.kind in ATTENTION_KINDS:
        log.warning("A message from %s needs the facilitator's attention (%s): %s.", sender,
                    result.kind.replace("_", " "), result.reason.rstrip("."))
    else:
        what = {"auto_reply": "an automatic reply", "bounce": "a bounce"}.get(result.kind, result.kind)
        log.info("Set aside %s from %s (%s).", what, sender, result.reason.rstrip("."))


async def _apply(cohort: Cohort, result: Classification, p: Participant, key: str, now: datetime) -> None:
    if result.kind in ("story", "command") and result.story is not None:
        private = result.control is not None and result.control.word == "private"
        text = result.story.text
        if result.kind == "command":
            # The control word's own line is an instruction, not part of the story.
            text = text.split("\n", 1)[1].strip() if private and "\n" in text else ""
        if text.strip():
            await _store_story(cohort, result, p, key, text, private, now)
    if result.kind == "command" and result.control is not None:
        await _apply_control(cohort, result, p, now)
    elif result.kind == "invalid" and not await Action.exists(
            key=f"ack-invalid:{p.email}:{now.date().isoformat()}"):
        # A participant's reply with nothing we could keep (only the quote, only a picture):
        # say so, rather than let them think it was shared. Once a day at most, so that no
        # misbehaving mail system can keep a loop going.
        await Action.create(key=f"ack-invalid:{p.email}:{now.date().isoformat()}",
                            cohort_id=cohort.id, kind="ack", done_at=now)
        await _ack(cohort, p, "Your reply reached us, but there was no text in it that we could "
                   "keep: perhaps only the quoted email, or only a picture. Write a few lines "
                   "above the quoted part and send it again, and it will be in the digest.",
                   f"ack:invalid:{key}", now)
    elif result.kind == "rsvp" and result.rsvp is not None:
        await _record_rsvp(cohort, result, p, now)


async def _store_story(cohort: Cohort, result: Classification, p: Participant, key: str, text: str,
                       private: bool, now: datetime) -> None:
    assert result.story is not None
    number = checkin_for(cohort.config, now)
    publishable = not private and (p.consented or not cohort.config.cohort.stories_need_consent)
    story = await Story.create(
        cohort_id=cohort.id, participant=p, checkin_number=number, message_id=key,
        text=text, cut=result.story.cut, private=private, received_at=now,
        shared_at=now if publishable else None,
        attachments=[{"filename": a.filename, "content_type": a.content_type, "size": a.size,
                      "kept": bool(a.content)} for a in result.story.attachments])
    for a in result.story.attachments:
        if a.content:  # up to [mail] max_attachment_size; larger ones are only noted
            await StoryAttachment.create(story=story, filename=a.filename[:255],
                                         content_type=a.content_type[:255], size=a.size,
                                         content=a.content)
    if number == 1 and not p.goal:
        p.goal = text.strip().split("\n\n")[0][:300]
        await p.save(update_fields=["goal"])
    for link in result.story.links:
        url_key = hashlib.sha256(link.url.strip().rstrip("/").lower().encode()).hexdigest()
        if not await Resource.exists(cohort_id=cohort.id, url_key=url_key):
            await Resource.create(cohort_id=cohort.id, url=link.url[:2048], url_key=url_key,
                                  title=link.title[:500] or link.url, participant=p, story=story,
                                  created_at=now)


async def _apply_control(cohort: Cohort, result: Classification, p: Participant, now: datetime) -> None:
    control = result.control
    assert control is not None
    word = control.word
    reply = ""
    if word == "skip":
        number = checkin_for(cohort.config, now) or 1
        await Action.get_or_create(key=f"skip:{number}:{p.email}",
                                   defaults={"cohort_id": cohort.id, "kind": "skip", "done_at": now})
        reply = f"Got it: no reminders for check-in {number}. See you next time."
    elif word == "pause":
        until = None
        if control.until is not None:
            until = datetime.combine(control.until, datetime.min.time(), tzinfo=UTC)
        elif control.duration_days:
            until = now + timedelta(days=control.duration_days)
        p.status, p.paused_until = "paused", until
        reply = ("Paused. You will hear from us again "
                 + (f"after {until.date().isoformat()}." if until else "when you reply 'resume'."))
    elif word == "resume":
        p.status, p.paused_until = "active", None
        reply = "Welcome back: prompts start again with the next check-in."
    elif word == "stop":
        p.status = "stopped"
        reply = "You will get no more mail from this circle. Reply 'resume' if you change your mind."
    elif word == "private":
        reply = "Thanks: this story goes to the facilitator only and stays out of the digest."
    elif word == "share":
        p.consented = True
        # Stories held back for consent join the next digest; private ones stay private.
        await Story.filter(participant=p, shared_at__isnull=True, private=False).update(shared_at=now)
        reply = ("Thank you: your stories will be in the circle's weekly digest. Start a reply "
                 "with 'private' to keep one to the facilitator.")
    elif word in ("another-round", "wrap-up"):
        await Action.update_or_create(
            key=f"round:{cohort.id}:{p.email}",
            defaults={"cohort_id": cohort.id, "kind": "round", "done_at": now, "note": word})
        reply = ("Wonderful: I'll let the facilitator know you'd like another round."
                 if word == "another-round" else
                 "Thank you for taking part in this round. I'll let the facilitator know.")
    else:
        reply = f"Noted: {word.replace('-', ' ')}. The facilitator will see it."
    await p.save(update_fields=["status", "paused_until", "consented"])
    await _ack(cohort, p, reply, f"ack:{p.email}:{now.isoformat()}:{word}", now)


async def _ack(cohort: Cohort, p: Participant, text: str, key: str, now: datetime) -> None:
    """A short answer to a participant's own (never an automatic) message."""
    message = compose_control_ack(sender=cohort.sender(), recipient=cohort.recipient(p), text=text,
                                  envelope=cohort.envelope(key), now=now)
    await enqueue(message, cohort_id=cohort.id, kind="ack", now=now, participant=p,
                  mail_from=cohort.config.mail.address)


async def _record_rsvp(cohort: Cohort, result: Classification, p: Participant, now: datetime) -> None:
    rsvp = result.rsvp
    assert rsvp is not None
    uid = series_key(cohort.config)
    if rsvp.uid != uid:
        log.warning("Ignored an RSVP from %s for an event that is not this cohort's (%s).",
                    p.email, rsvp.uid)
        return
    copy = await CalendarCopy.get_or_none(participant=p, uid=uid)
    if copy is not None and rsvp.sequence < copy.sequence:
        # RFC 5546 2.1.5: a reply to an older version says nothing about the current one.
        log.info("Ignored an RSVP from %s to an older version of the invitation (%d < %d).",
                 p.email, rsvp.sequence, copy.sequence)
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
    await Rsvp.update_or_create(
        participant=p, uid=rsvp.uid, recurrence_key=rkey,
        defaults={"partstat": (rsvp.partstat or "NEEDS-ACTION").upper()[:32],
                  "comment": rsvp.comment, "sequence": rsvp.sequence, "updated_at": now})


async def _tell_facilitator(cohort: Cohort, result: Classification, parsed: ParsedMessage | None,
                            key: str, now: datetime) -> None:
    """Calendar answers that change nothing by themselves: the facilitator decides."""
    sender = (parsed.from_addr if parsed else "") or "an unknown sender"
    rsvp = result.rsvp
    if result.kind == "counter" and rsvp is not None:
        when = (rsvp.proposed_start.astimezone(ZoneInfo(cohort.config.facilitator.timezone))
                .strftime("%a %d %b %Y %H:%M %Z") if rsvp.proposed_start else "another time")
        subject = f"{sender} proposes another time for a check-in"
        text = (f"{sender} proposed {when} instead"
                + (f" (for the check-in of {rsvp.recurrence_id:%d %b})" if rsvp.recurrence_id else "")
                + (f", saying: “{rsvp.comment}”" if rsvp.comment else "") + ". Nothing was "
                "changed. To move it, add a [[checkins.moved]] entry to the config and reload.")
    else:
        subject = f"A calendar answer from {sender} was not counted"
        text = (f"A calendar reply from {sender} was not counted: {result.reason}. It is kept in "
                "the IMAP folder circleback/needs-attention.")
    await _notify(cohort, subject, text, f"notice:{key}", now)


async def _notify(cohort: Cohort, subject: str, text: str, key: str, now: datetime) -> None:
    """A short email to the facilitator (never to the sender of what caused it)."""
    message = compose_control_ack(sender=cohort.sender(), recipient=cohort.facilitator_recipient(),
                                  text=text, subject=subject,
                                  envelope=cohort.envelope(key), now=now)
    await enqueue(message, cohort_id=cohort.id, kind="notice", now=now,
                  mail_from=cohort.config.mail.address)


async def _record_bounce(p: Participant, result: Classification) -> bool:
    """Count the bounce; True when the address has just become undeliverable."""
    bounce = result.bounce
    assert bounce is not None
    was_hard = p.bounce_state == "hard"
    if bounce.hard:
        p.bounce_state = "hard"
        log.error("Mail to %s bounced for good (%s); circleback stops mailing that address.",
                  p.email, bounce.status or bounce.diagnostic[:80])
    else:
        p.soft_bounces += 1
        p.bounce_state = "hard" if p.soft_bounces >= SOFT_BOUNCE_LIMIT else "soft"
        log.warning("Mail to %s bounced for now (%s, %d in a row).", p.email,
                    bounce.status or "temporary", p.soft_bounces)
    await p.save(update_fields=["bounce_state", "soft_bounces"])
    return p.bounce_state == "hard" and not was_hard
