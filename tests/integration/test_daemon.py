"""The long-running daemon: its three loops under one TaskGroup, IDLE wake-ups, bad mail
set aside, and a clean stop."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cohort_kit import PASSWORD, cohort_config, eventually, inbox, new_people, send, thunderbird_reply

from service.core.clock import RealClock
from service.dev.devmail import DevMailServer
from service.mail.imap import Mailbox
from service.runtime.daemon import Daemon
from service.runtime.service import opened
from service.store.models import InboundMessage, Story

pytestmark = pytest.mark.integration




async def test_daemon_runs_flows_and_stops_cleanly(
    mailserver: DevMailServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    people = new_people(mailserver, monkeypatch)
    config = cohort_config(tmp_path, mailserver, None,
                           people.cohort, [people.alice, people.bob], datetime.now(UTC))
    async with opened(config, RealClock()) as runtime:
        daemon = Daemon(runtime)
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


async def test_one_click_unsubscribe(mailserver: DevMailServer, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import socket
    import urllib.request

    from service.config import load_config
    from service.store.models import Participant

    people = new_people(mailserver, monkeypatch)
    config = cohort_config(tmp_path, mailserver, None,
                           people.cohort, [people.alice, people.bob], datetime.now(UTC))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    text = config.path.read_text().replace(
        'display_name = "Flow circle"',
        'display_name = "Flow circle"\nbase_url = "https://circle.example.org"')
    config.path.write_text(text + f'\n[http]\nlisten = "127.0.0.1:{port}"\n')
    config = load_config(config.path, require_secrets=True)
    async with opened(config, RealClock()) as runtime:
        daemon = Daemon(runtime)
        task = asyncio.create_task(daemon.run())

        async def prompted() -> bool:
            return any(m["X-Circleback-Kind"] == "prompt" for m in await inbox(mailserver, people.bob))

        await eventually(prompted)
        prompt = next(m for m in await inbox(mailserver, people.bob) if m["X-Circleback-Kind"] == "prompt")
        assert prompt["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        url = next(part.strip(" <>") for part in str(prompt["List-Unsubscribe"]).split(",")
                   if "https://" in part)
        assert url.startswith("https://circle.example.org/unsubscribe/")
        # What a mail client does (RFC 8058), to the daemon behind the HTTPS proxy:
        local = url.replace("https://circle.example.org", f"http://127.0.0.1:{port}")
        request = urllib.request.Request(local, data=b"List-Unsubscribe=One-Click", method="POST")
        body = await asyncio.to_thread(lambda: urllib.request.urlopen(request, timeout=10).read())
        assert b"no more emails" in body
        assert (await Participant.get(email=people.bob)).status == "stopped"
        assert (await Participant.get(email=people.alice)).status == "active"
        daemon.stop("test")
        await asyncio.wait_for(task, timeout=10)


async def test_sighup_reloads_the_config_and_sends_the_change(
    mailserver: DevMailServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import signal

    people = new_people(mailserver, monkeypatch)
    config = cohort_config(tmp_path, mailserver, None,
                           people.cohort, [people.alice], datetime.now(UTC))
    async with opened(config, RealClock()) as runtime:
        daemon = Daemon(runtime)
        task = asyncio.create_task(daemon.run())

        async def kinds() -> list[str]:
            return [str(m["X-Circleback-Kind"]) for m in await inbox(mailserver, people.alice)]

        async def invited() -> bool:
            return "invite" in await kinds()

        await eventually(invited)
        # A broken edit is refused and the running config stays in force...
        good = config.path.read_text()
        config.path.write_text(good.replace('every = "1w"', 'every = "1x"'))
        os.kill(os.getpid(), signal.SIGHUP)
        await asyncio.sleep(1)
        assert not task.done() and daemon.runtime.cohort().config.checkins.every == "1w"
        # ...a good one is taken, and its change reaches the calendar.
        config.path.write_text(good.replace('prompt_before = "2d"', 'prompt_before = "2d"\ncancelled = [2]'))
        os.kill(os.getpid(), signal.SIGHUP)

        async def cancelled() -> bool:
            return "cancel" in await kinds()

        await eventually(cancelled)
        assert daemon.runtime.cohort().config.checkins.cancelled == (2,)
        daemon.stop("test")
        await asyncio.wait_for(task, timeout=10)
