"""No message stops the watcher or is lost: a set of malformed mail, some of it huge,
goes through the real mailbox; each one is stored and moved (never deleted), and a normal
reply after them still becomes a story."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cohort_kit import PASSWORD, cohort_config, connected, new_people

from service.core.clock import ManualClock
from service.dev.devmail import DevMailServer
from service.mail.imap import Mailbox
from service.runtime.passes import run_once
from service.runtime.service import opened
from service.store.models import InboundMessage, Participant, Story, StoryAttachment

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parent.parent / "fixtures" / "malformed"


def generated(frm: str, to: str) -> Iterator[tuple[str, bytes]]:
    head = f"From: Alice <{frm}>\r\nTo: {to}\r\nMIME-Version: 1.0\r\n"
    parts = "".join(f"--b\r\nContent-Type: text/plain\r\n\r\npart {n}\r\n" for n in range(5000))
    yield "5000_parts", (head + 'Subject: parts\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
                         + parts + "--b--\r\n").encode()
    nested = "".join(f'Content-Type: multipart/mixed; boundary="n{d}"\r\n\r\n--n{d}\r\n'
                     for d in range(300))
    yield "deep_nesting", (head + "Subject: deep\r\n" + nested + "\r\ninner\r\n").encode()
    yield "huge_header", (head + "Subject: " + "x" * 1_000_000 + "\r\n\r\nbody\r\n").encode()
    yield "small_attachment", (
        head + 'Subject: notes\r\nContent-Type: multipart/mixed; boundary="s"\r\n\r\n'
        "--s\r\nContent-Type: text/plain\r\n\r\nMy notes from the session.\r\n"
        '--s\r\nContent-Type: application/pdf; name="notes.pdf"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--s--\r\n").encode()
    attachment = ("QUJD" * 19) + "\r\n"
    yield "25mb_attachment", (
        head + 'Subject: big\r\nContent-Type: multipart/mixed; boundary="z"\r\n\r\n'
        "--z\r\nContent-Type: text/plain\r\n\r\nSee the attached video of my talk.\r\n"
        '--z\r\nContent-Type: video/mp4; name="talk.mp4"\r\nContent-Transfer-Encoding: base64\r\n'
        'Content-Disposition: attachment; filename="talk.mp4"\r\n\r\n'
        + attachment * (25 * 1024 * 1024 // len(attachment)) + "--z--\r\n").encode()


async def test_malformed_mail_is_kept_and_the_watcher_survives(
    mailserver: DevMailServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    people = new_people(mailserver, monkeypatch)
    clock = ManualClock(datetime.now(UTC))
    config = cohort_config(tmp_path, mailserver, None,
                           people.cohort, [people.alice], clock.now())
    async with opened(config, clock) as runtime:
        await connected(runtime)
        alice = await Participant.get(email=people.alice)
        token_address = runtime.cohort().reply_address(alice)
        messages = [(p.stem, p.read_bytes().replace(b"alice@example.test", people.alice.encode())
                     .replace(b"circle@cohort.test", token_address.encode()))
                    for p in sorted(FIXTURES.glob("*.eml"))]
        messages += list(generated(people.alice, token_address))
        for _, raw in messages:
            await mailserver.deliver_async(raw, people.cohort)
        report = await run_once(runtime)
        assert report.fetched == len(messages)
        assert await InboundMessage.filter(cohort_id="flow").count() == len(messages)

        # The watcher is still fine: a normal reply afterwards is a story.
        normal = (f"From: Alice <{people.alice}>\r\nTo: {token_address}\r\nSubject: Re: hi\r\n"
                  "Message-ID: <normal-1@example.test>\r\n\r\nShipped the prototype.\r\n").encode()
        await mailserver.deliver_async(normal, people.cohort)
        report = await run_once(runtime)
        assert report.kinds == {"story": 1}
        # Every reply of Alice's is for check-in 1: one story, each reply added to it.
        story = await Story.get(participant=alice, private=False)
        assert story.text.endswith("Shipped the prototype.")
        assert "See the attached video of my talk." in story.text
        assert "My notes from the session." in story.text
        # Over [mail] max_attachment_size (10 MB by default): noted on the story, not kept.
        assert {"filename": "talk.mp4", "content_type": "video/mp4",
                "size": 25 * 1024 * 1024 // 78 * 57, "kept": False} in story.attachments
        files = {a.filename: a.content for a in await StoryAttachment.filter(story=story)}
        assert "talk.mp4" not in files and files["notes.pdf"] == b"%PDF-1.4\n"

    box = Mailbox(host=mailserver.imap_host, port=mailserver.imap_port, security="none",
                  username=people.cohort, password=PASSWORD, timeout=30)
    await box.connect()
    try:
        await box.select("INBOX")
        assert await box.uids_after(0) == []
        kept = 0
        for folder in ("circleback/processed", "circleback/needs-attention"):
            await box.select(folder)
            kept += len(await box.uids_after(0))
        assert kept == len(messages) + 1  # nothing deleted
    finally:
        await box.close()
