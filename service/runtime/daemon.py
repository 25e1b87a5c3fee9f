"""The daemon: one TaskGroup serving every cohort of the deployment.

- one scheduler over all cohorts;
- one outbox worker per SMTP account, claiming across the cohorts that use it;
- one watcher per distinct mailbox, each behind a lease renewed on a timer of its own, so
  that exactly one of several daemons on one database reads it (a standby takes over
  within the lease when the holder dies);
- this daemon's presence, renewed on a timer: outbox rows claimed by a daemon whose
  presence lapsed go back to the queue at once;
- one HTTP listener for all cohorts (one-click unsubscribe), when ``[http] listen`` is set.

SIGTERM/SIGINT stop it cleanly (each job finishes its current step); SIGHUP reloads the
config: cohorts added, changed or removed, and changed server settings, take effect
without a restart (a config with errors is refused and the running one stays).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
from collections.abc import Awaitable, Callable

from service.config import Deployment, load_deployment
from service.core.retry import Backoff
from service.flows.unsubscribe import name_for_token, unsubscribe
from service.mail.imap import ImapError
from service.mail.web import serve
from service.runtime.passes import (
    RunReport,
    mailbox_client,
    mailbox_pass,
    outbox_pass,
    schedule_all,
    smtp_sender,
)
from service.runtime.service import MailboxWatch, Runtime, SmtpAccount
from service.store import leases, outbox

log = logging.getLogger("circleback")

__all__ = ["Daemon"]

RECONNECT = Backoff(attempts=1_000_000, base=2.0, cap=300.0, jitter=True)


class Daemon:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.stopping = asyncio.Event()
        self.schedule_wake = asyncio.Event()
        self.reload_wake = asyncio.Event()
        self._outbox_wakes: set[asyncio.Event] = set()
        self._pending: Deployment | None = None
        self._jobs: dict[MailboxWatch | SmtpAccount, asyncio.Task[None]] = {}

    @property
    def renew_every(self) -> float:
        """How often leases are renewed: three times per lease period."""
        return self.runtime.deployment.lease_seconds / 3

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop, sig.name)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        rt = self.runtime
        participants = sum(len(c.config.participants) for c in rt.cohorts.values())
        if rt.many:
            log.info("circleback is running for %d cohorts (%s; %d participants). Stop with "
                     "Ctrl-C.", len(rt.cohorts), ", ".join(sorted(rt.cohorts)), participants)
        else:
            log.info("circleback is running for the cohort “%s” (%d participants). Stop with "
                     "Ctrl-C.", rt.cohort().config.cohort.name, participants)
        await self._announce()
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                tg.create_task(self._guard("presence", self._presence))
                tg.create_task(self._guard("scheduler", self._scheduler))
                tg.create_task(self._guard("reloader", self._reloader))
                if rt.deployment.http_listen:
                    tg.create_task(self._guard("unsubscribe page", self._http))
                self._start_jobs()
                await self.stopping.wait()
                raise _Stop
        except* _Stop:
            pass
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
            with contextlib.suppress(Exception):
                await leases.release(leases.presence(rt.holder), holder=rt.holder)
        log.info("circleback stopped cleanly.")

    def stop(self, why: str = "") -> None:
        if not self.stopping.is_set():
            log.info("Stopping (%s): finishing the current step.", why or "asked to")
            self.stopping.set()

    def reload(self) -> None:
        """SIGHUP: read the config again; apply it when it is valid."""
        source = self.runtime.deployment.path
        try:
            deployment = load_deployment(source, require_secrets=True)
        except Exception as exc:
            log.error("Reload refused, the running config stays in force: %s", exc)
            return
        log.info("Reloaded %s.", source)
        self._pending = deployment
        self.reload_wake.set()

    def wake_outbox(self) -> None:
        for event in self._outbox_wakes:
            event.set()

    # --- the jobs -----------------------------------------------------------------------

    def _start_jobs(self) -> None:
        """Start a job for every mailbox and account of the config; stop the ones it no
        longer has or whose settings changed (a job is known by its settings, so a
        changed one is a new job and starts afresh)."""
        wanted: set[MailboxWatch | SmtpAccount] = {*self.runtime.mailboxes(), *self.runtime.accounts()}
        for spec in list(self._jobs):
            if spec not in wanted:
                self._jobs.pop(spec).cancel()
        for spec in wanted - self._jobs.keys():
            if isinstance(spec, MailboxWatch):
                body = functools.partial(self._watch, spec)
                name = f"mailbox watcher ({spec.key})"
            else:
                body = functools.partial(self._send, spec)
                name = f"outbox ({spec.key})"
            self._jobs[spec] = self._tg.create_task(self._guard(name, body))

    async def _reloader(self) -> None:
        while not self.stopping.is_set():
            await self._sleep(3600.0, self.reload_wake)
            deployment, self._pending = self._pending, None
            if deployment is None:
                continue
            await self.runtime.apply(deployment)
            self._start_jobs()
            self.schedule_wake.set()
            self.wake_outbox()

    async def _announce(self) -> None:
        rt = self.runtime
        await leases.acquire(leases.presence(rt.holder), rt.clock.now(), holder=rt.holder,
                             ttl=rt.lease)

    async def _presence(self) -> None:
        while not self.stopping.is_set():
            await self._announce()
            await self._sleep(self.renew_every)

    async def _scheduler(self) -> None:
        while not self.stopping.is_set():
            done, result, _ = await schedule_all(self.runtime)
            if done:
                self.wake_outbox()
            now = self.runtime.clock.now()
            wakeup = result.next_wakeup
            delay = 60.0 if wakeup is None else min(60.0, max(1.0, (wakeup - now).total_seconds()))
            await self._sleep(delay, self.schedule_wake)

    async def _send(self, account: SmtpAccount) -> None:
        wake = asyncio.Event()
        self._outbox_wakes.add(wake)
        sender = smtp_sender(account.smtp)
        busy = min(30.0, self.runtime.deployment.lease_seconds / 2)
        # Idle, it still looks once per lease: nothing wakes it when another daemon on the
        # database dies holding claimed rows (they return to the queue only when a pass
        # looks), and those must go out within the lease, not minutes later.
        idle = min(300.0, self.runtime.deployment.lease_seconds)
        try:
            while not self.stopping.is_set():
                await outbox_pass(self.runtime, account, sender, RunReport())
                pending = await outbox.pending_count(account.cohort_ids)
                await self._sleep(busy if pending else idle, wake)
        finally:
            self._outbox_wakes.discard(wake)
            await sender.close()

    async def _watch(self, watch: MailboxWatch) -> None:
        """Watch one mailbox while this daemon holds its lease; stand by otherwise."""
        rt, lease = self.runtime, watch.lease
        standing_by = False
        while not self.stopping.is_set():
            if not await leases.acquire(lease, rt.clock.now(), holder=rt.holder, ttl=rt.lease):
                if not standing_by:
                    log.info("Another circleback (%s) is watching %s; this one stands by.",
                             await leases.holder_of(lease, rt.clock.now()), watch.key)
                    standing_by = True
                await self._sleep(self.renew_every)
                continue
            if standing_by:
                log.info("Took over watching %s.", watch.key)
                standing_by = False
            keeper = asyncio.ensure_future(self._keep(lease))
            session = asyncio.ensure_future(self._watch_session(watch))
            try:
                await asyncio.wait([keeper, session], return_when=asyncio.FIRST_COMPLETED)
                if session.done():
                    session.result()  # an error restarts the watcher after a backoff
                elif keeper.done():
                    keeper.result()
                    log.warning("Lost the lease on %s to another circleback; standing by.",
                                watch.key)
            finally:
                for task in (keeper, session):
                    task.cancel()
                await asyncio.gather(keeper, session, return_exceptions=True)
                with contextlib.suppress(Exception):
                    await leases.release(lease, holder=rt.holder)

    async def _keep(self, lease: str) -> None:
        """Renew the lease on a timer of its own (however long an IDLE lasts); return
        when it was lost."""
        rt = self.runtime
        while not self.stopping.is_set():
            await self._sleep(self.renew_every)
            if not await leases.acquire(lease, rt.clock.now(), holder=rt.holder, ttl=rt.lease):
                return

    async def _watch_session(self, watch: MailboxWatch) -> None:
        mailbox = mailbox_client(watch.imap)
        try:
            await mailbox.connect()
            log.info("Watching %s on %s for replies (%s).", watch.imap.mailbox, watch.imap.host,
                     ", ".join(watch.cohort_ids))
            while not self.stopping.is_set():
                report = RunReport()
                await mailbox_pass(self.runtime, watch, mailbox, report)
                if report.fetched:
                    self.wake_outbox()
                    self.schedule_wake.set()
                # Check again around every IDLE, so nothing that arrives in between is missed.
                waiter = asyncio.ensure_future(mailbox.wait_for_change(watch.imap.poll_interval))
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

    async def _http(self) -> None:
        """The one-click unsubscribe page (RFC 8058), for every cohort."""
        listen = self.runtime.deployment.http_listen
        assert listen is not None
        server = await serve(listen, lambda t: unsubscribe(self.runtime.cohorts, t),
                             lambda t: name_for_token(self.runtime.cohorts, t))
        try:
            await self.stopping.wait()
        finally:
            server.close()
            await server.wait_closed()

    # --- plumbing -----------------------------------------------------------------------

    async def _guard(self, name: str, body: Callable[[], Awaitable[None]]) -> None:
        """Run one loop forever; an error restarts it after a backoff, never kills the daemon."""
        attempt = 0
        while not self.stopping.is_set():
            try:
                await body()
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
        sleeper = asyncio.ensure_future(self.runtime.clock.sleep(seconds))
        try:
            await asyncio.wait([sleeper, *waiters], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in [sleeper, *waiters]:
                t.cancel()
            if wake is not None:
                wake.clear()


class _Stop(Exception):
    pass
