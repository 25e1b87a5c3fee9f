"""service/mail/smtp.py through aiosmtpd -> LMTP -> Dovecot, read back over IMAP."""

from __future__ import annotations

import asyncio
import email
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink

from service.dev.devmail import DevMailServer
from service.mail.smtp import (
    NotRetried,
    PermanentFailure,
    Security,
    SendError,
    SmtpSender,
    TemporaryFailure,
    check_smtp,
)

if TYPE_CHECKING:
    from tests.integration.conftest import Account

pytestmark = pytest.mark.integration

NewMessage = Callable[..., bytes]
SENDER = "facilitator@example.test"


@pytest.fixture
async def sender(mailserver: DevMailServer) -> AsyncIterator[SmtpSender]:
    mailserver.smtp_faults.clear()
    smtp = SmtpSender(mailserver.smtp_host, mailserver.smtp_port, "none",
                      SENDER, "secret", timeout=5.0)
    try:
        yield smtp
    finally:
        await smtp.close()
        mailserver.smtp_faults.clear()


async def inbox(account: Account) -> list[email.message.Message]:
    box = account.mailbox()
    await box.connect()
    try:
        await box.select()
        fetched = await box.fetch(await box.uids_after(0))
    finally:
        await box.close()
    return [email.message_from_bytes(raw) for _, raw in fetched]


async def test_sent_message_arrives_in_the_inbox(
    sender: SmtpSender, account: Account, new_message: NewMessage
) -> None:
    raw = new_message("Check-in on Tuesday", "What did you try?\n.\nA lone dot above.\n",
                      to=account.address)
    assert await sender.send(raw, SENDER, [account.address]) == {}
    [received] = await inbox(account)
    assert received["Subject"] == "Check-in on Tuesday"
    assert received["Delivered-To"] == account.address
    payload = received.get_payload(decode=True)
    assert isinstance(payload, bytes)
    assert payload.replace(b"\r\n", b"\n") == b"What did you try?\n.\nA lone dot above.\n"


async def test_plus_address_lands_in_the_same_inbox(
    sender: SmtpSender, account: Account, new_message: NewMessage
) -> None:
    local, domain = account.address.split("@")
    await sender.send(new_message("reply token"), SENDER, [f"{local}+t0k3n@{domain}"])
    assert [m["Subject"] for m in await inbox(account)] == ["reply token"]


async def test_connection_is_kept_open_across_sends(
    sender: SmtpSender, account: Account, new_message: NewMessage
) -> None:
    await sender.send(new_message("first"), SENDER, [account.address])
    client = sender._client
    await sender.send(new_message("second"), SENDER, [account.address])
    assert sender.connected and sender._client is client
    assert len(await inbox(account)) == 2


async def test_reconnects_when_the_server_dropped_the_connection(
    sender: SmtpSender, mailserver: DevMailServer, account: Account, new_message: NewMessage
) -> None:
    await sender.send(new_message("before"), SENDER, [account.address])
    mailserver.smtp_faults.drop_next("MAIL")  # like an idle timeout on the server side
    await sender.send(new_message("after"), SENDER, [account.address])
    assert [m["Subject"] for m in await inbox(account)] == ["before", "after"]


async def test_the_retry_on_a_new_connection_asks_first(
    sender: SmtpSender, mailserver: DevMailServer, account: Account, new_message: NewMessage
) -> None:
    """A sender that was frozen (or slow) finds its connection dead: before sending on a
    new one it asks whether the message is still its to send."""
    asked: list[bool] = []

    async def no_longer_mine() -> bool:
        asked.append(True)
        return False

    await sender.send(new_message("before"), SENDER, [account.address])
    mailserver.smtp_faults.drop_next("MAIL")
    with pytest.raises(NotRetried):
        await sender.send(new_message("taken over"), SENDER, [account.address],
                          may_retry=no_longer_mine)
    assert asked == [True]
    await sender.send(new_message("next"), SENDER, [account.address], may_retry=no_longer_mine)
    assert asked == [True]  # a healthy connection sends without asking
    assert [m["Subject"] for m in await inbox(account)] == ["before", "next"]


@pytest.mark.parametrize(
    ("command", "code", "error"),
    [
        ("RCPT", 451, TemporaryFailure),
        ("RCPT", 452, TemporaryFailure),
        ("DATA", 451, TemporaryFailure),
        ("DATA", 421, TemporaryFailure),
        ("RCPT", 550, PermanentFailure),
        ("DATA", 552, PermanentFailure),
        ("MAIL", 550, PermanentFailure),
    ],
)
async def test_reply_codes_become_temporary_or_permanent(
    sender: SmtpSender, mailserver: DevMailServer, account: Account, new_message: NewMessage,
    command: str, code: int, error: type[SendError],
) -> None:
    mailserver.smtp_faults.fail_next(command, code)
    with pytest.raises(error) as caught:
        await sender.send(new_message("refused"), SENDER, [account.address])
    assert caught.value.code == code
    assert caught.value.message
    # The sender recovers (RSET, or a new connection after 421) and the next one goes.
    await sender.send(new_message("accepted"), SENDER, [account.address])
    assert [m["Subject"] for m in await inbox(account)] == ["accepted"]


async def test_unknown_local_user_is_permanent(
    sender: SmtpSender, new_message: NewMessage
) -> None:
    with pytest.raises(PermanentFailure) as caught:
        await sender.send(new_message("nobody"), SENDER, ["nobody@cohort.test"])
    assert caught.value.code == 550
    assert "nobody@cohort.test" in caught.value.message


async def test_one_refused_recipient_among_several_is_reported_per_recipient(
    sender: SmtpSender, account: Account, new_message: NewMessage
) -> None:
    refused = await sender.send(new_message("to two"), SENDER,
                                ["nobody@cohort.test", account.address])
    assert list(refused) == ["nobody@cohort.test"]
    assert isinstance(refused["nobody@cohort.test"], PermanentFailure)
    assert len(await inbox(account)) == 1


async def test_dropped_during_data_is_temporary(
    sender: SmtpSender, mailserver: DevMailServer, account: Account, new_message: NewMessage
) -> None:
    mailserver.smtp_faults.drop_next("DATA")
    with pytest.raises(TemporaryFailure) as caught:
        await sender.send(new_message("cut"), SENDER, [account.address])
    assert caught.value.code is None
    assert not sender.connected


async def test_wrong_password(mailserver: DevMailServer, new_message: NewMessage) -> None:
    problem = await check_smtp(mailserver.smtp_host, mailserver.smtp_port, "none",
                               SENDER, "wrong", timeout=5)
    assert problem is not None
    assert problem.startswith(f"SMTP login failed for {SENDER}: 535 ")
    assert problem.endswith("— check the password in $CIRCLEBACK_SMTP_PASSWORD")
    smtp = SmtpSender(mailserver.smtp_host, mailserver.smtp_port, "none", SENDER, "wrong")
    with pytest.raises(PermanentFailure) as caught:
        await smtp.send(new_message("x"), SENDER, [SENDER])
    assert caught.value.code == 535
    await smtp.close()


async def test_check_smtp_is_quiet_when_all_is_well(mailserver: DevMailServer) -> None:
    assert await check_smtp(mailserver.smtp_host, mailserver.smtp_port, "none",
                            SENDER, "secret") is None


async def test_connection_refused(unused_tcp_port: int, new_message: NewMessage) -> None:
    problem = await check_smtp("127.0.0.1", unused_tcp_port, "starttls", timeout=5)
    assert problem == (
        f"could not connect to 127.0.0.1:{unused_tcp_port}: connection refused — is the "
        "SMTP server running and is [smtp] port right?"
    )
    smtp = SmtpSender("127.0.0.1", unused_tcp_port, "none", timeout=5)
    with pytest.raises(TemporaryFailure) as caught:
        await smtp.send(new_message("x"), SENDER, [SENDER])
    assert caught.value.code is None
    await smtp.close()


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_starttls_and_tls(
    mailserver: DevMailServer, account: Account, new_message: NewMessage, security: Security
) -> None:
    port = mailserver.smtps_port if security == "tls" else mailserver.smtp_port
    context = mailserver.client_tls_context()
    smtp = SmtpSender(mailserver.smtp_host, port, security, SENDER, "secret", timeout=5,
                      tls_context=context)
    try:
        await smtp.send(new_message(f"over {security}"), SENDER, [account.address])
        assert smtp._client is not None
        assert smtp._client.get_transport_info("sslcontext") is not None
    finally:
        await smtp.close()
    assert [m["Subject"] for m in await inbox(account)] == [f"over {security}"]
    assert await check_smtp(mailserver.smtp_host, port, security, SENDER, "secret",
                            tls_context=context) is None


async def test_starttls_required_but_not_offered(unused_tcp_port: int) -> None:
    plain = Controller(Sink(), hostname="127.0.0.1", port=unused_tcp_port)
    await asyncio.to_thread(plain.start)
    try:
        problem = await check_smtp("127.0.0.1", unused_tcp_port, "starttls", timeout=5)
    finally:
        await asyncio.to_thread(plain.stop)
    assert problem is not None and "STARTTLS" in problem
    assert "does [smtp] security match the port" in problem
