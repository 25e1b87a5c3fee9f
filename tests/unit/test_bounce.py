"""Tests for service/inbound/bounce.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.inbound.bounce import Bounce, parse_bounce
from service.inbound.parse import parse_message

MAIL = Path(__file__).resolve().parents[1] / "fixtures" / "mail"


def bounce_of(raw: bytes) -> Bounce | None:
    return parse_bounce(raw, parse_message(raw))


def test_postfix_dsn() -> None:
    assert bounce_of((MAIL / "postfix_bounce_dsn.eml").read_bytes()) == Bounce(
        "frank@example.net",
        "5.1.1",
        True,
        "550 5.1.1 <frank@example.net>: Recipient address rejected: User unknown in virtual mailbox table",
    )


def test_gmail_dsn() -> None:
    bounce = bounce_of((MAIL / "gmail_bounce.eml").read_bytes())
    assert bounce is not None
    assert (bounce.recipient, bounce.status, bounce.hard) == ("grace.old@gmail.com", "5.1.1", True)
    assert bounce.diagnostic.startswith("550-5.1.1 The email account that you tried to reach")


def test_exim_plain_text() -> None:
    assert bounce_of((MAIL / "exim_bounce.eml").read_bytes()) == Bounce(
        "henry@example.co.uk",
        "5.1.1",
        True,
        "550 5.1.1 <henry@example.co.uk>: Recipient address rejected: User unknown",
    )


def test_qmail_plain_text() -> None:
    assert bounce_of((MAIL / "qmail_bounce.eml").read_bytes()) == Bounce(
        "ivan@example.com", "5.1.1", True, "Sorry, no mailbox here by that name. (#5.1.1)"
    )


DSN = """From: MAILER-DAEMON@mx.example.org
To: circle@example.org
Subject: Delayed Mail (still being retried)
Content-Type: multipart/report; report-type=delivery-status; boundary="b"

--b
Content-Type: text/plain

Your message has not yet been delivered.
--b
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org

Original-Recipient: rfc822;Alice@Example.com
Final-Recipient: rfc822; alias-alice@internal.example.com
Action: {action}
Status: {status}
--b--
"""


@pytest.mark.parametrize(
    ("action", "status", "hard"),
    [("delayed", "4.4.7", False), ("failed", "5.2.2", True), ("failed", "4.4.7", False)],
)
def test_dsn_action_and_status(action: str, status: str, hard: bool) -> None:
    raw = DSN.format(action=action, status=status).encode()
    assert bounce_of(raw) == Bounce(
        "alice@example.com", status, hard, "Your message has not yet been delivered."
    )


def test_success_dsn_is_not_a_bounce() -> None:
    raw = DSN.format(action="delivered", status="2.0.0").encode()
    assert bounce_of(raw) is None


def test_read_receipt_is_not_a_bounce() -> None:
    raw = (
        b"From: alice@example.com\nSubject: Read: Check-in\nContent-Type: multipart/report; "
        b'report-type=disposition-notification; boundary="b"\n\n--b\nContent-Type: text/plain\n\n'
        b"Your message was read.\n--b\nContent-Type: message/disposition-notification\n\n"
        b"Disposition: manual-action/MDN-sent-manually; displayed\n--b--\n"
    )
    assert bounce_of(raw) is None


def test_postfix_plain_text_subject() -> None:
    raw = (
        b"From: MAILER-DAEMON@mail.example.org (Mail Delivery System)\nReturn-Path: <>\n"
        b"Subject: Undelivered Mail Returned to Sender\n\n"
        b"<bob@example.net>: host mx.example.net said: 452 4.2.2 Mailbox full\n"
    )
    assert bounce_of(raw) == Bounce(
        "bob@example.net",
        "4.2.2",
        False,
        "<bob@example.net>: host mx.example.net said: 452 4.2.2 Mailbox full",
    )


def test_story_quoting_an_smtp_error_is_not_a_bounce() -> None:
    raw = (
        b"From: alice@example.com\nSubject: Re: Check-in\n\n"
        b"Our server said 550 5.1.1 all week, so I practised patience.\n"
    )
    assert bounce_of(raw) is None


def test_delay_subject_without_codes_is_soft() -> None:
    raw = (
        b"From: postmaster@example.com\nSubject: Delivery Status Notification (Delay)\n\n"
        b"Delivery to the following recipient has been delayed:\n\n     carol@example.com\n\n"
        b"Message will be retried for 2 more days.\n"
    )
    bounce = bounce_of(raw)
    assert bounce is not None and bounce.hard is False
    assert bounce.recipient == "carol@example.com"
