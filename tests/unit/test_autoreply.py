"""Tests for service/inbound/autoreply.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.inbound.autoreply import automatic_reason, is_own_address
from service.inbound.parse import ParsedMessage, parse_message

MAIL = Path(__file__).resolve().parents[1] / "fixtures" / "mail"
OWN = ("circle@example.org",)


def message(
    headers: str, subject: str = "Re: Check-in 3", sender: str = "alice@example.com"
) -> ParsedMessage:
    raw = f"From: Alice <{sender}>\nTo: circle+tok@example.org\nSubject: {subject}\n{headers}\nhello\n"
    return parse_message(raw.encode("utf-8"))


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ("Auto-Submitted: auto-replied", "Auto-Submitted"),
        ("Auto-Submitted: auto-generated; owner-email=x@y", "Auto-Submitted"),
        ("X-Autoreply: yes", "X-Autoreply"),
        ("X-Autorespond: Out of office", "X-Autorespond"),
        ("Precedence: bulk", "Precedence"),
        ("Precedence: junk", "Precedence"),
        ("Precedence: list", "Precedence"),
        ("Precedence: auto_reply", "Precedence"),
        ("Return-Path: <>", "Return-Path"),
        ("List-Id: <team.lists.example.com>", "List-Id"),
        ("List-Unsubscribe: <https://lists.example.com/u/1>", "List-Unsubscribe"),
        (
            'Content-Type: multipart/report; report-type=disposition-notification; boundary="b"',
            "report",
        ),
    ],
)
def test_automatic_headers(headers: str, fragment: str) -> None:
    reason = automatic_reason(message(headers + "\n"), OWN)
    assert reason is not None and fragment in reason


@pytest.mark.parametrize(
    "headers",
    [
        "Auto-Submitted: no",
        "X-Auto-Response-Suppress: All",
        "Precedence: first-class",
        "Return-Path: <alice@example.com>",
        "X-Autoreply: no",
    ],
)
def test_not_automatic_headers(headers: str) -> None:
    assert automatic_reason(message(headers + "\n"), OWN) is None


@pytest.mark.parametrize(
    "sender",
    [
        "MAILER-DAEMON@example.com",
        "postmaster@example.com",
        "noreply@example.com",
        "no-reply@example.com",
        "no_reply+x@example.com",
        "do-not-reply@example.com",
        "donotreply@example.com",
    ],
)
def test_robot_senders(sender: str) -> None:
    reason = automatic_reason(message("", sender=sender), OWN)
    assert reason is not None and "robot" in reason


@pytest.mark.parametrize("sender", ["circle@example.org", "Circle+abc@Example.org"])
def test_mail_from_our_own_address_is_a_loop(sender: str) -> None:
    reason = automatic_reason(message("", sender=sender), OWN)
    assert reason is not None and "own address" in reason


def test_is_own_address() -> None:
    assert is_own_address("circle+x@example.org", ["Circle@Example.org"])
    assert not is_own_address("circle@example.com", ["circle@example.org"])
    assert not is_own_address("circles@example.org", ["circle@example.org"])


@pytest.mark.parametrize(
    "subject",
    [
        "Out of Office: Check-in 3",
        "Automatic reply: Check-in 3",
        "Abwesenheitsnotiz: Check-in 3",
        "Automatische Antwort: Check-in 3",
        "Réponse automatique : Check-in 3",
        "Absence : Re: Check-in 3",
        "Respuesta automática: Check-in 3",
        "Fuera de la oficina",
        "Resposta automática: Check-in 3",
        "Risposta automatica: Check-in 3",
        "Fuori sede",
        "Automatisch antwoord: Check-in 3",
        "Afwezig: Check-in 3",
        "Autosvar: Check-in 3",
        "Fraværende: Check-in 3",
        "Frånvaro: Check-in 3",
        "Automatyczna odpowiedź: Check-in 3",
        "自動返信: Check-in 3",
        "【不在】Check-in 3",
        "RE: Out of the office until Monday",
    ],
)
def test_out_of_office_subjects(subject: str) -> None:
    reason = automatic_reason(message("", subject=subject), OWN)
    assert reason is not None and "out-of-office" in reason


@pytest.mark.parametrize(
    "subject",
    ["Re: Check-in 3", "Re: my absence next week", "Re: reply about autonomy", "Re: 不在の件"],
)
def test_human_subjects(subject: str) -> None:
    assert automatic_reason(message("", subject=subject), OWN) is None


def test_fixtures() -> None:
    ooo = parse_message((MAIL / "out_of_office_spanish_no_headers.eml").read_bytes())
    assert automatic_reason(ooo, OWN) == (
        "the subject 'Respuesta automática: Check-in 3: what happened since last time?' "
        "is an out-of-office reply."
    )
    human = parse_message((MAIL / "gmail_reply_english.eml").read_bytes())
    assert automatic_reason(human, OWN) is None
