"""The cohort's config: its shape (frozen dataclasses); ``load_config`` reads one.

Every problem is collected (not just the first) and names the file, the key,
what is wrong and how to fix it. The result is one frozen ``Config`` object that
the rest of the code reads; nothing else parses the TOML (the checks of every key are
in ``service.config.parse``).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the config: where, what, and how to fix it."""

    file: str
    key: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.file}: [{self.key}] {self.message}. Fix: {self.fix}"


class ConfigError(Exception):
    """Raised with every problem found in the config at once."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class CohortConfig:
    id: str
    name: str
    timezone: str
    stories_need_consent: bool = False  # a story reaches the digest only after "share"


@dataclass(frozen=True)
class FacilitatorConfig:
    name: str
    email: str
    timezone: str


@dataclass(frozen=True)
class MailConfig:
    address: str
    display_name: str
    base_url: str | None = None  # for https List-Unsubscribe links; optional
    max_attachment_bytes: int = 10 * 1024 * 1024
    # The least time between two messages to one participant: an invitation, the digest
    # and a prompt that fall due together arrive this far apart, not in the same second.
    message_gap: timedelta = timedelta(minutes=15)

    @property
    def local_part(self) -> str:
        return self.address.split("@", 1)[0]

    @property
    def domain(self) -> str:
        return self.address.split("@", 1)[1]

    def reply_address(self, token: str) -> str:
        """The tokenised reply address ``LOCAL+TOKEN@DOMAIN``."""
        return f"{self.local_part}+{token}@{self.domain}"


@dataclass(frozen=True)
class CheckinsConfig:
    first: datetime  # aware, in cohort.timezone
    rrule: str  # always bounded (COUNT or UNTIL); derived from `every` + `count` when given so
    every: str | None
    count: int | None
    duration: timedelta
    location: str
    prompt_before: timedelta
    remind_before: timedelta | None
    title: str
    cancelled: tuple[int, ...] = ()  # check-in numbers that will not take place
    moved: tuple[MovedCheckin, ...] = ()  # check-ins held at another time
    cancel_series: bool = False  # the whole series is called off


@dataclass(frozen=True)
class MovedCheckin:
    checkin: int
    start: datetime  # aware, in cohort.timezone


@dataclass(frozen=True)
class DigestConfig:
    weekday: int  # 0 = Monday
    time: time
    quiet_week_note: bool = False
    local_time: bool = False  # each participant gets it at that weekday and time in their zone


@dataclass(frozen=True)
class PromptConfig:
    checkin: int
    text: str


@dataclass(frozen=True)
class PollConfig:
    """A question the prompt of check-in ``checkin`` asks, answered by replying with an
    option's number or words. It closes at ``closes_at`` (aware), else when the prompt of
    check-in ``closes_checkin`` goes out, else when the next check-in's prompt does."""

    question: str
    options: tuple[str, ...]  # 2 to 5
    checkin: int
    closes_checkin: int | None = None
    closes_at: datetime | None = None


@dataclass(frozen=True)
class ParticipantConfig:
    name: str
    email: str  # lower case
    timezone: str


@dataclass(frozen=True)
class ServerConfig:
    host: str
    port: int
    security: str
    username: str | None
    password_env: str | None
    timeout: float = 30.0
    ca_file: str | None = None  # trust this CA (a private or self-signed server certificate)
    tls_verify: bool = True

    def password(self) -> str | None:
        return os.environ.get(self.password_env) if self.password_env else None

    def tls_context(self) -> ssl.SSLContext | None:
        """None: the library's default (system CAs, hostname checked)."""
        if self.security == "none" or (self.ca_file is None and self.tls_verify):
            return None
        context = ssl.create_default_context(cafile=self.ca_file)
        if not self.tls_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


@dataclass(frozen=True)
class ImapConfig(ServerConfig):
    mailbox: str = "INBOX"
    poll_interval: float = 60.0


@dataclass(frozen=True)
class Config:
    path: Path
    cohort: CohortConfig
    facilitator: FacilitatorConfig
    mail: MailConfig
    checkins: CheckinsConfig
    digest: DigestConfig
    prompts: tuple[PromptConfig, ...]
    participants: tuple[ParticipantConfig, ...]
    smtp: ServerConfig
    imap: ImapConfig
    database_url: str
    http_listen: str | None = None  # host:port for the one-click unsubscribe page
    extra: Mapping[str, Any] = field(default_factory=dict)
    lease_seconds: float = 30.0  # [daemon] lease: how long a mailbox lease lasts unrenewed
    # The folder this cohort came from (``path`` is then its DIR/cohorts/*.toml file); None for
    # a single-file config. Reload with ``load_deployment(deployment_path or path).cohort(id)``.
    deployment_path: Path | None = None
    polls: tuple[PollConfig, ...] = ()  # [[polls]], at most one per check-in

    def poll_for(self, checkin: int) -> PollConfig | None:
        """The poll the prompt of check-in ``checkin`` carries, if any."""
        return next((p for p in self.polls if p.checkin == checkin), None)

    def prompt_for(self, checkin: int) -> str | None:
        for p in self.prompts:
            if p.checkin == checkin:
                return p.text
        return None
