"""A participant's new email (not a reply to circleback's mail) to the cohort address.

Its sender is not authenticated (anyone can write a From: line), so nothing of it is
published: circleback answers at the participant's own registered address, with their
reply token, quoting what they wrote. Their reply to that answer is authenticated (the
token, and the answer's Message-ID in its In-Reply-To): a bare "yes" (or an empty reply)
publishes the text they first sent; a reply with text of its own is the story instead.

The text waiting for that reply is the new email itself: its inbound row (kind
``new_mail``) keeps the raw message, and what it means is read from it again when the
participant confirms, so the story gets the same trimming, links and attachments as
any other.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from service.compose import Envelope, compose_new_mail_answer
from service.core import keys
from service.core.rules import may_receive
from service.flows.cohort import Cohort
from service.inbound.classify import Classification, Story, story_of
from service.inbound.newmail import is_confirmation
from service.inbound.parse import MalformedMessage, ParsedMessage, parse_message
from service.store.actions import AlreadyDone, record_action
from service.store.inbound import new_mail_of
from service.store.models import Participant
from service.store.outbox import enqueue
from service.store.participants import standing

__all__ = ["ANSWERS_A_DAY", "Confirmation", "answer_new_mail", "confirmation_of"]

log = logging.getLogger("circleback.inbound")

# Answers to one participant's new emails in one day, at most: a mail system that writes
# new mail back to every answer (without the RFC 3834 headers) stops after these.
ANSWERS_A_DAY = 3


@dataclass(frozen=True)
class Confirmation:
    """A reply that confirmed a new email: ``story`` is what to publish under the new
    email's ``key``; None when it was published before (a second "yes" does nothing)."""

    key: str
    story: Story | None


async def answer_new_mail(cohort: Cohort, p: Participant, parsed: ParsedMessage, key: str,
                          now: datetime) -> bool:
    """Answer the participant's new email once (call in the transaction that records it);
    False when no answer goes out (nothing to share, not theirs to get, already answered,
    or the day's answers are used up)."""
    text = story_of(parsed).text
    if not text.strip():
        log.info("%s wrote a new email with no text to share; it was not answered.", p.email)
        return False
    if not may_receive(standing(p), "ack", now):
        return False
    try:
        await record_action(cohort.id, keys.new_mail_key(key), "ack", now, participant=p)
    except AlreadyDone:
        return False
    for n in range(ANSWERS_A_DAY):
        try:
            await record_action(cohort.id, keys.new_mail_day_key(p.email, now.date(), n), "ack",
                                now, participant=p)
            break
        except AlreadyDone:
            continue
    else:
        log.warning("%s wrote more new emails today than circleback answers (%d); this one "
                    "is kept, not answered.", p.email, ANSWERS_A_DAY)
        return False
    in_reply_to = parsed.message_id if not parsed.message_id.startswith("sha256:") else None
    message = compose_new_mail_answer(
        sender=cohort.sender(), recipient=cohort.recipient(p), cohort_name=cohort.config.cohort.name,
        text=text, their_subject=parsed.subject,
        envelope=Envelope(message_id=cohort.message_id(keys.new_mail_seed(key)),
                          in_reply_to=in_reply_to), now=now)
    await enqueue(message, cohort_id=cohort.id, kind="ack", now=now, participant=p,
                  mail_from=cohort.config.mail.address)
    log.info("%s wrote a new email (not a reply); asked them to reply to share it.", p.email)
    return True


async def confirmation_of(cohort: Cohort, result: Classification, parsed: ParsedMessage | None,
                          p: Participant, now: datetime) -> Confirmation | None:
    """When the participant's reply answers circleback's answer to one of their new
    emails and just says yes: what to publish. None: the reply means what it says (its
    own text is the story, a control word acts as usual)."""
    if parsed is None or result.kind not in ("story", "command", "invalid"):
        return None
    if result.kind == "command" and (result.control is None or result.control.word != "share"):
        return None
    referenced = {*parsed.in_reply_to, *parsed.references}
    if not referenced:
        return None
    row = next((r for r in await new_mail_of(cohort.id, p)
                if cohort.message_id(keys.new_mail_seed(r.message_id)) in referenced), None)
    if row is None or not is_confirmation(result.story.text if result.story else ""):
        return None
    try:
        await record_action(cohort.id, keys.new_mail_shared_key(row.message_id), "ack", now,
                            participant=p)
    except AlreadyDone:
        log.info("%s confirmed a new email that is shared already.", p.email)
        return Confirmation(row.message_id, None)
    try:
        pending = parse_message(bytes(row.raw_message or b""),
                                max_attachment_bytes=cohort.config.mail.max_attachment_bytes)
    except MalformedMessage:
        pending = None
    story = story_of(pending) if pending is not None else None
    if story is None or not story.text.strip():
        log.warning("%s confirmed a new email whose text could not be read again; nothing "
                    "was shared.", p.email)
        return Confirmation(row.message_id, None)
    log.info("%s confirmed their new email: it is their story now.", p.email)
    return Confirmation(row.message_id, story)
