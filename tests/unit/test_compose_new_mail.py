"""The answer to a participant's new email (templates/new_mail.*.j2): at their own
address, with their reply address, quoting what they wrote, escaped in HTML."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage

from mailparts import html_of, text_of

from service.compose import Envelope, Recipient, Sender, compose_new_mail_answer

SENDER = Sender(address="circle@example.org", display_name="Orlando circle")
ALICE = Recipient(name="Alice Example", email="alice@example.com", timezone="Europe/London",
                  reply_address="circle+tok@example.org")
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def answer(text: str, subject: str = "A reading group") -> EmailMessage:
    return compose_new_mail_answer(
        sender=SENDER, recipient=ALICE, cohort_name="Kick-start", text=text,
        their_subject=subject, envelope=Envelope(message_id="cb.1@example.org",
                                                 in_reply_to="orig@example.com"), now=NOW)


def test_the_answer_goes_to_the_participant_with_their_reply_address() -> None:
    msg = answer("I started a reading group.\n\nhttps://example.org/list")
    assert msg["To"] == "Alice Example <alice@example.com>"
    assert msg["Reply-To"] == "circle+tok@example.org"
    assert msg["Subject"] == "Re: A reading group"
    assert msg["In-Reply-To"] == "<orig@example.com>"
    assert msg["Auto-Submitted"] == "auto-generated"  # never answered by an auto-responder
    text = text_of(msg)
    assert text.startswith("Hi Alice,")
    assert "Nothing has been shared yet" in text and "reply to this email" in text
    assert "> I started a reading group.\n>\n> https://example.org/list" in text.replace("> \n", ">\n")


def test_the_quoted_text_is_escaped_in_html() -> None:
    html = html_of(answer("<script>alert(1)</script> & more"))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "reply to this email" in html


def test_a_new_email_without_a_subject_gets_one() -> None:
    assert answer("Hello", subject=" ")["Subject"] == "Share this with the circle?"
