"""Inbound messages and mailbox cursors: the only module that changes them.

An inbound message is ``stored`` (what it means is on disk, the message still in the
inbox) and then ``moved`` (out of the inbox, into circleback/processed or
needs-attention), or ``left``: recorded as read and left where it was (a stranger's mail
in a shared mailbox). A mailbox's cursor only moves forward; it starts at the mailbox's
UIDNEXT, so what was there before circleback first connected is never read.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from service.core.states import InboundState
from service.store.models import InboundMessage, MailboxCursor, OutboxMessage, Participant

__all__ = [
    "NEW_MAIL",
    "advance_cursor",
    "any_sent",
    "cursor_for",
    "mark_moved",
    "new_mail_of",
    "pending_moves",
    "record_inbound",
    "restart_cursor",
    "sent_messages",
    "stored_before",
]

# The kind of a participant's new email (not a reply): kept, with its raw message, as the
# text waiting for the participant to confirm it by replying to circleback's answer.
NEW_MAIL = "new_mail"


async def cursor_for(mailbox: str, uidvalidity: int, uidnext: int) -> tuple[MailboxCursor, bool]:
    """The mailbox's cursor; True when it was made just now. A new cursor starts at
    ``uidnext``: the mail already there (perhaps a person's own) is not circleback's."""
    return await MailboxCursor.get_or_create(
        mailbox=mailbox, defaults={"uidvalidity": uidvalidity, "last_uid": max(uidnext - 1, 0)})


async def advance_cursor(cursor: MailboxCursor, uid: int) -> None:
    """The cursor past ``uid`` (never backwards, whoever else moved it)."""
    if uid > cursor.last_uid:
        await MailboxCursor.filter(mailbox=cursor.mailbox, uidvalidity=cursor.uidvalidity,
                                   last_uid__lt=uid).update(last_uid=uid)
        cursor.last_uid = uid


async def restart_cursor(cursor: MailboxCursor, uidvalidity: int) -> None:
    """RFC 3501 2.3.1.1: after a UIDVALIDITY change, old UIDs mean nothing. Read the
    mailbox again from the start (Message-IDs keep stories from doubling); messages
    stored but not moved are read again under their new UIDs, never moved by old ones."""
    await MailboxCursor.filter(mailbox=cursor.mailbox, uidvalidity=cursor.uidvalidity).update(
        uidvalidity=uidvalidity, last_uid=0)
    cursor.uidvalidity, cursor.last_uid = uidvalidity, 0
    await InboundMessage.filter(mailbox=cursor.mailbox, state=InboundState.STORED).update(uid=0)


async def pending_moves(mailbox: str, up_to_uid: int, limit: int = 500) -> list[InboundMessage]:
    """Stored but not moved (a crash between the two): what is left to move."""
    return list(await InboundMessage.filter(mailbox=mailbox, state=InboundState.STORED,
                                            uid__gt=0, uid__lte=up_to_uid).limit(limit))


async def mark_moved(ids: Collection[int]) -> int:
    """stored -> moved, for the rows whose messages have left the inbox."""
    if not ids:
        return 0
    return await InboundMessage.filter(id__in=list(ids), state=InboundState.STORED).update(
        state=InboundState.MOVED)


async def stored_before(cohort_id: str, message_key: str) -> InboundMessage | None:
    """The record of this message when it was stored before (the same Message-ID, or the
    same raw bytes without one): a second delivery, or a copy read again after a crash,
    an upgrade or a UIDVALIDITY change."""
    return await InboundMessage.get_or_none(cohort_id=cohort_id, message_id=message_key)


async def record_inbound(*, cohort_id: str, mailbox: str, message_key: str, uid: int, kind: str,
                         participant: Participant | None, from_addr: str, subject: str,
                         reason: str, folder: str, raw: bytes | None,
                         now: datetime) -> InboundMessage:
    """A fetched message, ``stored`` (call in the transaction that stores what it means);
    ``folder`` "": ``left`` in the inbox, done with (never moved, never read again)."""
    return await InboundMessage.create(
        cohort_id=cohort_id, mailbox=mailbox, message_id=message_key[:500], uid=uid, kind=kind,
        participant=participant, from_addr=from_addr[:320], subject=subject[:500],
        reason=reason[:1000], folder=folder,
        state=InboundState.STORED if folder else InboundState.LEFT, received_at=now,
        raw_message=raw[:5_000_000] if raw is not None else None)


async def new_mail_of(cohort_id: str, participant: Participant) -> list[InboundMessage]:
    """The participant's new emails (not replies), newest first: what a reply to
    circleback's answer may confirm."""
    return list(await InboundMessage.filter(cohort_id=cohort_id, participant=participant,
                                            kind=NEW_MAIL).order_by("-id").limit(50))


async def sent_messages(cohort_ids: Collection[str],
                        message_ids: Collection[str]) -> dict[str, tuple[str, str]]:
    """Our own messages among ``message_ids`` (a reply's In-Reply-To/References, a
    bounce's returned headers): Message-ID -> (cohort id, participant's email)."""
    if not message_ids:
        return {}
    rows = await OutboxMessage.filter(
        cohort_id__in=list(cohort_ids), message_id__in=list(message_ids),
        participant_id__isnull=False).prefetch_related("participant")
    return {r.message_id: (r.cohort_id, r.participant.email) for r in rows if r.participant}


async def any_sent(cohort_ids: Collection[str], message_ids: Collection[str]) -> bool:
    """True when any of ``message_ids`` is a message circleback sent (to anyone)."""
    if not message_ids:
        return False
    return await OutboxMessage.exists(cohort_id__in=list(cohort_ids),
                                      message_id__in=list(message_ids))
