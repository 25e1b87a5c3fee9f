"""The SMTP side of the dev mail system: an aiosmtpd relay to Dovecot's LMTP, with the
faults tests inject (4xx, 5xx, dropped connections) at MAIL, RCPT or DATA."""

from __future__ import annotations

import asyncio
import logging
import smtplib
import threading
from dataclasses import dataclass
from typing import Any, Protocol

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

__all__ = ["SmtpFaults"]

log = logging.getLogger(__name__)

DEFAULT_TEXT = {
    421: "4.3.2 Service not available, closing transmission channel",
    450: "4.2.1 Mailbox busy, try again later",
    451: "4.3.0 Local error in processing, try again later",
    452: "4.2.2 Insufficient system storage",
    550: "5.1.1 Mailbox unavailable",
    552: "5.3.4 Message size exceeds fixed maximum",
    554: "5.0.0 Transaction failed",
}


class Mailhost(Protocol):
    """What the relay needs of the server it belongs to."""

    smtp_faults: SmtpFaults
    domains: set[str]
    users: dict[str, str]

    def deliver(self, raw: bytes, rcpt: str, mail_from: str = ...) -> None: ...


@dataclass
class _Fault:
    command: str
    code: int | None  # None: drop the connection without answering
    text: str
    remaining: int


class SmtpFaults:
    """Make the SMTP server misbehave for the next N MAIL, RCPT or DATA commands.

    Thread-safe: the SMTP server runs in aiosmtpd's controller thread.
    `fail_next("RCPT", 452, times=2)`; `drop_next("DATA")`; `clear()`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []

    def fail_next(self, command: str, code: int, text: str | None = None, times: int = 1) -> None:
        command = command.upper()
        if command not in ("MAIL", "RCPT", "DATA"):
            raise ValueError(f"can only inject faults into MAIL, RCPT or DATA, not {command}")
        fault = _Fault(command, code, text or DEFAULT_TEXT.get(code, "Injected failure"), times)
        with self._lock:
            self._faults.append(fault)

    def drop_next(self, command: str, times: int = 1) -> None:
        """Close the connection instead of answering (a crash or a network cut)."""
        with self._lock:
            self._faults.append(_Fault(command.upper(), None, "", times))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, command: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.command == command:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None


class _RelayHandler:
    """aiosmtpd handler: accept local recipients, relay each message to Dovecot's LMTP."""

    def __init__(self, server: Mailhost) -> None:
        self._server = server

    def _fault(self, smtp: SMTP, command: str) -> str | None:
        fault = self._server.smtp_faults.take(command)
        if fault is None:
            return None
        transport = smtp.transport
        if fault.code is None:
            if isinstance(transport, asyncio.Transport):
                transport.abort()  # no reply at all: the push that follows goes nowhere
            return "421 dropped"
        if fault.code == 421 and transport is not None:
            # RFC 5321 section 3.8: after a 421 the server closes the channel. close()
            # runs after the reply is written, and still flushes it.
            asyncio.get_running_loop().call_soon(transport.close)
        return f"{fault.code} {fault.text}"

    async def handle_MAIL(
        self, smtp: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if (reply := self._fault(smtp, "MAIL")) is not None:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, smtp: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if (reply := self._fault(smtp, "RCPT")) is not None:
            return reply
        local, _, domain = address.rpartition("@")
        if domain.lower() not in self._server.domains:
            return "550 5.7.1 Relaying denied: this dev server only delivers locally"
        user = local.split("+", 1)[0] + "@" + domain.lower()
        if user.lower() not in self._server.users:
            return f"550 5.1.1 <{address}>: no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        if (reply := self._fault(smtp, "DATA")) is not None:
            return reply
        raw = envelope.original_content or b""
        mail_from = envelope.mail_from or ""
        failures: list[str] = []
        for rcpt in envelope.rcpt_tos:
            try:
                await asyncio.to_thread(self._server.deliver, raw, rcpt, mail_from)
            except (OSError, smtplib.SMTPException) as exc:
                log.warning("LMTP delivery to %s failed: %s", rcpt, exc)
                failures.append(rcpt)
        if failures and len(failures) == len(envelope.rcpt_tos):
            return "451 4.3.0 Local delivery failed, try again later"
        return "250 OK delivered"

    def authenticate(
        self, smtp: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword):
            login, password = data.login.decode(), data.password.decode()
            if self._server.users.get(login.lower()) == password:
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


class _QuietSession(Session):
    # aiosmtpd 1.4 sets the deprecated Session.login_data itself on every successful
    # AUTH and logs a deprecation warning each time; a plain attribute shadows it.
    login_data: Any = None


class _SMTP(SMTP):
    def _create_session(self) -> Session:
        return _QuietSession(self.loop)


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _SMTP(self.handler, **self.SMTP_kwargs)
