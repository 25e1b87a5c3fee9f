"""The outbox and its state machine: the only module that changes an outbox row's state.

Mail is queued in the same transaction as the state change that caused it, then claimed
by one live daemon, sent, and marked. States (``service.core.states.OutboxState``)::

    queued -> sending -> sent | failed        (a 4xx: sending -> queued, later)
              sending -> queued               (the claiming daemon died)

Every transition is a conditional update that checks the row is still in the state and
claim it expects, and its row count is checked: a daemon that lost a row (it was given
back because that daemon looked dead) never marks it, and checks its claim right before
sending, so a row is never sent twice. On PostgreSQL, ``FOR UPDATE SKIP LOCKED`` lets
several daemons claim side by side without waiting on each other.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import parseaddr

from tortoise.transactions import in_transaction

from service.core.states import MailKind, OutboxState
from service.store.db import is_postgres
from service.store.models import OutboxMessage, Participant

log = logging.getLogger("circleback.outbox")

__all__ = [
    "claim_outbox_batch",
    "enqueue",
    "give_back",
    "mark_failed",
    "mark_retry",
    "mark_sent",
    "pending_count",
    "release_claims_of_dead",
    "still_mine",
]


async def enqueue(
    message: EmailMessage,
    *,
    cohort_id: str,
    kind: MailKind,
    now: datetime,
    participant: Participant | None = None,
    checkin_number: int | None = None,
    mail_from: str,
    send_at: datetime | None = None,
) -> OutboxMessage:
    """Queue one message (call inside the transaction that records why it is sent);
    ``send_at`` holds it back until then (a digest at the participant's local time)."""
    rcpt = parseaddr(str(message["To"]))[1]
    # Lets mail filters (and the demo's simulated participants) tell our mails apart.
    del message["X-Circleback-Kind"]
    message["X-Circleback-Kind"] = kind
    if checkin_number is not None:
        del message["X-Circleback-Checkin"]
        message["X-Circleback-Checkin"] = str(checkin_number)
    message_id = str(message["Message-ID"]).strip().strip("<>")
    return await OutboxMessage.create(
        cohort_id=cohort_id, kind=kind, message_id=message_id, participant=participant,
        checkin_number=checkin_number, mail_from=mail_from, rcpt=rcpt,
        raw_message=message.as_bytes(), state=OutboxState.QUEUED, next_attempt_at=send_at or now,
        created_at=now,
    )


async def claim_outbox_batch(cohort_ids: Collection[str], claim: str, now: datetime,
                             limit: int = 20) -> list[OutboxMessage]:
    """Claim up to ``limit`` due rows of these cohorts for the daemon ``claim``.

    ``now`` is read by the caller for this claim (never once for a whole pass)."""
    async with in_transaction():
        query = OutboxMessage.filter(
            cohort_id__in=list(cohort_ids), state=OutboxState.QUEUED, next_attempt_at__lte=now
        ).order_by("id").limit(limit)
        if is_postgres():
            query = query.select_for_update(skip_locked=True)
        # (model rows, not values_list: tortoise applies FOR UPDATE to a model query only)
        ids = [row.id for row in await query]
        if not ids:
            return []
        # The conditional update is what makes the claim safe on SQLite too (one writer at
        # a time there, and a row another worker took is no longer queued).
        await OutboxMessage.filter(id__in=ids, state=OutboxState.QUEUED).update(
            state=OutboxState.SENDING, claim=claim, claimed_at=now)
        return list(await OutboxMessage.filter(id__in=ids, state=OutboxState.SENDING, claim=claim)
                    .order_by("id"))


async def still_mine(row: OutboxMessage, claim: str, now: datetime) -> bool:
    """Right before sending: is the row still ours? (It is not when it was given back
    because this daemon looked dead.) Refreshes ``claimed_at``."""
    n = await OutboxMessage.filter(id=row.id, state=OutboxState.SENDING, claim=claim).update(
        claimed_at=now)
    return n == 1


async def mark_sent(row: OutboxMessage, claim: str, now: datetime) -> bool:
    n = await OutboxMessage.filter(id=row.id, state=OutboxState.SENDING, claim=claim).update(
        state=OutboxState.SENT, sent_at=now, attempts=row.attempts + 1, claim="")
    _check(n, row, "sent")
    return n == 1


async def mark_retry(row: OutboxMessage, claim: str, error: str, at: datetime) -> bool:
    """A temporary failure: queued again, to be tried at ``at``."""
    n = await OutboxMessage.filter(id=row.id, state=OutboxState.SENDING, claim=claim).update(
        state=OutboxState.QUEUED, attempts=row.attempts + 1, last_error=error[:2000],
        next_attempt_at=at, claim="")
    _check(n, row, "queued again")
    return n == 1


async def mark_failed(row: OutboxMessage, claim: str, error: str) -> bool:
    n = await OutboxMessage.filter(id=row.id, state=OutboxState.SENDING, claim=claim).update(
        state=OutboxState.FAILED, attempts=row.attempts + 1, last_error=error[:2000], claim="")
    _check(n, row, "failed")
    return n == 1


async def give_back(rows: Collection[OutboxMessage], claim: str) -> int:
    """Rows claimed but not tried (the daemon is stopping, or the server went away)."""
    return await OutboxMessage.filter(
        id__in=[r.id for r in rows], state=OutboxState.SENDING, claim=claim
    ).update(state=OutboxState.QUEUED, claim="")


async def release_claims_of_dead(live: Collection[str], now: datetime,
                                 grace: timedelta = timedelta(seconds=5)) -> int:
    """Rows claimed by a daemon that is no longer alive go back to the queue at once.

    ``live``: the claims of the daemons whose presence lease is current. Claims younger
    than ``grace`` are left alone: a daemon that has just started may have claimed before
    its presence was visible to this one."""
    return await OutboxMessage.filter(
        state=OutboxState.SENDING, claimed_at__lt=now - grace
    ).exclude(claim__in=list(live)).update(state=OutboxState.QUEUED, claim="")


async def pending_count(cohort_ids: Collection[str]) -> int:
    return await OutboxMessage.filter(
        cohort_id__in=list(cohort_ids), state__in=[OutboxState.QUEUED, OutboxState.SENDING]
    ).count()


def _check(n: int, row: OutboxMessage, what: str) -> None:
    if n != 1:
        log.warning("The %s to %s (outbox row %d) was not marked %s: another circleback took "
                    "it over meanwhile.", row.kind, row.rcpt, row.id, what)
