"""The long-running daemon: its three loops under one TaskGroup, IDLE wake-ups, bad mail
set aside, and a clean stop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cohort_kit import PASSWORD, cohort_config, inbox, new_people, send, thunderbird_reply

from service.clock import RealClock
from service.daemon import Daemon, opened
from service.devmail import DevMailServer
from service.mail.imap import Mailbox
from service.models import InboundMessage, Story

pytestmark = pytest.mark.integration


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the daemon did not get there in time")
        await asyncio.sleep(0.2)


async def test_daemon_runs_flows_and_stops_cleanly(
    mailserver: DevMailServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    people = new_people(mailserver)
    monkeypatch.setenv("CB_FLOW_PASSWORD", PASSWORD)
    config = cohort_config(tmp_path, mailserver, f"sqlite://{tmp_path / 'cb.sqlite3'}",
                           people.cohort, [people.alice, people.bob], datetime.now(UTC))
    async with opened(config, RealClock()) as cohort:
        daemon = Daemon(cohort)
        task = asyncio.create_task(daemon.run())

        async def invited_and_prompted() -> bool:
            kinds = [str(m["X-Circleback-Kind"]) for m in await inbox(mailserver, people.bob)]
            return sorted(kinds) == ["invite", "prompt"]

        await eventually(invited_and_prompted)
        prompt = next(m for m in await inbox(mailserver, people.alice)
                      if m["X-Circleback-Kind"] == "prompt")
        await send(mailserver, thunderbird_reply(f"Alice <{people.alice}>", prompt,
                                                 "Tried the two-minute rule every morning."),
                   str(prompt["Reply-To"]))
        # A message that is not mail at all: it must be kept, set aside, and not stop anything.
        await mailserver.deliver_async(b"\x00\xff garbage\r\n\r\n\x00", people.cohort)

        async def story_stored() -> bool:
            return await Story.filter(text="Tried the two-minute rule every morning.").exists()

        async def garbage_set_aside() -> bool:
            return await InboundMessage.filter(kind="invalid").exists()

        await eventually(story_stored)  # IDLE wakes the watcher; no poll interval to wait for
        await eventually(garbage_set_aside)
        assert not task.done()

        daemon.stop("test")
        await asyncio.wait_for(task, timeout=10)
        assert task.exception() is None

    box = Mailbox(host=mailserver.imap_host, port=mailserver.imap_port, security="none",
                  username=people.cohort, password=PASSWORD, timeout=10)
    await box.connect()
    try:
        await box.select("circleback/needs-attention")
        assert len(await box.uids_after(0)) == 1
        await box.select("INBOX")
        assert await box.uids_after(0) == []
    finally:
        await box.close()
