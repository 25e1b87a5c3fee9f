"""One pass of each job the daemon runs, over every cohort of the deployment: the
schedule (what is due), a mailbox (what came in), an SMTP account's outbox (what goes
out). ``run_once`` does all three once, as ``circleback run --once`` and the demo do."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from service.config import ImapConfig, ServerConfig
from service.core import keys
from service.core.engagement import refuses_address
from service.core.plan import Plan
from service.core.retry import Backoff
from service.flows.ingest import NEEDS_ATTENTION, PROCESSED, Inbox, Ingested, ingest
from service.flows.schedule import schedule_pass
from service.mail.imap import ImapError, Mailbox
from service.mail.smtp import NotRetried, PermanentFailure, SendError, SmtpSender, TemporaryFailure
from service.runtime.service import MailboxWatch, Runtime, SmtpAccount
from service.store import inbound, leases, outbox
from service.store.db import transaction
from service.store.models import MailboxCursor, OutboxMessage
from service.store.participants import address_refused

log = logging.getLogger("circleback")

__all__ = [
    "RunReport",
    "mailbox_client",
    "mailbox_pass",
    "outbox_pass",
    "run_once",
    "schedule_all",
    "smtp_sender",
]

FETCH_CHUNK = 50
SEND_RETRY = Backoff(attempts=8, base=30.0, cap=3600.0, jitter=True)


@dataclass
class RunReport:
    queued: int = 0
    fetched: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    next_due: datetime | None = None
    next_what: str = ""
    next_cohort: str = ""


def smtp_sender(s: ServerConfig) -> SmtpSender:
    return SmtpSender(host=s.host, port=s.port, security=s.security,  # type: ignore[arg-type]
                      username=s.username, password=s.password(), timeout=s.timeout,
                      tls_context=s.tls_context())


def mailbox_client(i: ImapConfig) -> Mailbox:
    return Mailbox(host=i.host, port=i.port, security=i.security,  # type: ignore[arg-type]
                   username=i.username or "", password=i.password() or "", timeout=i.timeout,
                   tls_context=i.tls_context(), poll_interval=i.poll_interval,
                   password_env=i.password_env or "")


# --- the schedule -------------------------------------------------------------------------

async def schedule_all(runtime: Runtime) -> tuple[int, Plan, str]:
    """The schedule pass of every cohort. Returns (items done, the plan with the earliest
    next wake-up, and that plan's cohort)."""
    done = 0
    soonest, whose = Plan(), ""
    for cohort in list(runtime.cohorts.values()):
        with runtime.about(cohort):
            n, result = await schedule_pass(cohort)
        done += n
        if result.next_wakeup is not None and (soonest.next_wakeup is None
                                               or result.next_wakeup < soonest.next_wakeup):
            soonest, whose = result, cohort.id
    return done, soonest, whose


# --- a mailbox ----------------------------------------------------------------------------

async def mailbox_pass(runtime: Runtime, watch: MailboxWatch, mailbox: Mailbox,
                       report: RunReport) -> None:
    """Fetch everything new since the mailbox's cursor, route each message to its cohort,
    store it, move it out of the inbox (or leave it there, when it is not circleback's).

    The first time, the cursor starts at the mailbox's UIDNEXT: the mail already there
    may be a person's own, and is neither read nor moved."""
    home = tuple(cid for cid in watch.cohort_ids if cid in runtime.cohorts)
    if not home:
        return
    uidvalidity, uidnext = await mailbox.select(watch.imap.mailbox)
    cursor, first = await inbound.cursor_for(watch.key, uidvalidity, uidnext)
    if first:
        log.info("First connection to %s on %s: left the %d message(s) already there alone; "
                 "circleback reads only mail that arrives from now on.", watch.imap.mailbox,
                 watch.imap.host, mailbox.exists)
    if cursor.uidvalidity != uidvalidity:
        log.warning("The mailbox %s was recreated (UIDVALIDITY changed); reading it again from "
                    "the start. Messages seen before are recognised and not stored twice.",
                    watch.imap.mailbox)
        await inbound.restart_cursor(cursor, uidvalidity)
    for folder in (PROCESSED, NEEDS_ATTENTION):
        await mailbox.ensure_folder(folder)
    # Stored but not moved (a crash between the two): finish the move.
    for pending in await inbound.pending_moves(watch.key, cursor.last_uid):
        await mailbox.move(int(pending.uid), pending.folder or PROCESSED)
        await inbound.mark_moved([pending.id])
    uids = await mailbox.uids_after(cursor.last_uid)
    if not uids:
        return
    box = Inbox(watch.key, dict(runtime.cohorts), runtime.clock, home)
    await box.load_people()
    for i in range(0, len(uids), FETCH_CHUNK):
        # Bounded chunks: memory stays flat however full the mailbox is.
        moves: dict[str, list[int]] = {}
        stored: dict[str, list[int]] = {}  # InboundMessage ids, by folder
        fetched = await mailbox.fetch(uids[i:i + FETCH_CHUNK])
        # One durable commit per chunk (each message in its own savepoint); nothing is
        # moved out of the inbox before the chunk is on disk.
        async with transaction():
            for uid, raw in fetched:
                result = await _ingest_safely(box, raw, uid, cursor)
                report.fetched += 1
                report.kinds[result.kind] = report.kinds.get(result.kind, 0) + 1
                if not result.folder:
                    continue  # left in the inbox: not circleback's
                moves.setdefault(result.folder, []).append(uid)
                if result.row_id is not None:
                    stored.setdefault(result.folder, []).append(result.row_id)
        for folder, moved in moves.items():
            await mailbox.move(moved, folder)
            await inbound.mark_moved(stored.get(folder, []))


async def _ingest_safely(box: Inbox, raw: bytes, uid: int, cursor: MailboxCursor) -> Ingested:
    try:
        return await ingest(box, raw, uid, cursor)  # its own savepoint: rolls back alone
    except (OSError, ConnectionError):
        raise  # the database is gone: the loop reconnects
    except Exception as exc:
        log.exception("Could not process message UID %d; it is kept in %s.", uid, NEEDS_ATTENTION)
        reason = f"could not be processed: {type(exc).__name__}: {exc}"
        row = await inbound.record_inbound(
            cohort_id="", mailbox=box.mailbox, message_key=keys.failed_message_key(cursor.uidvalidity, uid),
            uid=uid, kind="invalid", participant=None, from_addr="", subject="", reason=reason,
            folder=NEEDS_ATTENTION, raw=raw, now=box.clock.now())
        await inbound.advance_cursor(cursor, uid)
        return Ingested("invalid", NEEDS_ATTENTION, row.id, reason)


# --- an SMTP account's outbox -------------------------------------------------------------

async def outbox_pass(runtime: Runtime, account: SmtpAccount, sender: SmtpSender,
                      report: RunReport) -> None:
    """Send every queued message of the account's cohorts that is due now."""
    clock = runtime.clock
    await outbox.release_claims_of_dead(await leases.live_holders(clock.now()), clock.now())
    if not await outbox.pending_count(account.cohort_ids):
        return
    if not sender.connected:
        # Connect (and log in) before claiming anything: a server that is down or a wrong
        # password is the server's problem, not the messages'. They stay queued.
        await sender.connect()
    while rows := await outbox.claim_outbox_batch(account.cohort_ids, runtime.holder, clock.now()):
        for n, row in enumerate(rows):
            try:
                await _send_one(runtime, sender, row, report)
            except BaseException:
                # The server went away, or the daemon is stopping: what was not sent goes
                # back to the queue now, not when this daemon's presence lapses.
                await outbox.give_back(rows[n:], runtime.holder)
                raise


async def _send_one(runtime: Runtime, sender: SmtpSender, row: OutboxMessage,
                    report: RunReport) -> None:
    claim, now = runtime.holder, runtime.clock.now()
    cohort = runtime.cohorts.get(row.cohort_id)
    if not await outbox.still_mine(row, claim, now):
        log.warning("The %s to %s was taken over by another circleback; not sending it here.",
                    row.kind, row.rcpt)
        return
    try:
        await sender.send(bytes(row.raw_message), row.mail_from, [row.rcpt],
                          may_retry=lambda: outbox.still_mine(row, claim, runtime.clock.now()))
    except NotRetried:
        log.warning("The %s to %s was taken over by another circleback while this one "
                    "reconnected; not sending it here.", row.kind, row.rcpt)
        return
    except TemporaryFailure as exc:
        if row.attempts + 1 >= SEND_RETRY.attempts:
            if await outbox.mark_failed(row, claim, str(exc)):
                report.failed += 1
                log.error("Gave up sending the %s to %s after %d tries: %s", row.kind, row.rcpt,
                          row.attempts + 1, exc)
        else:
            at = runtime.clock.now() + timedelta(seconds=SEND_RETRY.delay(row.attempts + 1))
            if await outbox.mark_retry(row, claim, str(exc), at):
                report.retrying += 1
                log.warning("The %s to %s was not accepted yet (%s); trying again at %s.",
                            row.kind, row.rcpt, exc, at.strftime("%H:%M:%S UTC"))
        return
    except PermanentFailure as exc:
        if not await outbox.mark_failed(row, claim, str(exc)):
            return
        report.failed += 1
        log.error("The server refused the %s to %s for good: %s. Check the address; the "
                  "facilitator sees this in `circleback status`.", row.kind, row.rcpt, exc)
        pid = row.participant_id  # type: ignore[attr-defined]
        if pid is not None and refuses_address(str(exc), row.rcpt) \
                and await address_refused(int(pid)):
            log.error("No more mail is queued for %s until the address is fixed and "
                      "`circleback participants reset-bounce CONFIG %s` is run.", row.rcpt,
                      row.rcpt)
        return
    await outbox.mark_sent(row, claim, runtime.clock.now())
    report.sent += 1
    name = f"[{cohort.id}] " if cohort is not None and runtime.many else ""
    log.info("%sSent the %s to %s.", name, row.kind, row.rcpt)


# --- --once -------------------------------------------------------------------------------

async def run_once(runtime: Runtime) -> RunReport:
    """All work due now for every cohort: queue due mail, read each mailbox, send each
    account's outbox."""
    report = RunReport()
    clock = runtime.clock
    presence = leases.presence(runtime.holder)
    await leases.acquire(presence, clock.now(), holder=runtime.holder, ttl=runtime.lease)
    try:
        report.queued, _, _ = await schedule_all(runtime)
        for watch in runtime.mailboxes():
            await _read_once(runtime, watch, report)
        # Replies change what is due (skip, stop, pause).
        more, after, whose = await schedule_all(runtime)
        report.queued += more
        report.next_due, report.next_what, report.next_cohort = after.next_wakeup, after.next_what, whose
        for account in runtime.accounts():
            sender = smtp_sender(account.smtp)
            try:
                await leases.acquire(presence, clock.now(), holder=runtime.holder, ttl=runtime.lease)
                await outbox_pass(runtime, account, sender, report)
            except SendError as exc:
                report.problems.append(f"SMTP: {exc}")
                log.error("Could not send mail: %s. The messages stay queued.", exc)
            finally:
                await sender.close()
    finally:
        await leases.release(presence, holder=runtime.holder)
    return report


async def _read_once(runtime: Runtime, watch: MailboxWatch, report: RunReport) -> None:
    clock = runtime.clock
    lease = watch.lease
    if not await leases.acquire(lease, clock.now(), holder=runtime.holder, ttl=runtime.lease):
        log.info("Another circleback (%s) is watching %s; leaving it to that one.",
                 await leases.holder_of(lease, clock.now()), watch.key)
        return
    mailbox = mailbox_client(watch.imap)
    try:
        await mailbox.connect()
        await mailbox_pass(runtime, watch, mailbox, report)
    except ImapError as exc:
        report.problems.append(f"IMAP: {exc}")
        log.error("Could not read the mailbox %s: %s", watch.key, exc)
    finally:
        await mailbox.close()
        await leases.release(lease, holder=runtime.holder)
