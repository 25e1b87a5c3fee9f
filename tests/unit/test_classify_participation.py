"""A message to a story's +1 address, and the "edit" control word (service/inbound)."""

from __future__ import annotations

from datetime import date
from email.message import EmailMessage

from service.core.tokens import make_reaction_token, make_token, verify_reaction_token, verify_token
from service.inbound.classify import ClassifyContext, classify, to_json
from service.inbound.controls import parse_control

SECRET = bytes(range(32))
PEOPLE = {1: "alice@example.com", 2: "bob@example.com"}


def _ctx() -> ClassifyContext:
    def owner(token: str) -> str | None:
        pid = verify_token(SECRET, "c", token)
        return PEOPLE.get(pid) if pid is not None else None

    def reaction(token: str) -> tuple[str, int] | None:
        found = verify_reaction_token(SECRET, "c", token)
        return (PEOPLE[found[0]], found[1]) if found and found[0] in PEOPLE else None

    return ClassifyContext(own_address="circle@example.org", participant_for_token=owner,
                           reaction_for_token=reaction, sent_message_ids={},
                           participant_emails=set(PEOPLE.values()), today=date(2026, 12, 4))


def _mail(frm: str, token: str, body: str = "", subject: str = "+1", **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = frm
    msg["To"] = f"circle+{token}@example.org"
    msg["Subject"] = subject
    msg["Message-ID"] = "<m1@example.com>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes()


def test_a_plus_one_from_its_reader_is_a_reaction_to_that_story() -> None:
    token = make_reaction_token(SECRET, "c", 2, 77)
    for body in ("", "Just send this email: it tells Alice their story was useful."):
        _, result = classify(_mail("Bob <BOB@example.com>", token, body), _ctx())
        assert result.kind == "command" and result.participant == "bob@example.com"
        assert result.control is not None and result.control.word == "react"
        assert result.reaction == 77
        assert to_json(result)["reaction"] == {"story": 77}


def test_a_plus_one_address_used_by_someone_else_is_not_counted() -> None:
    token = make_reaction_token(SECRET, "c", 2, 77)  # Bob's address for story 77
    for frm in ("alice@example.com", "mallory@evil.example"):
        _, result = classify(_mail(frm, token), _ctx())
        assert result.kind == "unknown_sender" and result.reaction is None
        assert "does not match" in result.reason


def test_a_forged_or_foreign_plus_one_address_is_not_a_reaction() -> None:
    other_cohort = make_reaction_token(SECRET, "d", 2, 77)
    other_secret = make_reaction_token(b"z" * 32, "c", 2, 77)
    for token in (other_cohort, other_secret, "notatoken"):
        _, result = classify(_mail("bob@example.com", token), _ctx())
        assert result.kind == "unknown_sender" and result.reaction is None


def test_an_out_of_office_to_a_plus_one_address_is_an_auto_reply() -> None:
    token = make_reaction_token(SECRET, "c", 2, 77)
    raw = _mail("bob@example.com", token, "I am away.", subject="Out of office: +1",
                Auto_Submitted="auto-replied")
    _, result = classify(raw, _ctx())
    assert result.kind == "auto_reply"


def test_a_reply_token_is_still_a_story_not_a_reaction() -> None:
    raw = _mail("bob@example.com", make_token(SECRET, "c", 2), "Tried pairing.", subject="Re: x")
    _, result = classify(raw, _ctx())
    assert result.kind == "story" and result.reaction is None


def test_edit_is_a_control_word_on_its_own_line() -> None:
    today = date(2026, 12, 4)
    for line in ("edit", "Edit", "EDIT:", "edit."):
        control = parse_control(f"{line}\nThe new text.", today)
        assert control is not None and control.word == "edit"
    assert parse_control("Edited my CV this week.", today) is None
    assert parse_control("edit the draft, then send", today) is None
