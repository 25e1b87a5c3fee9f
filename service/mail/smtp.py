"""Sending over SMTP: one kept-open aiosmtplib connection, errors sorted into retry or not.

The outbox worker calls `SmtpSender.send()` once per message (one recipient each) and
reads the outcome from the exception class: `TemporaryFailure` (4xx replies, connection
problems, timeouts) means try again later with backoff; `PermanentFailure` (5xx) means
this message will never go through as it is (RFC 5321 section 4.2.1).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Literal

import aiosmtplib
from aiosmtplib import (
    SMTPAuthenticationError,
    SMTPException,
    SMTPRecipientRefused,
    SMTPResponseException,
)

__all__ = [
    "PermanentFailure",
    "Security",
    "SendError",
    "SmtpSender",
    "TemporaryFailure",
    "check_smtp",
]

log = logging.getLogger(__name__)

Security = Literal["starttls", "tls", "none"]


class SendError(Exception):
    """A message was not accepted. `code` is the SMTP reply code, None for network trouble."""

    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(f"{code} {message}" if code is not None else message)
        self.code = code
        self.message = message


class TemporaryFailure(SendError):
    """Try again later: a 4xx reply, a dropped connection or a timeout."""


class NotRetried(SendError):
    """The caller's ``may_retry`` declined a retry on a new connection; nothing was sent."""


class PermanentFailure(SendError):
    """Do not retry as is: a 5xx reply (bad recipient, message refused, login refused)."""


def _from_reply(code: int, message: str) -> SendError:
    # RFC 5321 section 4.2.1: 4yz is a transient negative completion, 5yz permanent.
    cls = PermanentFailure if 500 <= code < 600 else TemporaryFailure
    return cls(code, message)


class SmtpSender:
    """Sends raw messages over one SMTP connection, kept open across sends.

    The connection is opened on the first `send()`, reused afterwards, and reopened when
    the server has dropped it (servers close idle connections: RFC 5321 section
    4.5.3.2.7 lets them give up after 5 minutes). Sends are serialised by a lock.
    """

    def __init__(
        self,
        host: str,
        port: int,
        security: Security = "starttls",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        *,
        tls_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
        max_idle: float = 60.0,
    ) -> None:
        if security not in ("starttls", "tls", "none"):
            raise ValueError(f"security must be starttls, tls or none, not {security!r}")
        self.host = host
        self.port = port
        self.security: Security = security
        self.username = username
        self.password = password
        self.timeout = timeout
        self.max_idle = max_idle
        self._tls_context = tls_context
        self._local_hostname = local_hostname
        self._client: aiosmtplib.SMTP | None = None
        self._last_used = 0.0
        self._lock = asyncio.Lock()

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.is_connected

    async def connect(self) -> None:
        """Open and authenticate the connection. Raises `SendError` subclasses."""
        self._drop()
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            timeout=self.timeout,
            use_tls=self.security == "tls",
            # True: insist on STARTTLS, never fall back to plain text (RFC 3207 section 4.1).
            start_tls=self.security == "starttls",
            tls_context=self._tls_context,
            local_hostname=self._local_hostname,
        )
        try:
            async with asyncio.timeout(self.timeout * 3):
                await client.connect()
        except SMTPAuthenticationError as exc:
            client.close()
            raise _from_reply(exc.code, f"login refused for {self.username}: {exc.message}") from exc
        except SMTPResponseException as exc:
            client.close()
            raise _from_reply(exc.code, exc.message) from exc
        except (SMTPException, OSError, TimeoutError) as exc:
            client.close()
            raise TemporaryFailure(
                None, f"could not connect to {self.host}:{self.port}: {_describe(exc)}"
            ) from exc
        self._client = client
        self._last_used = time.monotonic()

    async def send(
        self, raw: bytes, mail_from: str, recipients: Sequence[str], *,
        may_retry: Callable[[], Awaitable[bool]] | None = None,
    ) -> dict[str, SendError]:
        """Send one message; returns the recipients refused while others were accepted.

        Raises `TemporaryFailure` or `PermanentFailure` when nothing was accepted. With one
        recipient (the usual case) a refused recipient is therefore always an exception.

        A kept-open connection found dead at the first command is replaced and the message
        tried once more, but only if ``may_retry`` still says yes: time has passed (the
        process may have been frozen), and the message may meanwhile be another sender's
        to send. ``NotRetried`` when it says no.
        """
        if not recipients:
            raise ValueError("send() needs at least one recipient")
        async with self._lock:
            fresh = await self._ensure_connected()
            try:
                return await self._transaction(raw, mail_from, recipients)
            except _StaleConnection as stale:
                if fresh:
                    raise stale.error from stale
                # A kept-open connection that the server closed while idle fails at the
                # first command; nothing was sent, so one retry on a new connection is safe.
                log.info("SMTP connection to %s:%s went stale; reconnecting", self.host, self.port)
                await self.connect()
                if may_retry is not None and not await may_retry():
                    raise NotRetried(None, "not sent again: it is no longer this sender's") from stale
                try:
                    return await self._transaction(raw, mail_from, recipients)
                except _StaleConnection as again:
                    raise again.error from again

    async def _ensure_connected(self) -> bool:
        if self.connected and time.monotonic() - self._last_used > self.max_idle:
            await self.close()
        if self.connected:
            return False
        await self.connect()
        return True

    async def _transaction(
        self, raw: bytes, mail_from: str, recipients: Sequence[str]
    ) -> dict[str, SendError]:
        client = self._client
        assert client is not None
        stage = "MAIL"
        refused: dict[str, SendError] = {}
        try:
            async with asyncio.timeout(self.timeout * (3 + len(recipients))):
                await client.mail(mail_from)
                stage = "RCPT"
                for rcpt in recipients:
                    try:
                        await client.rcpt(rcpt)
                    except SMTPRecipientRefused as exc:
                        refused[rcpt] = _from_reply(exc.code, f"<{rcpt}>: {exc.message}")
                if len(refused) == len(recipients):
                    await self._reset()
                    # Mixed 4xx/5xx refusals: a retry may still reach someone.
                    errors = list(refused.values())
                    permanent = all(isinstance(e, PermanentFailure) for e in errors)
                    first = next(e for e in errors if isinstance(e, PermanentFailure) == permanent)
                    raise first
                stage = "DATA"
                await client.data(raw)
        except SendError:
            raise
        except SMTPResponseException as exc:
            if stage == "MAIL" and exc.code == 421:
                # Postfix and others answer an idle connection's next command with
                # "421 timeout exceeded" and close: the same stale connection.
                self._drop()
                raise _StaleConnection(TemporaryFailure(exc.code, exc.message)) from exc
            # 421 closes the channel (aiosmtplib closes it too); otherwise RSET so the
            # next send starts with a clean envelope (RFC 5321 section 4.1.1.5).
            await self._reset()
            raise _from_reply(exc.code, f"{stage}: {exc.message}") from exc
        except (SMTPException, OSError, TimeoutError) as exc:
            self._drop()
            error = TemporaryFailure(None, f"{stage} to {self.host}:{self.port}: {_describe(exc)}")
            if stage == "MAIL":
                raise _StaleConnection(error) from exc
            # After DATA began the server may have accepted the message; the retry
            # this causes can duplicate it, which is the price of at-least-once.
            raise error from exc
        except BaseException:
            self._drop()  # cancelled mid-transaction: the envelope state is unknown
            raise
        self._last_used = time.monotonic()
        return refused

    async def _reset(self) -> None:
        client = self._client
        if client is None or not client.is_connected:
            self._drop()
            return
        try:
            async with asyncio.timeout(self.timeout):
                await client.rset()
        except (SMTPException, OSError, TimeoutError):
            self._drop()

    async def check_login(self) -> str | None:
        """Connect and authenticate; None when fine, else one sentence saying what to fix."""
        try:
            await self.connect()
        except SendError as exc:
            return _explain(self, exc)
        finally:
            await self.close()
        return None

    async def close(self) -> None:
        """Say QUIT (politely, briefly) and close the connection."""
        client, self._client = self._client, None
        if client is None:
            return
        if client.is_connected:
            try:
                async with asyncio.timeout(min(self.timeout, 5.0)):
                    await client.quit()
            except (SMTPException, OSError, TimeoutError):
                pass
        client.close()

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()


class _StaleConnection(Exception):
    def __init__(self, error: SendError) -> None:
        super().__init__(str(error))
        self.error = error


def _describe(exc: BaseException) -> str:
    """A short human reason for a network-level failure."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return "host name not found"
        if isinstance(cause, ssl.SSLError):
            return f"TLS failed ({cause.reason or cause})"
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    text = str(exc).strip()
    if "refused" in text.lower():
        return "connection refused"
    return text or type(exc).__name__


def _explain(sender: SmtpSender, exc: SendError) -> str:
    where = f"{sender.host}:{sender.port}"
    if exc.code is None:
        reason = exc.message.split(": ", 1)[-1]
        if "TLS" in reason or "STARTTLS" in reason:
            return (
                f"could not connect to {where}: {reason} — does [smtp] security match the "
                "port (465 is \"tls\", 587 is \"starttls\")?"
            )
        if "AUTH extension" in reason:
            return f"{where} does not offer SMTP AUTH — leave [smtp] username unset, or use TLS"
        return (
            f"could not connect to {where}: {reason} — is the SMTP server running and "
            "is [smtp] port right?"
        )
    if exc.code in (530, 534, 535, 454) and sender.username:
        return (
            f"SMTP login failed for {sender.username}: {exc.code} "
            f"{exc.message.split(': ', 1)[-1]} — check the password in $CIRCLEBACK_SMTP_PASSWORD"
        )
    return f"{where} refused the connection: {exc.code} {exc.message}"


async def check_smtp(
    host: str,
    port: int,
    security: Security = "starttls",
    username: str | None = None,
    password: str | None = None,
    timeout: float = 10.0,
    *,
    tls_context: ssl.SSLContext | None = None,
) -> str | None:
    """Connect and log in once, for `circleback check`: None when it works, else why not."""
    sender = SmtpSender(host, port, security, username, password, timeout,
                        tls_context=tls_context)
    return await sender.check_login()

