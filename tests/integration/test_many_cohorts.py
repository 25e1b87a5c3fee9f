"""Several cohorts in one deployment: one folder, one database, one reply mailbox, one
daemon. They share a participant and the same digest weekday and time (both collided
before keys were scoped by cohort); every message goes out once, every reply lands in
its own cohort, every digest holds only its own cohort's stories."""

from __future__ import annotations

import asyncio
import email.utils
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage, Message
from pathlib import Path

import pytest
from cohort_kit import PASSWORD, closed_port, eventually, inbox, send, thunderbird_reply

from service.config import load_deployment
from service.core.clock import ManualClock, RealClock
from service.dev.devmail import DevMailServer
from service.runtime.daemon import Daemon
from service.runtime.passes import run_once
from service.runtime.service import opened
from service.store.models import InboundMessage, OutboxMessage, Story

pytestmark = pytest.mark.integration

IDS = ("alpha", "beta", "gamma")


@dataclass(frozen=True)
class Org:
    tag: str
    mailbox: str  # the one reply mailbox every cohort shares
    shared: str  # a participant of every cohort
    own: dict[str, str]  # cohort id -> a participant of that cohort only
    facilitator: dict[str, str]

    def people(self, cohort_id: str) -> list[str]:
        return [self.shared, self.own[cohort_id]]


def new_org(mail: DevMailServer, monkeypatch: pytest.MonkeyPatch, ids: tuple[str, ...] = IDS) -> Org:
    monkeypatch.setenv("CB_ORG_PASSWORD", PASSWORD)
    tag = uuid.uuid4().hex[:8]
    org = Org(tag, f"circle-{tag}@cohort.test", f"sam-{tag}@example.test",
              {c: f"{c}-{tag}@example.test" for c in ids},
              {c: f"helen-{c}-{tag}@example.test" for c in ids})
    for user in (org.mailbox, org.shared, *org.own.values(), *org.facilitator.values()):
        mail.add_user(user, PASSWORD)
    return org


def cohort_file(org: Org, cohort_id: str, start: datetime) -> str:
    first = (start + timedelta(days=1)).astimezone(UTC).replace(tzinfo=None, microsecond=0)
    digest_day = (start + timedelta(days=2)).strftime("%A").lower()
    people = "".join(f'[[participants]]\nname = "{p.split("-")[0].title()} of {cohort_id}"\n'
                     f'email = "{p}"\n' for p in org.people(cohort_id))
    return f"""
[cohort]
id = "{cohort_id}"
name = "Cohort {cohort_id.title()}"
timezone = "UTC"
[facilitator]
name = "Helen {cohort_id.title()}"
email = "{org.facilitator[cohort_id]}"
[checkins]
first = {first:%Y-%m-%dT%H:%M:%S}
every = "1w"
count = 3
duration = "45m"
location = "https://meet.example.org/{cohort_id}"
prompt_before = "2d"
[digest]
weekday = "{digest_day}"
time = "09:00"
{people}"""


def deployment_toml(mail: DevMailServer, org: Org, db_url: str, *, smtp: str = "") -> str:
    smtp = smtp or f'host = "127.0.0.1"\nport = {mail.smtp_port}\nsecurity = "none"'
    return f"""
[database]
url = "{db_url}"
[mail]
address = "{org.mailbox}"
display_name = "The circles"
message_gap = "0m"
[smtp]
{smtp}
[imap]
host = "127.0.0.1"
port = {mail.imap_port}
security = "none"
username = "{org.mailbox}"
password_env = "CB_ORG_PASSWORD"
[daemon]
lease = "6s"
"""


def write_folder(tmp: Path, mail: DevMailServer, org: Org, db_url: str, start: datetime,
                 ids: tuple[str, ...] = IDS) -> Path:
    folder = tmp / "deployment"
    (folder / "cohorts").mkdir(parents=True, exist_ok=True)
    (folder / "circleback.toml").write_text(deployment_toml(mail, org, db_url))
    for cohort_id in ids:
        (folder / "cohorts" / f"{cohort_id}.toml").write_text(cohort_file(org, cohort_id, start))
    return folder


def cohort_of(message: Message) -> str:
    """The cohort a message is from, as its subject names it ("... Cohort Beta ...")."""
    found = [c for c in (*IDS, "delta") if f"Cohort {c.title()}" in str(message["Subject"])]
    assert len(found) == 1, message["Subject"]
    return found[0]


def kinds(messages: list[Message]) -> Counter[tuple[str, str]]:
    """(kind, cohort) of each message."""
    return Counter((str(m["X-Circleback-Kind"]), cohort_of(m)) for m in messages)


def body(message: Message) -> str:
    assert isinstance(message, EmailMessage)
    return str(message.get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]


def no_duplicates(messages: list[Message]) -> None:
    ids = Counter(str(m["Message-ID"]) for m in messages)
    assert [i for i, n in ids.items() if n > 1] == []


def prompt_of(messages: list[Message], cohort_id: str) -> Message:
    return next(m for m in messages if m["X-Circleback-Kind"] == "prompt" and cohort_of(m) == cohort_id)


async def test_three_cohorts_one_mailbox_one_database(
    mailserver: DevMailServer, tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = new_org(mailserver, monkeypatch)
    clock = ManualClock(datetime.now(UTC).replace(hour=10, minute=0, second=0, microsecond=0))
    folder = write_folder(tmp_path, mailserver, org, db_url, clock.now())
    deployment = load_deployment(folder, require_secrets=True)
    assert deployment.ids == IDS

    # 1. Every cohort invites and prompts its participants, once; the shared participant
    #    gets one of each from every cohort (before, the second cohort's calendar key
    #    collided with the first's and it never invited anyone).
    async with opened(deployment, clock) as runtime:
        assert [w.cohort_ids for w in runtime.mailboxes()] == [IDS]  # one watcher for all
        report = await run_once(runtime)
        assert report.problems == [] and report.sent == 4 * len(IDS)
    shared = await inbox(mailserver, org.shared)
    no_duplicates(shared)
    assert kinds(shared) == Counter({(k, c): 1 for c in IDS for k in ("invite", "prompt")})
    for cohort_id in IDS:
        own = await inbox(mailserver, org.own[cohort_id])
        assert kinds(own) == Counter({("invite", cohort_id): 1, ("prompt", cohort_id): 1})

    # 2. Replies, all into the one mailbox: by reply token (two cohorts' prompts), by
    #    In-Reply-To to a bare address (a client that replied to From:), and a stranger.
    await send(mailserver, thunderbird_reply(f"Sam <{org.shared}>", prompt_of(shared, "beta"),
                                             "Beta: I kept a learning diary."),
               str(prompt_of(shared, "beta")["Reply-To"]))
    alpha_prompt = prompt_of(await inbox(mailserver, org.own["alpha"]), "alpha")
    await send(mailserver, thunderbird_reply(f"A <{org.own['alpha']}>", alpha_prompt,
                                             "Alpha: asked my team for feedback."),
               str(alpha_prompt["Reply-To"]))
    to_from = thunderbird_reply(f"Sam <{org.shared}>", prompt_of(shared, "gamma"),
                                "Gamma: tried the two-minute rule.")
    del to_from["To"]
    to_from["To"] = org.mailbox
    await send(mailserver, to_from, org.mailbox)
    stranger = EmailMessage()
    stranger["From"] = f"mallory-{org.tag}@elsewhere.test"
    stranger["To"] = org.mailbox
    stranger["Subject"] = "Buy my course"
    stranger["Message-ID"] = email.utils.make_msgid(domain="elsewhere.test")
    stranger.set_content("Limited offer.")
    await send(mailserver, stranger, org.mailbox)

    clock.advance(timedelta(hours=1))
    async with opened(deployment, clock) as runtime:
        report = await run_once(runtime)
        assert report.fetched == 4 and report.kinds == {"story": 3, "unknown_sender": 1}
        stories = {s.text: s.cohort_id for s in await Story.all()}
        assert stories == {"Beta: I kept a learning diary.": "beta",
                           "Alpha: asked my team for feedback.": "alpha",
                           "Gamma: tried the two-minute rule.": "gamma"}
        stray = await InboundMessage.get(kind="unknown_sender")
        assert stray.cohort_id == ""  # no cohort's
        # Sent to the plain address (no token, no reference to our mail): it stays in the
        # inbox, which may be a person's own; only recorded, so it is not read again.
        assert (stray.folder, stray.state, stray.raw_message) == ("", "left", None)

        # 3. The same digest weekday and time in every cohort: one digest each (before,
        #    only the first cohort's was ever sent), each with its own stories only.
        clock.set(clock.now().replace(hour=9) + timedelta(days=2, minutes=1))
        report = await run_once(runtime)
        assert report.problems == []
        digests = await OutboxMessage.filter(kind="digest").values_list("cohort_id", flat=True)
        assert Counter(digests) == {c: 3 for c in IDS}  # two participants and the facilitator
        again = await run_once(runtime)
        assert (again.queued, again.sent) == (0, 0)

    shared_digests = [m for m in await inbox(mailserver, org.shared) if m["X-Circleback-Kind"] == "digest"]
    assert len(shared_digests) == 3
    no_duplicates(await inbox(mailserver, org.shared))
    assert sorted(cohort_of(m) for m in shared_digests) == sorted(IDS)
    for message in shared_digests:
        cohort_id = cohort_of(message)
        text = body(message)
        for other in IDS:
            assert (f"{other.title()}:" in text) == (other == cohort_id), (cohort_id, other)
        assert "Buy my course" not in text
    gamma_facilitator = next(m for m in await inbox(mailserver, org.facilitator["gamma"])
                             if m["X-Circleback-Kind"] == "digest")
    assert "Gamma: tried the two-minute rule." in body(gamma_facilitator)
    assert "Beta:" not in body(gamma_facilitator)






async def test_reload_adds_and_removes_cohorts_and_changes_the_smtp_port(
    mailserver: DevMailServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = ("alpha", "beta", "gamma", "delta")
    org = new_org(mailserver, monkeypatch, ids)
    start = datetime.now(UTC)
    folder = write_folder(tmp_path, mailserver, org, f"sqlite://{tmp_path / 'cb.sqlite3'}", start,
                          ids=("alpha", "beta"))
    async with opened(load_deployment(folder, require_secrets=True), RealClock()) as runtime:
        daemon = Daemon(runtime)
        task = asyncio.create_task(daemon.run())
        try:
            async def invited(user: str, n: int) -> bool:
                return len(await inbox(mailserver, user)) >= n

            await eventually(lambda: invited(org.own["beta"], 2))
            # Add gamma, remove beta, and point SMTP at a port where nothing listens.
            (folder / "cohorts" / "beta.toml").unlink()
            (folder / "cohorts" / "gamma.toml").write_text(cohort_file(org, "gamma", start))
            (folder / "circleback.toml").write_text(deployment_toml(
                mailserver, org, f"sqlite://{tmp_path / 'cb.sqlite3'}",
                smtp=f'host = "127.0.0.1"\nport = {closed_port()}\nsecurity = "none"'))
            daemon.reload()

            async def gamma_queued() -> bool:
                return await OutboxMessage.filter(cohort_id="gamma", state="queued").count() == 4

            await eventually(gamma_queued)  # planned at once, held back: the new port is closed
            assert sorted(runtime.cohorts) == ["alpha", "gamma"]
            assert await inbox(mailserver, org.own["gamma"]) == []
            # Now the relay's TLS port, with security "tls": the new settings take effect.
            (folder / "cohorts" / "delta.toml").write_text(cohort_file(org, "delta", start))
            (folder / "circleback.toml").write_text(deployment_toml(
                mailserver, org, f"sqlite://{tmp_path / 'cb.sqlite3'}",
                smtp=f'host = "127.0.0.1"\nport = {mailserver.smtps_port}\nsecurity = "tls"\n'
                     "tls_verify = false"))
            daemon.reload()
            await eventually(lambda: invited(org.own["gamma"], 2))
            await eventually(lambda: invited(org.own["delta"], 2))
            assert not task.done()
        finally:
            daemon.stop("test")
            await asyncio.wait_for(task, timeout=15)
    # beta was wound down: nothing more reached its own participant after the reload.
    beta_mail = await inbox(mailserver, org.own["beta"])
    assert sorted(str(m["X-Circleback-Kind"]) for m in beta_mail) == ["invite", "prompt"]
    shared = await inbox(mailserver, org.shared)
    no_duplicates(shared)
    assert kinds(shared) == Counter({(k, c): 1 for c in ("alpha", "beta", "gamma", "delta")
                                     for k in ("invite", "prompt")})
