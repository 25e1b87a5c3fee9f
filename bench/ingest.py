"""Ingest benchmark: replies in a real Dovecot mailbox, read end to end by circleback
(fetch, classify, trim, store, move) against a raw aioimaplib fetch plus an ``email``
parse of the same messages, in the same run.

    .venv/bin/python bench/ingest.py --sizes 1000 5000

Prints messages per second for both and their ratio, and the peak Python memory of the
circleback pass (tracemalloc, in a separate pass so it does not slow the timed one) for
each mailbox size. Results go in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import logging
import os
import random
import shutil
import smtplib
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import format_datetime, make_msgid
from pathlib import Path

import aioimaplib

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service.config import load_config
from service.core.clock import ManualClock
from service.dev.devmail import DevMailServer
from service.runtime.passes import RunReport, mailbox_client, mailbox_pass
from service.runtime.service import Runtime, opened
from service.store.models import Participant

PASSWORD = "bench"
COHORT = "circle@cohort.test"
PEOPLE = 40

STORIES = [
    "I tried the two-minute rule every morning this week. It stuck on four days out of five.",
    "Shared my draft with Sam; the feedback was blunt but useful.\nThis helped: "
    "https://example.org/feedback-guide",
    "Not much progress, travel ate the week. Next week: one small step, every day.",
    "Wrote my first TIL post on the wiki!\n\n- what I learned\n- who helped\n\nThanks,\nKim",
]


def config_text(workdir: Path, mail: DevMailServer) -> str:
    people = "".join(f'[[participants]]\nname = "Person {n}"\nemail = "p{n}@example.test"\n'
                     for n in range(PEOPLE))
    return f"""
[cohort]
id = "bench"
name = "Bench cohort"
timezone = "UTC"
[facilitator]
name = "Helen"
email = "helen@cohort.test"
[mail]
address = "{COHORT}"
[checkins]
first = 2030-01-10T12:00:00
every = "1w"
count = 6
duration = "45m"
location = "https://meet.example.org/bench"
{people}
[smtp]
host = "127.0.0.1"
port = {mail.smtp_port}
security = "none"
[imap]
host = "127.0.0.1"
port = {mail.imap_port}
security = "none"
username = "{COHORT}"
password_env = "CIRCLEBACK_BENCH_PASSWORD"
[database]
url = "sqlite://{workdir / 'bench.sqlite3'}"
"""


def reply(n: int, person: int, to: str, rng: random.Random) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Person {person} <p{person}@example.test>"
    msg["To"] = to
    msg["Date"] = format_datetime(datetime(2030, 1, 8, tzinfo=UTC) + timedelta(minutes=n))
    msg["Message-ID"] = make_msgid(idstring=str(n), domain="example.test")
    kind = rng.random()
    if kind < 0.1:  # out-of-office
        msg["Subject"] = "Automatic reply: your update before check-in 1"
        msg["Auto-Submitted"] = "auto-replied"
        msg.set_content("I am out of the office until Monday.")
    elif kind < 0.15:  # a stranger
        msg.replace_header("From", f"Stranger {n} <s{n}@elsewhere.test>")
        msg["Subject"] = "Hello"
        msg.set_content("Buy now: https://spam.elsewhere.test/")
    else:
        msg["Subject"] = "Re: Bench cohort: your update before check-in 1"
        quoted = "\n".join("> " + line for line in
                           ("Hi Person,", "", "What happened since last time?", "") * 5)
        msg.set_content(f"{rng.choice(STORIES)}\n\nOn Tue, 8 Jan 2030 at 12:00, Bench circle "
                        f"<{COHORT}> wrote:\n{quoted}\n")
    return msg.as_bytes()


async def fill(mail: DevMailServer, count: int, addresses: list[str]) -> None:
    rng = random.Random(count)

    def deliver() -> None:
        with smtplib.LMTP("127.0.0.1", mail.lmtp_port, timeout=30) as lmtp:
            for n in range(count):
                person = rng.randrange(PEOPLE)
                lmtp.sendmail("sender@example.test", [COHORT],
                              reply(n, person, addresses[person], rng))

    await asyncio.to_thread(deliver)


async def raw_pass(mail: DevMailServer, chunk: int = 50) -> int:
    """The baseline: aioimaplib alone fetches every message, the stdlib parses it."""
    imap = aioimaplib.IMAP4(host="127.0.0.1", port=mail.imap_port, timeout=60)
    await imap.wait_hello_from_server()
    await imap.login(COHORT, PASSWORD)
    await imap.select("INBOX")
    result = await imap.uid_search("ALL")
    uids = result.lines[0].decode().split()
    parsed = 0
    for i in range(0, len(uids), chunk):
        response = await imap.uid("fetch", ",".join(uids[i:i + chunk]), "(UID BODY.PEEK[])")
        for line in response.lines:
            if isinstance(line, bytearray | bytes) and len(line) > 200:
                email.message_from_bytes(bytes(line), policy=default_policy)
                parsed += 1
    await imap.logout()
    return parsed


async def empty_folders(mail: DevMailServer) -> None:
    """Put everything back into INBOX so the next pass sees the same mailbox."""
    imap = aioimaplib.IMAP4(host="127.0.0.1", port=mail.imap_port, timeout=60)
    await imap.wait_hello_from_server()
    await imap.login(COHORT, PASSWORD)
    for folder in ("circleback.processed", "circleback.needs-attention"):
        result = await imap.select(folder)
        if result.result != "OK":
            continue
        uids = (await imap.uid_search("ALL")).lines[0].decode().split()
        # In slices: aioimaplib handles each response line by recursion, and thousands of
        # EXPUNGE lines in one read overflow Python's stack.
        for i in range(0, len(uids), 200):
            await imap.uid("move", ",".join(uids[i:i + 200]), "INBOX")
    await imap.logout()


async def circleback_pass(runtime: Runtime) -> int:
    [watch] = runtime.mailboxes()
    mailbox = mailbox_client(watch.imap)
    await mailbox.connect()
    report = RunReport()
    try:
        await mailbox_pass(runtime, watch, mailbox, report)
    finally:
        await mailbox.close()
    return report.fetched


async def measure(size: int, root: Path) -> dict[str, float]:
    workdir = root / f"n{size}"
    workdir.mkdir()
    users = {COHORT: PASSWORD} | {f"p{n}@example.test": PASSWORD for n in range(PEOPLE)}
    mail = await DevMailServer.start(workdir / "mail", users)
    try:
        os.environ["CIRCLEBACK_BENCH_PASSWORD"] = PASSWORD
        path = workdir / "cohort.toml"
        path.write_text(config_text(workdir, mail))
        config = load_config(path, require_secrets=True)
        clock = ManualClock(datetime(2030, 1, 9, tzinfo=UTC))
        async with opened(config, clock) as runtime:
            people = await Participant.filter(cohort_id="bench").order_by("id")
            await fill(mail, size, [runtime.cohort().reply_address(p) for p in people])

            started = time.perf_counter()
            raw = await raw_pass(mail)
            raw_seconds = time.perf_counter() - started

            started = time.perf_counter()
            done = await circleback_pass(runtime)
            ours_seconds = time.perf_counter() - started
            assert raw == done == size, (raw, done, size)

        # Memory, on a fresh database over the same mailbox, traced separately.
        await empty_folders(mail)
        config = load_config(path.with_name("cohort.toml"), require_secrets=True)
        (workdir / "bench.sqlite3").unlink()
        async with opened(config, clock) as runtime:
            tracemalloc.start()
            tracemalloc.reset_peak()
            again = await circleback_pass(runtime)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            assert again == size
    finally:
        await mail.stop()
    return {"size": size, "raw_rate": size / raw_seconds, "ours_rate": size / ours_seconds,
            "peak_mib": peak / 2**20}


async def main(sizes: list[int]) -> None:
    logging.basicConfig(level=logging.ERROR)
    root = Path(tempfile.mkdtemp(prefix="circleback-bench-"))
    root.chmod(0o755)
    try:
        rows = [await measure(size, root) for size in sizes]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print("| messages | raw aioimaplib + email (msg/s) | circleback ingest (msg/s) | ratio "
          "(circleback / raw) | circleback peak memory (MiB) |")
    print("|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['size']:.0f} | {r['raw_rate']:.0f} | {r['ours_rate']:.0f} | "
              f"{r['ours_rate'] / r['raw_rate']:.3f} | {r['peak_mib']:.1f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    asyncio.run(main(parser.parse_args().sizes))
