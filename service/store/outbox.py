"""Transactional outbox: mail is queued in the same transaction as the state change
that caused it, then claimed, sent and marked by the worker.

States: queued -> sending -> sent | failed. A 4xx puts the row back to queued with a
later ``next_attempt_at``; a 5xx or too many attempts make it failed. A row left in
``sending`` by a crash goes back to queued after ``STALE_CLAIM``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import parseaddr

from tortoise.transactions import in_transaction

from service.core.retry import Backoff
from service.mail.smtp import PermanentFailure, SendError, SmtpSender, TemporaryFailure
from service.store.db import is_postgres
from service.store.models import OutboxMessage, Participant

log = logging.getLogger("circleback.outbox")

STALE_CLAIM = timedelta(minutes=10)
SEND_RETRY = Backoff(attempts=8, base=30.0, cap=3600.0, jitter=True)


async def enqueue(
    message: EmailMessage,
    *,
    cohort_id: str,
    kind: str,
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
        raw_message=message.as_bytes(), state="queued", next_attempt_at=send_at or now,
        created_at=now,
    )


async def release_stale_claims(cohort_id: str, now: datetime) -> int:
    """Rows a crashed sender left in ``sending`` go back to the queue."""
    return await OutboxMessage.filter(
        cohort_id=cohort_id, state="sending", claimed_at__lt=now - STALE_CLAIM
    ).update(state="queued")


async def claim_outbox_batch(cohort_id: str, now: datetime, limit: int = 20) -> list[OutboxMessage]:
    """Claim due rows for this worker. On PostgreSQL, ``FOR UPDATE SKIP LOCKED`` lets
    several daemons share the queue without sending a row twice."""
    async with in_transaction():
        query = OutboxMessage.filter(
            cohort_id=cohort_id, state="queued", next_attempt_at__lte=now
        ).order_by("id").limit(limit)
        if is_postgres():
            query = query.select_for_update(skip_locked=True)
        rows = await query
        claimed = []
        for row in rows:
            # The conditional update is what makes the claim safe on SQLite too.
            n = await OutboxMessage.filter(id=row.id, state="queued").update(
                state="sending", claimed_at=now
            )
            if n:
                row.state = "sending"
                claimed.append(row)
        return claimed


@dataclass(frozen=True)
class SendReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


async def send_batch(sender: SmtpSender, rows: list[OutboxMessage], now: datetime) -> SendReport:
    sent = retrying = failed = 0
    for row in rows:
        try:
            await sender.send(bytes(row.raw_message), row.mail_from, [row.rcpt])
        except TemporaryFailure as exc:
            row.attempts += 1
            row.last_error = str(exc)
            if row.attempts >= SEND_RETRY.attempts:
                row.state = "failed"
                failed += 1
                log.error("Gave up sending the %s to %s after %d tries: %s", row.kind, row.rcpt,
                          row.attempts, exc)
            else:
                row.state = "queued"
                row.next_attempt_at = now + timedelta(seconds=SEND_RETRY.delay(row.attempts))
                retrying += 1
                log.warning("The %s to %s was not accepted yet (%s); trying again at %s.",
                            row.kind, row.rcpt, exc, row.next_attempt_at.strftime("%H:%M:%S UTC"))
            await row.save(update_fields=["attempts", "last_error", "state", "next_attempt_at"])
            continue
        except PermanentFailure as exc:
            await _mark_failed(row, exc)
            failed += 1
            continue
        except SendError as exc:  # pragma: no cover - SendError is abstract in practice
            await _mark_failed(row, exc)
            failed += 1
            continue
        row.state = "sent"
        row.sent_at = now
        row.attempts += 1
        await row.save(update_fields=["state", "sent_at", "attempts"])
        sent += 1
        log.info("Sent the %s to %s.", row.kind, row.rcpt)
    return SendReport(sent, retrying, failed)


async def _mark_failed(row: OutboxMessage, exc: SendError) -> None:
    row.state = "failed"
    row.attempts += 1
    row.last_error = str(exc)
    await row.save(update_fields=["state", "attempts", "last_error"])
    log.error("The server refused the %s to %s for good: %s. Check the address; the "
              "facilitator sees this in `circleback status`.", row.kind, row.rcpt, exc)


async def pending_count(cohort_id: str) -> int:
    return await OutboxMessage.filter(cohort_id=cohort_id, state__in=["queued", "sending"]).count()
