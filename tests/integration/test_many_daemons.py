"""Three `circleback run DIR` processes on one PostgreSQL database, serving one deployment
of 20 cohorts that share one reply mailbox and one SMTP account.

- every invitation and prompt reaches its participant exactly once, and more than one
  daemon does the sending;
- SIGKILL the daemon watching the mailbox: another takes the mailbox over within the
  lease and files each reply under its own cohort; rows a dead daemon had claimed go back
  to the queue and are sent once by the survivors;
- SIGSTOP a daemon in the middle of a send for longer than the lease: the others send
  what it had claimed, and once it runs again it sends none of it a second time (frozen
  before DATA, or before MAIL FROM was answered: then it reconnects, asks whether the row
  is still its own, and does not send it).

Everything is counted where it ends up: in the participants' real IMAP mailboxes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage, Message
from email.utils import parseaddr
from pathlib import Path

import asyncpg
import pytest
from cohort_kit import PASSWORD, inbox, send, thunderbird_reply

from service.dev.devmail import DevMailServer

pytestmark = pytest.mark.integration

COHORTS = [f"c{n:02d}" for n in range(1, 21)]
KINDS = ("invite", "prompt")
PASSWORD_ENV = "CB_MANY_PASSWORD"
LEASE = 5.0  # [daemon] lease, seconds: the shortest the config allows
RUN = "import sys; from service.cli import main; sys.exit(main(sys.argv[1:]))"
TAKEN_OVER = "taken over by another circleback; not sending it here"


# --- the deployment -------------------------------------------------------------------------

@dataclass(frozen=True)
class Deployment:
    folder: Path
    db_url: str
    tag: str
    mailbox: str  # the one reply mailbox of every cohort
    shared: str  # the participant in every cohort
    own: dict[str, str]  # cohort id -> its other participant
    facilitator: str  # one for all cohorts

    def people(self, cohort_id: str) -> list[str]:
        return [self.shared, self.own[cohort_id]]

    @property
    def addresses(self) -> list[str]:
        return [self.shared, *self.own.values()]

    @property
    def first_mail(self) -> set[tuple[str, str, str]]:
        """(cohort, participant, kind) of what the first minutes bring: invite and prompt."""
        return {(c, p, kind) for c in COHORTS for p in self.people(c) for kind in KINDS}


async def add_users(mail: DevMailServer, addresses: list[str]) -> None:
    """Many accounts at once: one wait for Dovecot to notice them, not one per account."""
    for address in addresses[:-1]:
        mail.users[address.lower()] = PASSWORD
        mail.domains.add(address.rpartition("@")[2].lower())
    await mail.create_user(addresses[-1], PASSWORD)


def write_deployment(folder: Path, mail: DevMailServer, db_url: str, smtp_port: int) -> Deployment:
    tag = uuid.uuid4().hex[:8]
    mailbox = f"circle-{tag}@cohort.test"
    shared = f"sam-{tag}@example.test"
    own = {c: f"p{c}-{tag}@example.test" for c in COHORTS}
    facilitator = f"helen-{tag}@example.test"
    # The first check-in a day ahead and prompts 2 days before: invitation and prompt are
    # due at once.
    first = (datetime.now(UTC) + timedelta(days=1)).replace(tzinfo=None, microsecond=0)
    (folder / "cohorts").mkdir(parents=True)
    (folder / "circleback.toml").write_text(f"""
[database]
url = "{db_url}"
[daemon]
lease = "{LEASE:.0f}s"
[mail]
address = "{mailbox}"
message_gap = "0m"
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


# --- a gate in front of the SMTP server -----------------------------------------------------

class SmtpGate:
    """A TCP relay in front of the session's SMTP server that can hold one SMTP command of
    a connection (``stage``: DATA, the envelope given but not the message; or MAIL, the
    first command of a send) and drop connections: what the server sees of a client
    frozen in the middle of a send."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.port = 0
        self.stage = b"DATA\r\n"
        self.hold_everyone = False
        self.held: set[int] = set()  # client ports whose command at ``stage`` waits
        self.waiting: set[int] = set()  # client ports waiting there right now
        self._conns: dict[int, tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = {}
        self._change = asyncio.Event()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.drop(set(self._conns))
        if self._server is not None:
            await self._server.wait_closed()

    def hold(self, *, everyone: bool = False, only: set[int] | None = None) -> None:
        """Hold ``stage`` of every connection, or of these client ports only (or of none)."""
        self.hold_everyone, self.held = everyone, set(only or ())
        self._notify()

    def drop(self, ports: set[int]) -> None:
        for port in ports:
            for writer in self._conns.pop(port, ()):
                writer.transport.abort()
        self._notify()

    def _notify(self) -> None:
        self._change.set()
        self._change = asyncio.Event()

    def _holds(self, port: int) -> bool:
        return (self.hold_everyone or port in self.held) and port in self._conns

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        port = client_w.get_extra_info("peername")[1]
        server_r, server_w = await asyncio.open_connection("127.0.0.1", self.upstream)
        self._conns[port] = (client_w, server_w)
        pumps = [asyncio.ensure_future(self._up(port, client_r, server_w)),
                 asyncio.ensure_future(self._pump(server_r, client_w))]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in pumps:
                task.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            self._conns.pop(port, None)
            self.waiting.discard(port)
            for writer in (client_w, server_w):
                writer.transport.abort()

    async def _up(self, port: int, reader: asyncio.StreamReader,
                  writer: asyncio.StreamWriter) -> None:
        while chunk := await reader.read(65536):
            # aiosmtplib waits for each reply: a command is a chunk of its own.
            while chunk.upper().startswith(self.stage) and self._holds(port):
                self.waiting.add(port)
                await self._change.wait()
            self.waiting.discard(port)
            if port not in self._conns:
                return  # dropped while waiting: the server never gets the command
            writer.write(chunk)
            await writer.drain()

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()


def client_ports(pid: int, server_port: int) -> set[int]:
    """The local ports of the process's TCP connections to 127.0.0.1:server_port."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[len("socket:["):-1])
    ports = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        local, remote, inode = parts[1], parts[2], parts[9]
        if inode in inodes and int(remote.rsplit(":", 1)[1], 16) == server_port:
            ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


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

    def sent(self) -> int:
        """How many messages it logged as sent ("[c07] Sent the prompt to ...")."""
        return sum("] Sent the " in line for line in self.text().splitlines())

    def signal(self, sig: signal.Signals) -> None:
        self.process.send_signal(sig)


@dataclass
class Daemons:
    folder: Path
    logs: Path
    procs: list[Proc] = field(default_factory=list)

    async def start(self, n: int) -> list[Proc]:
        env = {**os.environ, PASSWORD_ENV: PASSWORD, "PYTHONUNBUFFERED": "1"}
        for _ in range(n):
            log = self.logs / f"daemon-{len(self.procs) + 1}.log"
            with log.open("wb") as out:  # the child has its own copy of the descriptor
                process = await asyncio.create_subprocess_exec(
                    sys.executable, "-c", RUN, "run", str(self.folder), env=env,
                    stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out)
            self.procs.append(Proc(process, log))
        return self.procs[-n:]

    async def stop_all(self) -> None:
        """SIGTERM (after SIGCONT, for a frozen one), then SIGKILL whatever is still there."""
        for p in self.procs:
            if p.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    p.signal(signal.SIGCONT)
                    p.process.terminate()
        for p in self.procs:
            try:
                await asyncio.wait_for(p.process.wait(), 15)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    p.process.kill()
                await p.process.wait()

    def report(self) -> str:
        return "\n".join(f"--- {p.log.name} (pid {p.pid}, exit {p.process.returncode})\n"
                         + "\n".join(p.text().splitlines()[-60:]) for p in self.procs)


# --- looking ------------------------------------------------------------------------------

async def eventually(check: Callable[[], Awaitable[bool]], seconds: float, what: str,
                     every: float = 0.5) -> float:
    """Wait until check() holds; how long it took."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not await check():
        if loop.time() - start > seconds:
            raise AssertionError(f"not within {seconds:.0f} s: {what}")
        await asyncio.sleep(every)
    return loop.time() - start


async def query(db_url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(db_url)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def present(db_url: str) -> dict[int, str]:
    """pid -> holder of the daemons whose presence is current (a holder is host:pid:hex)."""
    try:
        rows = await query(db_url, "SELECT holder FROM cb_lease WHERE name LIKE 'daemon:%' "
                           "AND expires_at > now()")
    except asyncpg.UndefinedTableError:  # no daemon has made the schema yet
        return {}
    return {int(r["holder"].split(":")[-2]): r["holder"] for r in rows}


async def mailbox_holder(db_url: str) -> str | None:
    rows = await query(db_url, "SELECT holder FROM cb_lease WHERE name LIKE 'imap:%' "
                       "AND expires_at > now()")
    return rows[0]["holder"] if rows else None


def message_id(message: Message) -> str:
    return str(message["Message-ID"]).strip().strip("<>")


def cohort_of(message: Message) -> str:
    """Each cohort's mail comes from "Circle <id>"."""
    return parseaddr(str(message["From"]))[0].removeprefix("Circle ")


async def mailboxes(mail: DevMailServer, dep: Deployment) -> dict[str, list[Message]]:
    return {address: await inbox(mail, address) for address in dep.addresses}


def no_duplicates(got: dict[str, list[Message]]) -> None:
    for address, messages in got.items():
        twice = [i for i, n in Counter(map(message_id, messages)).items() if n > 1]
        assert not twice, f"{address} got {twice} more than once"


async def started(daemons: Daemons, dep: Deployment, n: int = 3) -> list[Proc]:
    procs = await daemons.start(n)

    async def all_present() -> bool:
        assert all(p.process.returncode is None for p in procs), daemons.report()
        return len(await present(dep.db_url)) == n

    await eventually(all_present, 30, f"{n} daemons running")
    return procs


async def first_mail_delivered(mail: DevMailServer, dep: Deployment) -> dict[str, list[Message]]:
    """Wait for every invitation and prompt; check each came exactly once."""
    async def delivered() -> bool:
        return sum(map(len, (await mailboxes(mail, dep)).values())) >= len(dep.first_mail)

    await eventually(delivered, 90, "every invitation and prompt delivered", every=1.0)
    await asyncio.sleep(1.0)  # room for a second copy to arrive
    got = await mailboxes(mail, dep)
    seen = Counter((cohort_of(m), address, str(m["X-Circleback-Kind"]))
                   for address, messages in got.items() for m in messages)
    assert set(seen) == dep.first_mail, set(seen) ^ dep.first_mail
    assert all(n == 1 for n in seen.values()), [k for k, n in seen.items() if n > 1]
    no_duplicates(got)
    return got


async def queue_rows(dep: Deployment, n: int, *, state: str = "queued", claim: str = "",
                     claimed_ago: float = 0.0) -> list[tuple[str, str]]:
    """n notices straight into the outbox, to the cohorts' own participants in turn:
    [(Message-ID, recipient)]. ``state`` "sending" with ``claim``: claimed by that daemon
    ``claimed_ago`` seconds ago."""
    rows = []
    for i in range(n):
        cohort_id = COHORTS[i % len(COHORTS)]
        rcpt = dep.own[cohort_id]
        msg = EmailMessage()
        msg["From"] = f"Circle {cohort_id} <{dep.mailbox}>"
        msg["To"] = rcpt
        msg["Subject"] = f"Notice {i}"
        msg["Message-ID"] = f"<notice-{i}-{uuid.uuid4().hex[:8]}@cohort.test>"
        msg["X-Circleback-Kind"] = "notice"
        msg.set_content(f"Notice number {i}.\n")
        rows.append((cohort_id, message_id(msg), rcpt, msg.as_bytes()))
    conn = await asyncpg.connect(dep.db_url)
    try:
        await conn.executemany(
            "INSERT INTO cb_outbox (cohort_id, kind, message_id, mail_from, rcpt, raw_message, "
            "state, claim, attempts, next_attempt_at, last_error, claimed_at, created_at) "
            "VALUES ($1, 'notice', $2, $3, $4, $5, $6::text, $7, 0, now(), '', "
            "CASE WHEN $6::text = 'sending' THEN now() - make_interval(secs => $8::float8) END, "
            "now())",
            [(c, mid, dep.mailbox, rcpt, raw, state, claim, claimed_ago)
             for c, mid, rcpt, raw in rows])
    finally:
        await conn.close()
    return [(mid, rcpt) for _, mid, rcpt, _ in rows]


def delivered_once(mail: DevMailServer, dep: Deployment,
                   rows: list[tuple[str, str]]) -> Callable[[], Awaitable[bool]]:
    """A check: has each row reached its recipient? (Fails at once on a second copy.)"""
    async def check() -> bool:
        got = await mailboxes(mail, dep)
        ids = Counter(message_id(m) for messages in got.values() for m in messages)
        assert all(ids[mid] <= 1 for mid, _ in rows), "a notice arrived twice"
        return all(ids[mid] == 1 and any(message_id(m) == mid for m in got[rcpt])
                   for mid, rcpt in rows)
    return check


# --- fixtures -----------------------------------------------------------------------------

@pytest.fixture
async def gate(mailserver: DevMailServer) -> AsyncIterator[SmtpGate]:
    g = SmtpGate(mailserver.smtp_port)
    await g.start()
    try:
        yield g
    finally:
        await g.close()


async def _deployment(mail: DevMailServer, db_url: str, folder: Path, smtp_port: int) -> Deployment:
    dep = write_deployment(folder, mail, db_url, smtp_port)
    await add_users(mail, [dep.mailbox, dep.facilitator, *dep.addresses])
    return dep


@pytest.fixture
async def deployment(mailserver: DevMailServer, pg_database: str, tmp_path: Path) -> Deployment:
    """The deployment, sending straight to the session's SMTP server."""
    return await _deployment(mailserver, pg_database, tmp_path / "deployment", mailserver.smtp_port)


@pytest.fixture
async def gated(mailserver: DevMailServer, pg_database: str, tmp_path: Path,
                gate: SmtpGate) -> Deployment:
    """The deployment, sending through the gate."""
    return await _deployment(mailserver, pg_database, tmp_path / "deployment", gate.port)


@pytest.fixture
async def daemons(tmp_path: Path) -> AsyncIterator[Daemons]:
    """Stopped at the end whatever happened (their logs printed: shown when a test fails)."""
    group = Daemons(tmp_path / "deployment", tmp_path)
    try:
        yield group
    finally:
        await group.stop_all()
        print(group.report())


# --- the tests ----------------------------------------------------------------------------

async def test_three_daemons_share_the_work_and_take_over_from_a_killed_one(
    mailserver: DevMailServer, deployment: Deployment, daemons: Daemons
) -> None:
    dep = deployment
    procs = await started(daemons, dep)

    # 1. Every participant of every cohort: one invitation and one prompt, each once, in
    #    the real mailboxes, and just what the outbox says it sent.
    got = await first_mail_delivered(mailserver, dep)
    rows = await query(dep.db_url, "SELECT message_id, rcpt, state FROM cb_outbox")
    assert len(rows) == len(dep.first_mail) and {r["state"] for r in rows} == {"sent"}
    for address, messages in got.items():
        assert sorted(map(message_id, messages)) == sorted(
            r["message_id"] for r in rows if r["rcpt"] == address)
    sent = [p.sent() for p in procs]
    print("messages sent by each daemon:", sent)
    assert sum(sent) == len(dep.first_mail)
    assert sum(n > 0 for n in sent) >= 2, f"one daemon sent everything: {sent}"

    # 2. Kill the daemon watching the mailbox, without a chance to say so.
    holder = await mailbox_holder(dep.db_url)
    assert holder is not None
    victim = next(p for p in procs if f":{p.pid}:" in holder)
    victim.signal(signal.SIGKILL)
    await victim.process.wait()
    survivors = [p for p in procs if p is not victim]

    # Replies to prompts of seven cohorts: five own participants, and the participant of
    # every cohort to two of them (same sender, the reply token tells the cohort).
    prompts = {(cohort_of(m), address): m for address, messages in got.items() for m in messages
               if m["X-Circleback-Kind"] == "prompt"}
    replies = {("c01", dep.own["c01"]), ("c02", dep.own["c02"]), ("c03", dep.own["c03"]),
               ("c04", dep.own["c04"]), ("c05", dep.own["c05"]),
               ("c06", dep.shared), ("c07", dep.shared)}
    for cohort_id, address in sorted(replies):
        prompt = prompts[(cohort_id, address)]
        text = f"Story of {address.split('-')[0]} in {cohort_id}: tried pairing twice."
        await send(mailserver, thunderbird_reply(f"Tester <{address}>", prompt, text),
                   str(prompt["Reply-To"]))

    async def stories_stored() -> bool:
        return len(await query(dep.db_url, "SELECT id FROM cb_story")) >= len(replies)

    took = await eventually(stories_stored, LEASE + 25, "a survivor took over the mailbox")
    print(f"stories stored {took:.1f} s after the replies were sent")
    new_holder = await mailbox_holder(dep.db_url)
    assert new_holder is not None and any(f":{p.pid}:" in new_holder for p in survivors)
    stories = await query(dep.db_url, "SELECT s.cohort_id, s.text, p.email, p.cohort_id AS pc "
                          "FROM cb_story s JOIN cb_participant p ON p.id = s.participant_id")
    assert {(r["cohort_id"], r["email"]) for r in stories} == replies
    for r in stories:
        assert r["pc"] == r["cohort_id"]
        assert r["text"] == f"Story of {r['email'].split('-')[0]} in {r['cohort_id']}: tried pairing twice."
    assert sum(p.text().count("Took over watching") for p in survivors) == 1

    # 3. Rows the killed daemon had claimed (sending, claimed 10 s ago; its presence has
    #    lapsed) go back to the queue and are sent once, by a survivor, though nothing
    #    wakes the survivors' outbox workers.
    before = [p.sent() for p in survivors]
    notices = await queue_rows(dep, 12, state="sending", claim=holder, claimed_ago=10.0)
    took = await eventually(delivered_once(mailserver, dep, notices), 30,
                            "the dead daemon's claimed rows delivered")
    print(f"the dead daemon's 12 claimed rows were delivered within {took:.1f} s")
    await asyncio.sleep(1.5)  # room for a second copy
    assert await delivered_once(mailserver, dep, notices)()
    no_duplicates(await mailboxes(mailserver, dep))
    states = await query(dep.db_url, "SELECT state, claim FROM cb_outbox WHERE kind = 'notice'")
    assert {(r["state"], r["claim"]) for r in states} == {("sent", "")}
    assert sum(p.sent() for p in survivors) - sum(before) == len(notices)
    assert all(p.process.returncode is None for p in survivors)


@pytest.mark.parametrize("stage", [
    # Frozen with the envelope given, the message not: the server drops the frozen
    # client, its send fails, and it sends nothing of what the others took over.
    "DATA",
    # Frozen after its claim check, before MAIL FROM was answered: on waking, SmtpSender
    # takes the dropped connection for an idle one gone stale and reconnects; before it
    # tries again it asks whether the row is still this daemon's (it is not).
    "MAIL FROM",
])
async def test_a_daemon_frozen_mid_send_does_not_send_again_what_others_sent(
    mailserver: DevMailServer, gated: Deployment, gate: SmtpGate, daemons: Daemons, stage: str
) -> None:
    dep = gated
    procs = await started(daemons, dep)
    await first_mail_delivered(mailserver, dep)

    # Every daemon's next send stops at `stage`; 45 notices queued; SIGHUP makes each
    # daemon look at its outbox now (a reload wakes the workers).
    gate.stage = stage.encode()
    gate.hold(everyone=True)
    notices = await queue_rows(dep, 45)
    for p in procs:
        p.signal(signal.SIGHUP)

    async def claimed() -> dict[str, int]:
        rows = await query(dep.db_url, "SELECT claim, count(*) AS n FROM cb_outbox "
                           "WHERE state = 'sending' GROUP BY claim")
        return {r["claim"]: r["n"] for r in rows}

    async def all_stuck() -> bool:
        # Each daemon holds claimed rows and is stuck in the send of one of them.
        return len(await claimed()) == 3 and len(gate.waiting) == 3

    await eventually(all_stuck, 20, f"every daemon holds claimed rows, stuck at {stage}", 0.2)
    holders = await present(dep.db_url)
    claims = await claimed()
    frozen = max(procs, key=lambda p: claims.get(holders[p.pid], 0))
    mine = claims[holders[frozen.pid]]
    assert mine >= 2, claims  # one in flight, at least one not started
    frozen.signal(signal.SIGSTOP)
    ports = client_ports(frozen.pid, gate.port)
    assert ports & gate.waiting, (ports, gate.waiting)
    gate.hold(only=ports)  # the others go on; the frozen one stays where it is

    # Its presence lapses; the others give its rows back to the queue and send them.
    took = await eventually(delivered_once(mailserver, dep, notices), 45,
                            "the frozen daemon's rows sent by the others")
    print(f"all 45 notices delivered {took:.1f} s after the freeze; {mine} were claimed by it")
    assert frozen.pid not in await present(dep.db_url)

    # The server drops the frozen client's connection (its message never handed over);
    # then the daemon runs again. It must notice each row is no longer its own.
    gate.drop(ports)
    gate.hold()
    frozen.signal(signal.SIGCONT)

    async def noticed() -> bool:
        return frozen.text().count(TAKEN_OVER) >= mine - 1

    await eventually(noticed, 15, "the resumed daemon saw its rows were taken over")
    await eventually(lambda: _present_again(dep, frozen), 15, "the resumed daemon back")
    await asyncio.sleep(2.0)  # room for a second copy
    assert await delivered_once(mailserver, dep, notices)()
    no_duplicates(await mailboxes(mailserver, dep))
    # The rows it had not started: each skipped by the claim check. The one in flight:
    # frozen in DATA, its send failed with the connection and it did not mark a row no
    # longer its own; frozen before MAIL FROM, it reconnected, asked, and did not send.
    assert frozen.text().count(TAKEN_OVER) == mine - 1
    if stage == "DATA":
        assert "was not marked queued again: another circleback took it over" in frozen.text()
    else:
        assert "taken over by another circleback while this one reconnected" in frozen.text()
    states = await query(dep.db_url, "SELECT state, claim FROM cb_outbox WHERE kind = 'notice'")
    assert {(r["state"], r["claim"]) for r in states} == {("sent", "")}
    assert all(p.process.returncode is None for p in procs)


async def _present_again(dep: Deployment, proc: Proc) -> bool:
    return proc.pid in await present(dep.db_url)
