"""The RSVP emails real calendar clients send, classified and authenticated end to end.

Every fixture in tests/fixtures/rsvp answers Alice's copy of the invitation, whose ORGANIZER
is her reply address circle+tok3nalice@cohort.test. The series starts Tuesday 24 February
2026 at 12:00 America/New_York (17:00 UTC) and repeats fortnightly; from 10 March the US is
on daylight time, so 12:00 there is 16:00 UTC.
"""

from __future__ import annotations

import email
import json
import random
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.inbound.classify import Classification, ClassifyContext, classify, to_json
from service.inbound.parse import CALENDAR_TYPES, parse_message

RSVP = Path(__file__).resolve().parents[1] / "fixtures" / "rsvp"
FIXTURES = sorted(p.name for p in RSVP.glob("*.eml"))
UID = "orlando-2026-checkins@circleback"
ALICE = "alice@example.com"
CTX = ClassifyContext(
    own_address="circle@cohort.test",
    participant_for_token={"tok3nalice": ALICE}.get,
    sent_message_ids={},
    participant_emails={ALICE, "bob@example.com"},
    today=date(2026, 2, 18),
)
CURRENT_SEQUENCE = 2  # the series was changed twice after the first invitation

# name, kind, partstat, recurrence_id, comment
ANSWERS = [
    ("google_calendar_accept.eml", "rsvp", "ACCEPTED", None, None),
    (
        "google_calendar_decline_occurrence_comment.eml",
        "rsvp",
        "DECLINED",
        datetime(2026, 3, 10, 16, 0, tzinfo=UTC),
        "Sorry, I'm at a customer workshop that day – I'll share my notes by email.",
    ),
    ("outlook_accept_german.eml", "rsvp", "ACCEPTED", None, None),  # Outlook's empty "COMMENT:\n"
    (
        "outlook_web_tentative.eml",
        "rsvp",
        "TENTATIVE",
        datetime(2026, 3, 10, 16, 0, tzinfo=UTC),  # TZID "Customized Time Zone", read from VTIMEZONE
        "I'll try to make it, but I may be 10 minutes late from another call.",
    ),
    ("apple_calendar_accept.eml", "rsvp", "ACCEPTED", None, None),
    ("icloud_decline.eml", "rsvp", "DECLINED", None, None),
    ("thunderbird_accept.eml", "rsvp", "ACCEPTED", None, None),
    (
        "evolution_tentative.eml",
        "rsvp",
        "TENTATIVE",
        datetime(2026, 3, 24, 16, 0, tzinfo=UTC),
        "Running a workshop until noon, I'll join as soon as I can.",
    ),
    ("nextcloud_accept_via_relay.eml", "rsvp", "ACCEPTED", datetime(2026, 4, 7, 16, 0, tzinfo=UTC), None),
    (
        "outlook_counter.eml",
        "counter",
        "TENTATIVE",
        datetime(2026, 3, 24, 16, 0, tzinfo=UTC),
        "Could we start an hour later that day? I have a clash until 12:45.",
    ),
    ("stale_sequence_reply.eml", "rsvp", "ACCEPTED", None, None),
]
REAL = [answer[0] for answer in ANSWERS]


def run(name: str, ctx: ClassifyContext | None = CTX) -> Classification:
    return classify((RSVP / name).read_bytes(), ctx)[1]


def test_every_fixture_is_covered() -> None:
    assert sorted([*REAL, "reply_for_other_attendee.eml", "spoofed_reply_wrong_sender.eml"]) == FIXTURES


@pytest.mark.parametrize(("name", "kind", "partstat", "recurrence_id", "comment"), ANSWERS)
def test_real_replies(
    name: str, kind: str, partstat: str, recurrence_id: datetime | None, comment: str | None
) -> None:
    result = run(name)
    assert (result.kind, result.participant, result.token) == (kind, ALICE, "tok3nalice")
    rsvp = result.rsvp
    assert rsvp is not None
    assert rsvp.method == kind.upper().replace("RSVP", "REPLY")
    assert (rsvp.uid, rsvp.attendee_email, rsvp.partstat) == (UID, ALICE, partstat)
    assert rsvp.recurrence_id == recurrence_id
    if rsvp.recurrence_id is not None:
        assert rsvp.recurrence_id.tzinfo is UTC
    assert rsvp.comment == comment
    assert rsvp.sequence == 0
    assert result.story is None


@pytest.mark.parametrize("name", REAL)
def test_parse_only_mode_still_reads_the_reply(name: str) -> None:
    result = run(name, None)
    assert result.kind in ("rsvp", "counter")
    assert result.participant is None
    assert result.reason == "parsed without a config: sender not authenticated"
    assert result.rsvp is not None and result.rsvp.uid == UID


@pytest.mark.parametrize("name", FIXTURES)
def test_inline_and_attached_copies_count_once(name: str) -> None:
    raw = (RSVP / name).read_bytes()
    leaves = [p for p in email.message_from_bytes(raw).walk() if p.get_content_type() in CALENDAR_TYPES]
    parsed = parse_message(raw)
    assert len(parsed.calendar_parts) == 1
    assert not [a for a in parsed.attachments if a.content_type in CALENDAR_TYPES]
    if name in ("google_calendar_accept.eml", "google_calendar_decline_occurrence_comment.eml"):
        assert len(leaves) == 2  # text/calendar inline, application/ics invite.ics attached
    if name == "thunderbird_accept.eml":
        assert len(leaves) == 2


@pytest.mark.parametrize(
    ("name", "declared"),
    [
        ("google_calendar_accept.eml", "REPLY"),
        ("outlook_accept_german.eml", "REPLY"),
        ("icloud_decline.eml", "REPLY"),  # method="reply", lower case
        ("evolution_tentative.eml", "REPLY"),  # the whole message is text/calendar
        ("apple_calendar_accept.eml", ""),  # METHOD only in the body
        ("reply_for_other_attendee.eml", ""),
        ("outlook_counter.eml", "COUNTER"),
    ],
)
def test_declared_method(name: str, declared: str) -> None:
    assert parse_message((RSVP / name).read_bytes()).calendar_methods == (declared,)


def test_outlook_reply_without_organizer_and_upper_case_attendee() -> None:
    raw = (RSVP / "outlook_accept_german.eml").read_bytes()
    calendar = parse_message(raw).calendar_parts[0]
    assert b"ORGANIZER" not in calendar and b"MAILTO:ALICE@EXAMPLE.COM" in calendar
    assert b"TZID=Eastern Standard Time" in calendar
    assert parse_message(raw).subject.startswith("Akzeptiert: ")


def test_counter_proposes_a_new_start() -> None:
    result = run("outlook_counter.eml")
    assert result.rsvp is not None
    assert result.rsvp.proposed_start == datetime(2026, 3, 24, 17, 0, tzinfo=UTC)
    out = to_json(result)
    assert json.loads(json.dumps(out)) == out
    assert out["kind"] == "counter"
    assert out["rsvp"]["proposed_start"] == "2026-03-24T17:00:00+00:00"
    assert out["rsvp"]["recurrence_id"] == "2026-03-24T16:00:00+00:00"
    for name in REAL:
        if name != "outlook_counter.eml":
            rsvp = run(name).rsvp
            assert rsvp is not None and rsvp.proposed_start is None


def test_spoofed_sender_is_unknown() -> None:
    result = run("spoofed_reply_wrong_sender.eml")
    assert (result.kind, result.participant) == ("unknown_sender", None)
    assert result.reason == "the sender mallory@evil.test does not match the reply token's participant"
    assert result.rsvp is not None and result.rsvp.attendee_email == ALICE


def test_reply_for_another_attendee_is_unknown() -> None:
    result = run("reply_for_other_attendee.eml")
    assert (result.kind, result.participant) == ("unknown_sender", None)
    assert result.reason == "the calendar reply is for bob@example.com, not for alice@example.com"
    assert result.rsvp is not None and result.rsvp.attendee_email == "bob@example.com"


def test_stale_sequence_is_reported_not_dropped() -> None:
    # Classification reports the SEQUENCE; ingest ignores a reply older than our copy.
    result = run("stale_sequence_reply.eml")
    assert (result.kind, result.participant) == ("rsvp", ALICE)
    assert result.rsvp is not None
    assert result.rsvp.sequence == 0 < CURRENT_SEQUENCE


def test_calendar_server_relay_is_authenticated_by_reply_to() -> None:
    raw = (RSVP / "nextcloud_accept_via_relay.eml").read_bytes()
    result = classify(raw, CTX)[1]
    assert (result.kind, result.participant) == ("rsvp", ALICE)
    assert "Reply-To" in result.reason
    # Nextcloud uses the instance's mail_from_address, often a noreply@ one.
    relay = b"Nextcloud <invitations-noreply@cloud.example.com>"
    noreply = raw.replace(relay, b"Nextcloud <noreply@cloud.example.com>")
    assert noreply != raw
    assert classify(noreply, CTX)[1].kind == "rsvp"
    # The token's participant must be the one in Reply-To.
    other = raw.replace(b"Reply-To: Alice Example <alice@example.com>", b"Reply-To: <bob@example.com>")
    assert other != raw
    result = classify(other, CTX)[1]
    assert (result.kind, result.participant) == ("unknown_sender", None)


def test_reply_to_does_not_authenticate_a_story() -> None:
    raw = (
        b"From: Mallory <mallory@evil.test>\r\nReply-To: alice@example.com\r\n"
        b"To: circle+tok3nalice@cohort.test\r\nSubject: Re: check-in\r\n\r\nMy story.\r\n"
    )
    result = classify(raw, CTX)[1]
    assert (result.kind, result.participant) == ("unknown_sender", None)


def test_rsvp_from_a_robot_looking_sender_is_not_an_auto_reply() -> None:
    raw = (
        (RSVP / "google_calendar_accept.eml")
        .read_bytes()
        .replace(b"Reply-To: Alice Example <alice@example.com>\r\n", b"Auto-Submitted: auto-generated\r\n")
    )
    assert b"Auto-Submitted" in raw
    result = classify(raw, CTX)[1]
    assert (result.kind, result.participant) == ("rsvp", ALICE)


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(FIXTURES),
    st.integers(min_value=0, max_value=2**32 - 1),
    st.lists(st.sampled_from(["flip", "delete", "duplicate", "truncate"]), max_size=5),
)
def test_mutated_replies_never_raise(name: str, seed: int, ops: list[str]) -> None:
    data = bytearray((RSVP / name).read_bytes())
    rng = random.Random(seed)
    for op in ops:
        at = rng.randrange(len(data) + 1)
        if op == "flip" and data:
            data[min(at, len(data) - 1)] = rng.randrange(256)
        elif op == "delete":
            del data[at : at + rng.randrange(1, 200)]
        elif op == "duplicate":
            data[at:at] = data[at : at + rng.randrange(1, 400)]
        elif op == "truncate":
            del data[at:]
    for ctx in (CTX, None):
        _, result = classify(bytes(data), ctx)
        assert isinstance(result, Classification)
        json.dumps(to_json(result))
