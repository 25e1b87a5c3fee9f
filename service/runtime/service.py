"""The running deployment: its cohorts, the mailboxes to watch and the SMTP accounts to
send through (each shared by the cohorts that use it), and how a reload changes them."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

from service.config import Config, Deployment, ImapConfig, ServerConfig
from service.core.clock import Clock, RealClock
from service.flows.cohort import Cohort
from service.logs import about, name_cohorts
from service.store import db
from service.store.leases import new_holder
from service.store.participants import sync_participants

log = logging.getLogger("circleback")

__all__ = ["MailboxWatch", "Runtime", "SmtpAccount", "opened"]


@dataclass(frozen=True)
class MailboxWatch:
    """One IMAP mailbox and the cohorts whose replies reach it."""

    key: str  # user@host:port/NAME: its lease and its cursor
    imap: ImapConfig
    cohort_ids: tuple[str, ...]

    @property
    def lease(self) -> str:
        """Held by the one daemon that reads this mailbox."""
        return "imap:" + self.key


@dataclass(frozen=True)
class SmtpAccount:
    """One SMTP account and the cohorts that send through it."""

    key: str  # user@host:port
    smtp: ServerConfig
    cohort_ids: tuple[str, ...]


def mailbox_key(imap: ImapConfig) -> str:
    return f"{imap.username}@{imap.host}:{imap.port}/{imap.mailbox}"


def account_key(smtp: ServerConfig) -> str:
    return f"{smtp.username or ''}@{smtp.host}:{smtp.port}"


@dataclass
class Runtime:
    deployment: Deployment
    clock: Clock
    secret: bytes
    holder: str = field(default_factory=new_holder)  # this daemon, in leases and claims
    cohorts: dict[str, Cohort] = field(default_factory=dict)
    stored: bool = True  # False: a looking command found no database (nothing sent yet)

    def __post_init__(self) -> None:
        if not self.cohorts:
            self.cohorts = {c.cohort.id: Cohort(c, self.secret, self.clock)
                            for c in self.deployment.cohorts}
        name_cohorts(self.many)

    def cohort(self, cohort_id: str | None = None) -> Cohort:
        """The cohort ``--cohort`` names (None: the only one); ConfigError otherwise."""
        return self.cohorts[self.deployment.cohort(cohort_id).cohort.id]

    @property
    def many(self) -> bool:
        return len(self.cohorts) > 1

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.deployment.lease_seconds)

    def mailboxes(self) -> list[MailboxWatch]:
        """One watch per distinct mailbox (several cohorts may share one)."""
        groups: dict[str, tuple[ImapConfig, list[str]]] = {}
        for cohort in self.cohorts.values():
            imap = cohort.config.imap
            groups.setdefault(mailbox_key(imap), (imap, []))[1].append(cohort.id)
        return [MailboxWatch(key, imap, tuple(ids)) for key, (imap, ids) in sorted(groups.items())]

    def accounts(self) -> list[SmtpAccount]:
        """One outbox worker per distinct SMTP account."""
        groups: dict[str, tuple[ServerConfig, list[str]]] = {}
        for cohort in self.cohorts.values():
            smtp = cohort.config.smtp
            groups.setdefault(account_key(smtp), (smtp, []))[1].append(cohort.id)
        return [SmtpAccount(key, smtp, tuple(ids)) for key, (smtp, ids) in sorted(groups.items())]

    async def sync_rosters(self) -> None:
        """Participants in the database in line with each cohort's config."""
        for cohort in list(self.cohorts.values()):
            changes = await sync_participants(cohort.id, cohort.config.participants,
                                              self.clock.now())
            with self.about(cohort):
                for p in changes.joined:
                    log.info("%s <%s> joined the cohort.", p.name, p.email)
                for p in changes.returned:
                    log.info("%s <%s> is back in the cohort.", p.name, p.email)
                for p in changes.left:
                    log.info("%s <%s> left the cohort (no longer in the config).", p.name,
                             p.email)

    async def apply(self, deployment: Deployment) -> None:
        """A reload: start new cohorts, update changed ones, wind down removed ones (their
        data stays; nothing more is planned, read or sent for them). Server settings take
        effect because watchers and workers are rebuilt from the new configs."""
        if deployment.database_url != self.deployment.database_url:
            log.warning("Reload: [database] url changed; that takes a restart. The other "
                        "changes are applied.")
        old = self.cohorts
        new: dict[str, Cohort] = {}
        for config in deployment.cohorts:
            cohort = old.get(config.cohort.id)
            if cohort is None:
                new[config.cohort.id] = Cohort(config, self.secret, self.clock)
                log.info("Reload: started the cohort %s (%s).", config.cohort.id,
                         config.cohort.name)
            else:
                if cohort.config != config:
                    log.info("Reload: updated the cohort %s.", config.cohort.id)
                cohort.config = config
                new[config.cohort.id] = cohort
        for cohort_id in old.keys() - new.keys():
            log.info("Reload: wound down the cohort %s (its file is gone; its data stays, and "
                     "mail already queued for it waits until it comes back).", cohort_id)
        self.deployment = deployment
        self.cohorts = new
        name_cohorts(self.many)
        await self.sync_rosters()

    def about(self, cohort: Cohort) -> contextlib.AbstractContextManager[None]:
        """Log lines inside are about this cohort (named when the daemon serves several)."""
        return about(cohort.id)


@contextlib.asynccontextmanager
async def opened(source: Config | Deployment, clock: Clock | None = None, *,
                 read_only: bool = False) -> AsyncIterator[Runtime]:
    """Open the deployment's database and yield its runtime; close it afterwards.

    ``read_only``: for the commands that only look (status, preview, inspect, export,
    check): nothing is created, migrated or written, and the roster is not synced (so no
    one "joins"). With no database yet, the runtime's ``stored`` is False and it works on
    an empty one in memory holding the config's roster: nothing has been sent yet.
    """
    deployment = source if isinstance(source, Deployment) else Deployment.of(source)
    if read_only:
        stored = await db.open_database_read_only(deployment.database_url)
    else:
        await db.open_database(deployment.database_url)
        stored = True
    try:
        runtime = Runtime(deployment, clock or RealClock(), await db.token_secret(read_only=read_only),
                          stored=stored)
        if not read_only:
            await runtime.sync_rosters()
        elif not stored:
            for cohort in runtime.cohorts.values():  # in memory, and quietly: no one joins
                await sync_participants(cohort.id, cohort.config.participants, runtime.clock.now())
        yield runtime
    finally:
        await db.close_database()
