"""``circleback demo``: a whole cohort, simulated, on embedded defaults.

Real local mail servers (a private Dovecot and an SMTP relay) are started in a temporary
folder, SQLite lives there too, and a clock that jumps from one due moment to the next
runs the cohort from the first invitation to the second digest. Simulated participants
read their own mailboxes over IMAP and answer as people do.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from service.config import load_config
from service.core.clock import ManualClock
from service.dev.devmail import DevMailServer
from service.dev.simulate import Persona, act
from service.flows.status import status_report
from service.mail.imap import Mailbox
from service.mail.smtp import SmtpSender
from service.runtime.passes import run_once, schedule_all
from service.runtime.service import Runtime, opened
from service.store.digests import sent_digests

log = logging.getLogger("circleback.demo")

PASSWORD = "demo-secret"
COHORT = "circle@cohort.test"
FACILITATOR = "helen@cohort.test"
TZ = "America/New_York"


def personas() -> list[Persona]:
    return [
        Persona("Alice Moreau", "alice@example.test", "ACCEPTED", {
            1: "My goal: ask one colleague a week for feedback on my drafts.",
            2: "I asked Sam and Priya for feedback this week. Sam's notes were blunt but useful.\n"
               "This piece helped me ask better: https://hbr.org/2019/05/the-feedback-fallacy",
        }),
        Persona("Bongani Dlamini", "bongani@example.test", "TENTATIVE", {
            1: "I want to share one thing I learn every week with my team, in writing.",
            2: "Wrote my first 'today I learned' post on the team wiki. Three people replied!\n\n"
               "Thanks,\nBongani",
        }),
        Persona("Chen Wei", "chen@example.test", "DECLINED", {
            1: "Goal: run a 20-minute lunch-and-learn before the end of January.",
        }, rsvp_comment="Tuesdays at noon I teach; I will read the digest though."),
        Persona("Dana Okafor", "dana@example.test", "ACCEPTED", {}, out_of_office=True),
    ]


def demo_config(workdir: Path, smtp_port: int, imap_port: int, start: datetime,
                people: list[Persona]) -> str:
    first = (start + timedelta(days=3)).astimezone(ZoneInfo(TZ)).replace(
        hour=12, minute=0, second=0, microsecond=0)
    weekday = (first + timedelta(days=2)).strftime("%A").lower()
    parts = "\n".join(
        f'[[participants]]\nname = "{p.name}"\nemail = "{p.email}"\n'
        + ('timezone = "Africa/Johannesburg"\n' if p.email.startswith("bongani") else "")
        for p in people)
    return f"""# Written by `circleback demo`.
[cohort]
id = "demo-circle"
name = "Working out loud, together"
timezone = "{TZ}"

[facilitator]
name = "Helen Park"
email = "{FACILITATOR}"

[mail]
address = "{COHORT}"
display_name = "Working out loud circle"

[checkins]
first = {first.strftime('%Y-%m-%dT%H:%M:%S')}
every = "1w"
count = 3
duration = "45m"
location = "https://meet.example.org/working-out-loud"
prompt_before = "2d"
remind_before = "1d"

[digest]
weekday = "{weekday}"
time = "09:00"

[[prompts]]
checkin = 1
text = "What is one goal you want to make progress on in the next three weeks?"

{parts}
[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"

[imap]
host = "127.0.0.1"
port = {imap_port}
security = "none"
username = "{COHORT}"
password_env = "CIRCLEBACK_DEMO_PASSWORD"

[database]
url = "sqlite://{workdir / 'circleback.sqlite3'}"
"""


class _SimTime(logging.Formatter):
    def __init__(self, clock: ManualClock) -> None:
        super().__init__()
        self.clock = clock

    def format(self, record: logging.LogRecord) -> str:
        when = self.clock.now().astimezone(ZoneInfo(TZ))
        return f"[{when:%a %d %b %H:%M}] {record.getMessage()}"


async def run_demo(workdir: Path | None = None, *, keep: bool = False) -> int:
    started = time.monotonic()
    own_dir = workdir is None
    root = Path(tempfile.mkdtemp(prefix="circleback-demo-")) if workdir is None else workdir
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)  # Dovecot's unprivileged processes must reach the mail folder inside
    clock = ManualClock(datetime.now(UTC).replace(second=0, microsecond=0))
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_SimTime(clock))
    logging.getLogger().handlers[:] = [handler]
    logging.getLogger().setLevel(logging.INFO)
    people = personas()
    users = {COHORT: PASSWORD, FACILITATOR: PASSWORD} | {p.email: PASSWORD for p in people}
    print(f"Starting private mail servers (Dovecot + SMTP) in {root / 'mail'} ...")
    mail = await DevMailServer.start(root / "mail", users)
    try:
        os.environ["CIRCLEBACK_DEMO_PASSWORD"] = PASSWORD
        config_path = root / "cohort.toml"
        config_path.write_text(demo_config(root, mail.smtp_port, mail.imap_port, clock.now(), people))
        print(f"Config: {config_path}\n")
        config = load_config(config_path, require_secrets=True)
        async with opened(config, clock) as runtime:
            digests = await _simulate(runtime, clock, mail, people)
            report = await status_report(runtime.cohort())
        print()
        print(report.as_text())
        eml, html = await _save_digest(root, mail)
        print(f"\nThe cohort ran from the first invitation to digest #{digests} "
              f"in {time.monotonic() - started:.0f} s of real time.")
        print(f"Last digest as a participant received it: {eml}\n                        and as HTML: {html}")
        print(f"Everything the demo made is in {root}")
    finally:
        await mail.stop()
        if own_dir and not keep:
            shutil.rmtree(root / "mail", ignore_errors=True)
    return 0


async def _simulate(runtime: Runtime, clock: ManualClock, mail: DevMailServer,
                    people: list[Persona]) -> int:
    cohort = runtime.cohort()
    sender = SmtpSender(host=mail.smtp_host, port=mail.smtp_port, security="none",
                        username=None, password=None, timeout=10)
    boxes = {p.email: Mailbox(host=mail.imap_host, port=mail.imap_port, security="none",
                              username=p.email, password=PASSWORD, timeout=10) for p in people}
    try:
        for box in boxes.values():
            await box.connect()
        stranger_sent = False
        for _step in range(200):
            report = await run_once(runtime)
            for p in people:
                for line in await act(p, boxes[p.email], sender, clock.now):
                    print(f"  {line}")
            if not stranger_sent and report.sent:
                stranger_sent = True
                await _send_stranger(sender, clock.now())
            digests = await sent_digests(cohort.id)
            if digests >= 2:
                await run_once(runtime)  # deliver what the last replies caused
                return digests
            _, plan, _ = await schedule_all(runtime)
            wakeup = plan.next_wakeup
            # People answer within hours, not at the instant the mail lands.
            step = timedelta(hours=6)
            if wakeup is not None and wakeup - clock.now() < step:
                step = max(wakeup - clock.now(), timedelta(minutes=1))
            clock.advance(step)
        raise RuntimeError("the demo did not reach the second digest")
    finally:
        await sender.close()
        for box in boxes.values():
            await box.close()


async def _send_stranger(sender: SmtpSender, now: datetime) -> None:
    from email.message import EmailMessage
    from email.utils import format_datetime, make_msgid

    msg = EmailMessage()
    msg["From"] = "Mallory <mallory@elsewhere.test>"
    msg["To"] = COHORT
    msg["Subject"] = "Great offer for your circle"
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid(domain="elsewhere.test")
    msg.set_content("Buy now: https://spam.elsewhere.test/offer")
    await sender.send(msg.as_bytes(), "mallory@elsewhere.test", [COHORT])
    print("  A stranger wrote to the cohort address (it must not become a story; it stays "
          "in the inbox)")


async def _save_digest(root: Path, mail: DevMailServer) -> tuple[Path, Path]:
    import email
    from email.policy import default as default_policy

    from service.flows.preview import html_part

    box = Mailbox(host=mail.imap_host, port=mail.imap_port, security="none",
                  username="alice@example.test", password=PASSWORD, timeout=10)
    await box.connect()
    try:
        await box.select("INBOX")
        last = None
        for _uid, raw in await box.fetch(await box.uids_after(0)):
            msg = email.message_from_bytes(raw, policy=default_policy)
            if msg.get("X-Circleback-Kind") == "digest":
                last = (raw, msg)
    finally:
        await box.close()
    if last is None:
        raise RuntimeError("no digest reached the participant's mailbox")
    eml = root / "digest.eml"
    eml.write_bytes(last[0])
    html = root / "digest.html"
    html.write_text(html_part(last[1]), encoding="utf-8")
    return eml, html
