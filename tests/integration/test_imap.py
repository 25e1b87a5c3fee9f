"""service/mail/imap.py against a real Dovecot."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from service.dev.devmail import DevMailServer
from service.mail.imap import ImapAuthError, ImapConnectionError, Mailbox, Security

if TYPE_CHECKING:
    from tests.integration.conftest import Account

pytestmark = pytest.mark.integration

NewMessage = Callable[..., bytes]


async def test_select_reports_uidvalidity_and_uidnext(
    account: Account, mailbox: Mailbox, new_message: NewMessage
) -> None:
    validity, uidnext = await mailbox.select("INBOX")
    assert validity > 0 and uidnext == 1
    await account.deliver(new_message("one"))
    await account.deliver(new_message("two"))
    again, uidnext = await mailbox.select("INBOX")
    assert (again, uidnext) == (validity, 3)


async def test_uids_after_filters_the_star_quirk(
    account: Account, mailbox: Mailbox, new_message: NewMessage
) -> None:
    for n in range(3):
        await account.deliver(new_message(f"message {n}"))
    await mailbox.select()
    assert await mailbox.uids_after(0) == [1, 2, 3]
    assert await mailbox.uids_after(1) == [2, 3]
    # "UID 4:*" matches UID 3 on the server (RFC 3501 6.4.8); the cursor must not go back.
    assert await mailbox.uids_after(3) == []
    assert await mailbox.uids_after(10) == []


async def test_fetch_returns_whole_messages_in_chunks(
    account: Account, mailbox: Mailbox, new_message: NewMessage
) -> None:
    bodies = [
        "plain text\n",
        "a line that looks like IMAP: ) {12}\n* 3 EXISTS\nA1 OK done\n",
        "Grüße aus Köln — ünïcödé\n",
        "x" * 70_000 + "\n",  # larger than one read from the socket
        ".\nleading dot\n",
    ]
    sent = [new_message(f"chunk {n}", body) for n, body in enumerate(bodies)]
    for raw in sent:
        await account.deliver(raw)
    await mailbox.select()
    uids = await mailbox.uids_after(0)
    fetched = await mailbox.fetch(uids, chunk=2)
    assert [uid for uid, _ in fetched] == uids
    for (_, raw), original in zip(fetched, sent, strict=True):
        # Dovecot's LMTP adds Return-Path, Delivered-To and Received on top.
        assert raw.endswith(original)
        assert b"Delivered-To: " in raw


async def test_fetch_leaves_messages_unseen(
    account: Account, mailbox: Mailbox, new_message: NewMessage
) -> None:
    await account.deliver(new_message("do not mark me read"))
    await mailbox.select()
    await mailbox.fetch(await mailbox.uids_after(0))
    assert await account.unseen_uids() == [1]


async def test_fetch_skips_vanished_uids(
    account: Account, mailbox: Mailbox, new_message: NewMessage
) -> None:
    await account.deliver(new_message("still here"))
    await mailbox.select()
    assert [uid for uid, _ in await mailbox.fetch([1, 99])] == [1]
    assert await mailbox.fetch([]) == []


async def test_ensure_folder_is_idempotent(account: Account, mailbox: Mailbox) -> None:
    for _ in range(2):
        await mailbox.ensure_folder("circleback/processed")
        await mailbox.ensure_folder("circleback/needs-attention")
        await mailbox.ensure_folder("circleback/Rückfragen")  # modified UTF-7 on the wire
    # Dovecot's maildir hierarchy delimiter is "."; "/" in our names is translated.
    assert await account.all_uids("circleback.processed") == []
    assert await account.all_uids("circleback.R&APw-ckfragen") == []


async def test_move_uses_move_and_keeps_the_message(
    account: Account, mailbox: Mailbox, new_message: NewMessage
) -> None:
    await account.deliver(new_message("to be processed"))
    await account.deliver(new_message("stays"))
    await mailbox.ensure_folder("circleback/processed")
    await mailbox.select()
    await mailbox.move(1, "circleback/processed")
    assert await account.all_uids() == [2]
    assert await account.all_uids("circleback.processed") == [1]
    # The moved copy is still unread for the participant's own client.
    assert await account.unseen_uids("circleback.processed") == [1]


@pytest.mark.parametrize("missing", [{"MOVE"}, {"MOVE", "UIDPLUS"}])
async def test_move_falls_back_without_move(
    account: Account, mailbox: Mailbox, new_message: NewMessage, missing: set[str]
) -> None:
    await account.deliver(new_message("old server"))
    await mailbox.ensure_folder("circleback/needs-attention")
    await mailbox.select()
    mailbox._imap.protocol.capabilities -= missing  # pretend to be an older server
    await mailbox.move(1, "circleback/needs-attention")
    assert await account.all_uids("circleback.needs-attention") == [1]
    # With UIDPLUS the original is expunged; without it, it is only marked \Deleted.
    assert await account.all_uids() == ([1] if "UIDPLUS" in missing else [])


async def test_wait_for_change_wakes_on_delivery_during_idle(
    account: Account, mailbox: Mailbox, new_message: NewMessage
) -> None:
    await mailbox.select()
    assert mailbox.has_idle
    assert await mailbox.uids_after(0) == []
    waiter = asyncio.create_task(mailbox.wait_for_change(timeout=20))
    await asyncio.sleep(0.3)
    started = time.monotonic()
    await account.deliver(new_message("wake up"))
    assert await asyncio.wait_for(waiter, 10) is True
    assert time.monotonic() - started < 3
    assert await mailbox.uids_after(0) == [1]


async def test_wait_for_change_times_out_quietly(mailbox: Mailbox) -> None:
    await mailbox.select()
    await mailbox.uids_after(0)
    started = time.monotonic()
    assert await mailbox.wait_for_change(timeout=0.5) is False
    assert 0.4 < time.monotonic() - started < 3
    # The connection is still usable after IDLE ended.
    assert await mailbox.uids_after(0) == []


async def test_wait_for_change_sees_mail_that_came_before_it(
    account: Account, mailbox: Mailbox, new_message: NewMessage
) -> None:
    await mailbox.select()
    await mailbox.uids_after(0)
    await account.deliver(new_message("arrived between search and IDLE"))
    assert await mailbox.wait_for_change(timeout=10) is True


async def test_wait_for_change_polls_without_idle(
    account: Account, new_message: NewMessage
) -> None:
    mailbox = account.mailbox(poll_interval=0.3)
    await mailbox.connect()
    try:
        mailbox._imap.protocol.capabilities.discard("IDLE")
        await mailbox.select()
        assert not mailbox.has_idle
        assert await mailbox.wait_for_change(timeout=0.2) is False
        await account.deliver(new_message("polled"))
        assert await mailbox.wait_for_change(timeout=5) is True
    finally:
        await mailbox.close()


async def test_dropped_connection_during_idle_raises_promptly(
    account: Account, mailbox: Mailbox, mailserver: DevMailServer
) -> None:
    await mailbox.select()
    await mailbox.uids_after(0)
    waiter = asyncio.create_task(mailbox.wait_for_change(timeout=60))
    await asyncio.sleep(0.3)
    await mailserver.kick(account.address)
    with pytest.raises(ImapConnectionError, match="lost"):
        await asyncio.wait_for(waiter, 10)
    with pytest.raises(ImapConnectionError, match="connect"):
        await mailbox.uids_after(0)
    await mailbox.connect()  # and it recovers by reconnecting
    await mailbox.select()
    assert await mailbox.uids_after(0) == []


async def test_wrong_password_is_a_clear_auth_error(account: Account) -> None:
    mailbox = Mailbox(account.server.imap_host, account.server.imap_port, "none",
                      account.address, "not the password", timeout=10)
    with pytest.raises(ImapAuthError) as caught:
        await mailbox.connect()
    message = str(caught.value)
    assert f"IMAP login failed for {account.address}" in message
    assert "AUTHENTICATIONFAILED" in message
    assert "$CIRCLEBACK_IMAP_PASSWORD" in message


async def test_connection_refused_is_a_clear_connection_error(unused_tcp_port: int) -> None:
    mailbox = Mailbox("127.0.0.1", unused_tcp_port, "none", "x@cohort.test", "pw", timeout=5)
    with pytest.raises(ImapConnectionError) as caught:
        await mailbox.connect()
    assert str(caught.value) == (
        f"could not connect to 127.0.0.1:{unused_tcp_port}: connection refused — is the IMAP "
        "server running and is [imap] port right?"
    )
    await mailbox.close()


@pytest.mark.parametrize("security", ["tls", "starttls"])
async def test_tls_and_starttls(
    account: Account, new_message: NewMessage, security: Security
) -> None:
    await account.deliver(new_message("over TLS"))
    mailbox = account.mailbox(security)
    await mailbox.connect()
    try:
        assert mailbox._imap.protocol.transport.get_extra_info("sslcontext") is not None
        # Capabilities were asked again after STARTTLS and login (RFC 3501 6.2.1).
        assert "STARTTLS" not in mailbox.capabilities and "MOVE" in mailbox.capabilities
        await mailbox.select()
        [(uid, raw)] = await mailbox.fetch(await mailbox.uids_after(0))
        assert uid == 1 and b"Subject: over TLS" in raw
    finally:
        await mailbox.close()


async def test_tls_on_a_plain_port_says_which_setting_to_check(account: Account) -> None:
    server = account.server
    mailbox = Mailbox(server.imap_host, server.imap_port, "tls", account.address,
                      account.password, timeout=5, tls_context=server.client_tls_context())
    with pytest.raises(ImapConnectionError, match=r"does \[imap\] security match the port"):
        await mailbox.connect()
