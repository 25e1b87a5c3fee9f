"""The daemon: the scheduler, the outbox sender and the IMAP watcher as tasks of one
TaskGroup. The only module that knows the database, SMTP and IMAP all at once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime

from tortoise.transactions import in_transaction

from service.config import Config, load_config
from service.core.clock import Clock, RealClock
from service.core.retry import Backoff
from service.core.schedule import Plan, plan
from service.flows.cohort import (
    Cohort,
    done_keys,
    name_for_token,
    participant_states,
    sync_participants,
    unsubscribe,
)
from service.flows.ingest import NEEDS_ATTENTION, PROCESSED, Ingested, ingest, participant_emails
from service.flows.invitations import sync_calendars
from service.flows.prompts import perform
from service.mail.imap import ImapError, Mailbox
from service.mail.smtp import SendError, SmtpSender
from service.mail.web import serve
from service.store import db
from service.store.leases import acquire, holder_of, release
from service.store.models import InboundMessage, MailboxCursor
from service.store.outbox import claim_outbox_batch, pending_count, release_stale_claims, send_batch

log = logging.getLogger("circleback")

FETCH_CHUNK = 50
RECONNECT = Backoff(attempts=1_000_000, base=2.0, cap=300.0, jitter=True)


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


def smtp_sender(config: Config) -> SmtpSender:
    s = config.smtp
    return SmtpSender(host=s.host, port=s.port, security=s.security,  # type: ignore[arg-type]
                      username=s.username, password=s.password(), timeout=s.timeout,
                      tls_context=s.tls_context())


def mailbox_client(config: Config) -> Mailbox:
    i = config.imap
    return Mailbox(host=i.host, port=i.port, security=i.security,  # type: ignore[arg-type]
                   username=i.username or "", password=i.password() or "", timeout=i.timeout,
                   tls_context=i.tls_context(), poll_interval=i.poll_interval,
                   password_env=i.password_env or "")


@contextlib.asynccontextmanager
async def opened(config: Config, clock: Clock | None = None) -> AsyncIterator[Cohort]:
    """Open the database for this config and yield the cohort; close it afterwards."""
    await db.open_database(config.database_url)
    try:
        cohort = Cohort(config=config, secret=await db.token_secret(), clock=clock or RealClock())
        await sync_participants(cohort)
        yield cohort
    finally:
        await db.close_database()


# --- the three flows, each one pass ------------------------------------------------------

async def schedule_pass(cohort: Cohort) -> tuple[int, Plan]:
    """Queue everything that is due now. Returns (actions done, the plan it followed)."""
    done = await sync_calendars(cohort)
    now = cohort.clock.now()
    result = plan(cohort.config, now, await participant_states(cohort), await done_keys(cohort))
    for due in result.due:
        if await perform(cohort, due):
            done += 1
    return done, result


async def mailbox_pass(cohort: Cohort, mailbox: Mailbox, report: RunReport) -> None:
    """Fetch everything new since the cursor, store it, move it out of the inbox."""
    name = cohort.config.imap.mailbox
    uidvalidity, _ = await mailbox.select(name)
    cursor, _ = await MailboxCursor.get_or_create(cohort_id=cohort.id, mailbox=name,
                                                  defaults={"uidvalidity": uidvalidity})
    if cursor.uidvalidity != uidvalidity:
        # RFC 3501 2.3.1.1: old UIDs mean nothing now. Read everything again; Message-ID
        # deduplication keeps stories from doubling.
        log.warning("The mailbox %s was recreated (UIDVALIDITY changed); reading it again from "
                    "the start. Messages seen before are recognised and not stored twice.", name)
        cursor.uidvalidity, cursor.last_uid = uidvalidity, 0
        await cursor.save(update_fields=["uidvalidity", "last_uid"])
        # Messages stored but not yet moved carry UIDs of the old mailbox: they are read
        # again under their new UIDs (and moved then), never moved by their old numbers.
        await InboundMessage.filter(cohort_id=cohort.id, state="stored").update(uid=0)
    for folder in (PROCESSED, NEEDS_ATTENTION):
        await mailbox.ensure_folder(folder)
    # Stored but not moved (a crash between the two): finish the move.
    for pending in await InboundMessage.filter(cohort_id=cohort.id, state="stored",
                                               uid__gt=0).limit(500):
        if pending.uid <= cursor.last_uid:
            await _move(mailbox, int(pending.uid), pending.folder or PROCESSED, pending.id)
    uids = await mailbox.uids_after(cursor.last_uid)
    if not uids:
        return
    people = await participant_emails(cohort)
    for i in range(0, len(uids), FETCH_CHUNK):
        # Bounded chunks: memory stays flat however full the mailbox is.
        moves: dict[str, list[int]] = {}
        stored: dict[str, list[int]] = {}  # InboundMessage ids, by folder
        fetched = await mailbox.fetch(uids[i:i + FETCH_CHUNK])
        # One durable commit per chunk (each message in its own savepoint); nothing is
        # moved out of the inbox before the chunk is on disk.
        async with in_transaction():
            for uid, raw in fetched:
                result = await _ingest_safely(cohort, raw, uid, cursor, people)
                report.fetched += 1
                report.kinds[result.kind] = report.kinds.get(result.kind, 0) + 1
                moves.setdefault(result.folder, []).append(uid)
                if result.row_id is not None:
                    stored.setdefault(result.folder, []).append(result.row_id)
        for folder, moved in moves.items():
            await mailbox.move(moved, folder)
            await InboundMessage.filter(id__in=stored.get(folder, [])).update(state="moved")


async def _ingest_safely(cohort: Cohort, raw: bytes, uid: int, cursor: MailboxCursor,
                         people: dict[int, str]) -> Ingested:
    try:
        return await ingest(cohort, raw, uid, cursor, people)
    except (OSError, ConnectionError):
        raise  # the database is gone: the loop reconnects
    except Exception as exc:
        log.exception("Could not process message UID %d; it is kept in %s.", uid, NEEDS_ATTENTION)
        reason = f"could not be processed: {type(exc).__name__}: {exc}"
        row = await InboundMessage.create(
            cohort_id=cohort.id, message_id=f"uid:{cursor.uidvalidity}:{uid}", uid=uid,
            kind="invalid", reason=reason[:1000], folder=NEEDS_ATTENTION, raw_message=raw[:5_000_000],
            received_at=cohort.clock.now())
        cursor.last_uid = max(cursor.last_uid, uid)
        await cursor.save(update_fields=["last_uid"])
        return Ingested("invalid", NEEDS_ATTENTION, row.id, reason)


async def _move(mailbox: Mailbox, uid: int, folder: str, row_id: int | None) -> None:
    await mailbox.move(uid, folder)
    if row_id is not None:
        await InboundMessage.filter(id=row_id).update(state="moved")


async def outbox_pass(cohort: Cohort, sender: SmtpSender, report: RunReport) -> None:
    """Send every queued message that is due now."""
    now = cohort.clock.now()
    await release_stale_claims(cohort.id, now)
    if not await pending_count(cohort.id):
        return
    if not sender.connected:
        # Connect (and log in) before claiming anything: a server that is down or a wrong
        # password is the server's problem, not the messages'. They stay queued.
        await sender.connect()
    while rows := await claim_outbox_batch(cohort.id, now):
        result = await send_batch(sender, rows, now)
        report.sent += result.sent
        report.retrying += result.retrying
        report.failed += result.failed


# --- --once -----------------------------------------------------------------------------

def mailbox_lease(config: Config) -> str:
    i = config.imap
    return f"imap:{i.host}:{i.port}:{i.username}:{i.mailbox}"


async def run_once(cohort: Cohort) -> RunReport:
    """All work due now: queue due mail, read the mailbox, send the outbox."""
    report = RunReport()
    report.queued, _ = await schedule_pass(cohort)
    lease = mailbox_lease(cohort.config)
    if not await acquire(lease, cohort.clock.now()):
        log.info("Another circleback (%s) is watching the mailbox; leaving it to that one.",
                 await holder_of(lease, cohort.clock.now()))
    else:
        mailbox = mailbox_client(cohort.config)
        try:
            await mailbox.connect()
            await mailbox_pass(cohort, mailbox, report)
        except ImapError as exc:
            report.problems.append(f"IMAP: {exc}")
            log.error("Could not read the mailbox: %s", exc)
        finally:
            await mailbox.close()
            await release(lease)
    more, after = await schedule_pass(cohort)  # replies change what is due (skip, stop, pause)
    report.queued += more
    report.next_due, report.next_what = after.next_wakeup, after.next_what
    sender = smtp_sender(cohort.config)
    try:
        await outbox_pass(cohort, sender, report)
    except SendError as exc:
        report.problems.append(f"SMTP: {exc}")
        log.error("Could not send mail: %s. The messages stay queued.", exc)
    finally:
        await sender.close()
    return report


# --- the daemon -------------------------------------------------------------------------

class Daemon:
    def __init__(self, cohort: Cohort) -> None:
        self.cohort = cohort
        self.stopping = asyncio.Event()
        self.outbox_wake = asyncio.Event()
        self.schedule_wake = asyncio.Event()
        self.reloaded = False

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop, sig.name)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        log.info("circleback is running for the cohort “%s” (%d participants). Stop with Ctrl-C.",
                 self.cohort.config.cohort.name, len(self.cohort.config.participants))
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._guard("scheduler", self._scheduler))
                tg.create_task(self._guard("outbox", self._outbox))
                tg.create_task(self._guard("mailbox watcher", self._watcher))
                if self.cohort.config.http_listen:
                    tg.create_task(self._guard("unsubscribe page", self._http))
                await self.stopping.wait()
                raise _Stop
        except* _Stop:
            pass
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
        log.info("circleback stopped cleanly.")

    def stop(self, why: str = "") -> None:
        if not self.stopping.is_set():
            log.info("Stopping (%s): finishing the current step.", why or "asked to")
            self.stopping.set()

    def reload(self) -> None:
        try:
            config = load_config(self.cohort.config.path, require_secrets=True)
        except Exception as exc:
            log.error("Reload refused, the running config stays in force: %s", exc)
            return
        self.cohort.config = config
        log.info("Reloaded %s.", config.path)
        self.reloaded = True  # the scheduler syncs participants before its next pass
        self.schedule_wake.set()

    async def _guard(self, name: str, body: object) -> None:
        """Run one loop forever; an error restarts it after a backoff, never kills the daemon."""
        attempt = 0
        while not self.stopping.is_set():
            try:
                await body()  # type: ignore[operator]
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                attempt += 1
                delay = RECONNECT.delay(attempt)
                log.error("The %s hit a problem: %s. Trying again in %.0f s.", name, exc, delay)
                log.debug("details", exc_info=True)
                await self._sleep(delay)

    async def _sleep(self, seconds: float, wake: asyncio.Event | None = None) -> None:
        waiters = [asyncio.ensure_future(self.stopping.wait())]
        if wake is not None:
            waiters.append(asyncio.ensure_future(wake.wait()))
        sleeper = asyncio.ensure_future(self.cohort.clock.sleep(seconds))
        try:
            await asyncio.wait([sleeper, *waiters], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in [sleeper, *waiters]:
                t.cancel()
            if wake is not None:
                wake.clear()

    async def _scheduler(self) -> None:
        while not self.stopping.is_set():
            if self.reloaded:
                self.reloaded = False
                await sync_participants(self.cohort)
            done, result = await schedule_pass(self.cohort)
            wakeup = result.next_wakeup
            if done:
                self.outbox_wake.set()
            now = self.cohort.clock.now()
            delay = 60.0 if wakeup is None else min(60.0, max(1.0, (wakeup - now).total_seconds()))
            await self._sleep(delay, self.schedule_wake)

    async def _outbox(self) -> None:
        sender = smtp_sender(self.cohort.config)
        try:
            while not self.stopping.is_set():
                report = RunReport()
                await outbox_pass(self.cohort, sender, report)
                await self._sleep(30.0 if await pending_count(self.cohort.id) else 300.0,
                                  self.outbox_wake)
        finally:
            await sender.close()

    async def _http(self) -> None:
        """The one-click unsubscribe page (RFC 8058), when [http] listen is set."""
        cohort, listen = self.cohort, self.cohort.config.http_listen
        assert listen is not None
        server = await serve(listen, lambda t: unsubscribe(cohort, t),
                             lambda t: name_for_token(cohort, t))
        try:
            await self.stopping.wait()
        finally:
            server.close()
            await server.wait_closed()

    async def _watcher(self) -> None:
        lease = mailbox_lease(self.cohort.config)
        waiting = False
        while not await acquire(lease, self.cohort.clock.now()):
            if not waiting:
                log.info("Another circleback (%s) is watching the mailbox; this one stands by.",
                         await holder_of(lease, self.cohort.clock.now()))
                waiting = True
            await self._sleep(30.0)
            if self.stopping.is_set():
                return
        mailbox = mailbox_client(self.cohort.config)
        try:
            await mailbox.connect()
            log.info("Watching %s on %s for replies.", self.cohort.config.imap.mailbox,
                     self.cohort.config.imap.host)
            while not self.stopping.is_set():
                if not await acquire(lease, self.cohort.clock.now()):
                    raise RuntimeError("lost the mailbox lease to another daemon")
                report = RunReport()
                await mailbox_pass(self.cohort, mailbox, report)
                if report.fetched:
                    self.outbox_wake.set()
                    self.schedule_wake.set()
                # Check again around every IDLE, so nothing that arrives in between is missed.
                waiter = asyncio.ensure_future(
                    mailbox.wait_for_change(self.cohort.config.imap.poll_interval))
                stop = asyncio.ensure_future(self.stopping.wait())
                await asyncio.wait([waiter, stop], return_when=asyncio.FIRST_COMPLETED)
                stop.cancel()
                if not waiter.done():
                    waiter.cancel()
                    with contextlib.suppress(asyncio.CancelledError, ImapError):
                        await waiter
                else:
                    waiter.result()
        finally:
            await mailbox.close()
            await release(lease)


class _Stop(Exception):
    pass
