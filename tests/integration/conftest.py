"""One real mail system (Dovecot + aiosmtpd relay) for the whole test run.

Each test gets its own mail account from a pool created before Dovecot starts, so no
test sees another's mail; when the pool runs out, accounts are added at run time
(about a second each, see DevMailServer.create_user).
"""

from __future__ import annotations

import asyncio
import imaplib
import itertools
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest

from service.dev.devmail import DevMailError, DevMailServer
from service.mail.imap import Mailbox, Security

PASSWORD = "secret"
NAMED_USERS = [
    "circle@cohort.test",
    "alice@example.test",
    "bob@example.test",
    "facilitator@example.test",
]
POOL_SIZE = 40  # fresh accounts made before start; each test takes one
_account_numbers = itertools.count(1)


@pytest.fixture(scope="session")
async def mailserver() -> AsyncIterator[DevMailServer]:
    """The session's DevMailServer. Fails with what to install when Dovecot is missing."""
    # mkdtemp under /tmp, not pytest's tmp_path: Dovecot's unprivileged processes must be
    # able to reach the directory, and pytest's base directory is private (mode 700).
    workdir = Path(tempfile.mkdtemp(prefix="circleback-devmail-"))
    users = {address: PASSWORD for address in NAMED_USERS}
    users |= {f"circle{n}@cohort.test": PASSWORD for n in range(1, POOL_SIZE + 1)}
    try:
        server = await DevMailServer.start(
            workdir, users, {"cohort.test", "example.test"}, tls=True
        )
    except DevMailError as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        await server.stop()
        if not os.environ.get("CIRCLEBACK_KEEP_DEVMAIL"):
            shutil.rmtree(workdir, ignore_errors=True)


@dataclass(frozen=True)
class Account:
    """A mail account no other test uses, with helpers to reach it."""

    address: str
    password: str
    server: DevMailServer

    def mailbox(self, security: Security = "none", **options: float) -> Mailbox:
        port = self.server.imaps_port if security == "tls" else self.server.imap_port
        return Mailbox(self.server.imap_host, port, security, self.address, self.password,
                       timeout=10.0, tls_context=self.server.client_tls_context(), **options)

    async def deliver(self, raw: bytes) -> None:
        await self.server.deliver_async(raw, self.address)

    async def unseen_uids(self, folder: str = "INBOX") -> list[int]:
        """Independent check with the standard library's imaplib (in a thread)."""
        return await asyncio.to_thread(self._search, folder, "UNSEEN")

    async def all_uids(self, folder: str = "INBOX") -> list[int]:
        return await asyncio.to_thread(self._search, folder, "ALL")

    def _search(self, folder: str, criterion: str) -> list[int]:
        with imaplib.IMAP4(self.server.imap_host, self.server.imap_port) as imap:
            imap.login(self.address, self.password)
            status, _ = imap.select(f'"{folder}"', readonly=True)
            assert status == "OK", f"cannot select {folder}"
            _, data = imap.uid("SEARCH", criterion)
            return [int(uid) for uid in data[0].split()]


@pytest.fixture
async def account(mailserver: DevMailServer) -> Account:
    """A fresh, empty mailbox for this test."""
    number = next(_account_numbers)
    address = f"circle{number}@cohort.test"
    if number > POOL_SIZE:
        await mailserver.create_user(address, PASSWORD)
    return Account(address, PASSWORD, mailserver)


@pytest.fixture
async def mailbox(account: Account) -> AsyncIterator[Mailbox]:
    """A logged-in Mailbox on the test's account, INBOX not yet selected."""
    box = account.mailbox()
    await box.connect()
    try:
        yield box
    finally:
        await box.close()


def make_message(subject: str, body: str = "Hello.\n", sender: str = "alice@example.test",
                 to: str = "circle@cohort.test") -> bytes:
    """A small RFC 5322 message with CRLF line ends, as it travels over SMTP."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="example.test")
    message.set_content(body)
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))


@pytest.fixture
def new_message() -> Callable[..., bytes]:
    """`make_message` as a fixture, so test modules need no import from conftest."""
    return make_message


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test that takes it runs twice: on a SQLite file and on a fresh PostgreSQL
    database (the CI machine's server at 127.0.0.1:5432)."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'cb.sqlite3'}"
    return str(request.getfixturevalue("pg_database"))
