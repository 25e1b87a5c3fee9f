"""Three `circleback run DIR` processes on one PostgreSQL database, one deployment of 20
cohorts sharing one reply mailbox and one SMTP account: every message goes out exactly
once, the work is shared, a killed daemon's mailbox and claimed rows are taken over, and a
daemon frozen (SIGSTOP) past its lease does not send again what another daemon sent for it.

Everything is counted where it ends up: in the participants' real IMAP mailboxes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage, Message
from email.utils import format_datetime, parseaddr
from pathlib import Path

import asyncpg
import pytest
from cohort_kit import PASSWORD, inbox, send, thunderbird_reply

from service.dev.devmail import DevMailServer

pytestmark = pytest.mark.integration

COHORTS = [f"c{n:02d}" for n in range(1, 21)]
PASSWORD_ENV = "CB_MANY_PASSWORD"
LEASE = 5.0  # [daemon] lease, seconds: the shortest the config allows
RUN = "import sys; from service.cli import main; sys.exit(main(sys.argv[1:]))"


# --- the deployment -------------------------------------------------------------------------

@dataclass(frozen=True)
class Deployment:
    folder: Path
    db_url: str
    tag: str
    mailbox: str  # the one reply mailbox of every cohort
    shared: str  # the participant in every cohort
    own: dict[str, str]  # cohort id -> its other participant
    facilitator: str

    def people(self, cohort_id: str) -> list[str]:
        return [self.shared, self.own[cohort_id]]

    @property
    def addresses(self) -> list[str]:
        return [self.shared, *self.own.values()]


async def add_users(mail: DevMailServer, addresses: list[str]) -> None:
    """Many accounts at once: one wait for Dovecot to notice them, not one per account."""
    for address in addresses[:-1]:
        mail.users[address.lower()] = PASSWORD
        mail.domains.add(address.rpartition("@")[2].lower())
    await mail.create_user(addresses[-1], PASSWORD)


def write_deployment(folder: Path, mail: DevMailServer, db_url: str, tag: str,
                     smtp_port: int) -> Deployment:
    mailbox = f"circle-{tag}@cohort.test"
    shared = f"sam-{tag}@example.test"
    own = {c: f"p{c}-{tag}@example.test" for c in COHORTS}
    facilitator = f"helen-{tag}@example.test"
    first = (datetime.now(UTC) + timedelta(days=1)).replace(tzinfo=None, microsecond=0)
    (folder / "cohorts").mkdir(parents=True)
    (folder / "circleback.toml").write_text(f"""
[database]
url = "{db_url}"
[daemon]
lease = "{LEASE:.0f}s"
[mail]
address = "{mailbox}"
[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
[imap]
host = "127.0.0.1"
port = {mail.imap_port}
security = "none"
username = "{mailbox}"
password_env = "{PASSWORD_ENV}"
""")
    for n, cohort_id in enumerate(COHORTS):
        people = "".join(
            f'[[participants]]\nname = "{name}"\nemail = "{address}"\ntimezone = "Europe/Berlin"\n'
            for name, address in (("Sam Shared", shared), (f"Pat {cohort_id}", own[cohort_id])))
        (folder / "cohorts" / f"{cohort_id}.toml").write_text(f"""
[cohort]
id = "{cohort_id}"
name = "Cohort {cohort_id}"
timezone = "UTC"
[facilitator]
name = "Helen"
email = "{facilitator}"
[mail]
display_name = "Circle {cohort_id}"
[checkins]
first = {first + timedelta(minutes=n):%Y-%m-%dT%H:%M:%S}
every = "1w"
count = 3
duration = "45m"
location = "https://meet.example.org/{cohort_id}"
prompt_before = "2d"
{people}""")
    return Deployment(folder, db_url, tag, mailbox, shared, own, facilitator)


@pytest.fixture
async def deployment(mailserver: DevMailServer, pg_database: str, tmp_path: Path) -> Deployment:
    tag = uuid.uuid4().hex[:8]
    dep = write_deployment(tmp_path / "deployment", mailserver, pg_database, tag,
                           mailserver.smtp_port)
    await add_users(mailserver, [dep.mailbox, dep.facilitator, *dep.addresses])
    return dep


# --- the daemons --------------------------------------------------------------------------

@dataclass
class Proc:
    process: asyncio.subprocess.Process
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def sent_lines(self) -> list[str]:
        return [line for line in self.text().splitlines() if "] Sent the " in line]


@dataclass
class Daemons:
    folder: Path
    logs: Path
    procs: list[Proc] = field(default_factory=list)

    async def start(self, n: int = 3) -> list[Proc]:
        env = {**os.environ, PASSWORD_ENV: PASSWORD, "PYTHONUNBUFFERED": "1"}
        started = []
        for _ in range(n):
            log = self.logs / f"daemon-{len(self.procs) + 1}.log"
            with log.open("wb") as out:
                process = await asyncio.create_subprocess_exec(
                    sys.executable, "-c", RUN, "run", str(self.folder), env=env,
                    stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out)
            proc = Proc(process, log)
            self.procs.append(proc)
            started.append(proc)
        return started

    def alive(self) -> list[Proc]:
        return [p for p in self.procs if p.process.returncode is None]

    async def stop_all(self) -> None:
        for p in self.alive():
            with contextlib.suppress(ProcessLookupError):
                p.process.send_signal(signal.SIGCONT)  # a frozen one must be able to stop
                p.process.terminate()
        for p in self.procs:
            try:
                await asyncio.wait_for(p.process.wait(), 15)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    p.process.kill()
                await p.process.wait()

    def report(self) -> str:
        return "\n".join(f"--- {p.log.name} (pid {p.pid}, rc {p.process.returncode})\n"
                         + "\n".join(p.text().splitlines()[-40:]) for p in self.procs)


@pytest.fixture
async def daemons(deployment: Deployment, tmp_path: Path) -> AsyncIterator[Daemons]:
    group = Daemons(deployment.folder, tmp_path)
    try:
        yield group
    finally:
        await group.stop_all()
        print(group.report())  # pytest shows it when the test fails


# --- looking ------------------------------------------------------------------------------

async def eventually(check: Callable[[], Awaitable[bool]], seconds: float, what: str,
                     every: float = 0.5) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"not within {seconds:.0f} s: {what}")
        await asyncio.sleep(every)


async def query(db_url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(db_url)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def holders(db_url: str) -> dict[int, str]:
    """pid -> holder, from the presence leases (holder = host:pid:hex)."""
    rows = await query(db_url, "SELECT holder FROM cb_lease WHERE name LIKE 'daemon:%'")
    return {int(r["holder"].split(":")[-2]): r["holder"] for r in rows}


async def mailbox_holder(db_url: str) -> str | None:
    rows = await query(db_url, "SELECT holder FROM cb_lease WHERE name LIKE 'imap:%' "
                       "AND expires_at > now()")
    return rows[0]["holder"] if rows else None


def ids(messages: list[Message]) -> list[str]:
    return [str(m["Message-ID"]).strip().strip("<>") for m in messages]


def cohort_of(message: Message) -> str:
    """Each cohort's mail comes from "Circle <id>"."""
    return parseaddr(str(message["From"]))[0].removeprefix("Circle ")


async def mailboxes(mail: DevMailServer, dep: Deployment) -> dict[str, list[Message]]:
    return {address: await inbox(mail, address) for address in dep.addresses}


# --- the tests ----------------------------------------------------------------------------

async def test_three_daemons_share_the_work_and_take_over_from_a_dead_one(
    mailserver: DevMailServer, deployment: Deployment, daemons: Daemons
) -> None:
    dep = deployment
    procs = await daemons.start(3)

    # 1. every participant of every cohort: one invite and one prompt, each once.
    expected = {(c, p, kind) for c in COHORTS for p in dep.people(c) for kind in ("invite", "prompt")}

    async def all_delivered() -> bool:
        got = await mailboxes(mailserver, dep)
        return sum(len(v) for v in got.values()) >= len(expected)

    await eventually(all_delivered, 90, "80 invites and prompts delivered", every=1.0)
    await asyncio.sleep(2)  # room for a duplicate to show up
    got = await mailboxes(mailserver, dep)
    seen = Counter((cohort_of(m), address, str(m["X-Circleback-Kind"]))
                   for address, messages in got.items() for m in messages)
    assert set(seen) == expected and all(n == 1 for n in seen.values()), seen
    for address, messages in got.items():
        duplicates = [i for i, n in Counter(ids(messages)).items() if n > 1]
        assert not duplicates, f"{address} got {duplicates} twice"
    rows = await query(dep.db_url, "SELECT message_id, rcpt, state FROM cb_outbox")
    assert {r["state"] for r in rows} == {"sent"} and len(rows) == len(expected)
    for address, messages in got.items():
        assert sorted(ids(messages)) == sorted(r["message_id"] for r in rows if r["rcpt"] == address)
    print("sent per daemon:", [len(p.sent_lines()) for p in procs])
