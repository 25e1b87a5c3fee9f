"""The calendar's words come from templates/_calendar.j2, never from Python: how often the
check-ins come and what an updated invitation changes (subject, text and HTML part), and
the event's SUMMARY and DESCRIPTION as calendar clients show them."""

from __future__ import annotations

import dataclasses
import re
import shutil
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import get_args
from zoneinfo import ZoneInfo

import icalendar
import pytest

from service import compose
from service.compose import (
    ChangeKey,
    CheckinView,
    Envelope,
    Recipient,
    Sender,
    calendar_event_text,
    compose_invite,
    default_question,
)
from service.config import Config, PromptConfig
from service.core.clock import ManualClock
from service.core.series import changes, desired_shape
from service.flows.cohort import Cohort
from service.flows.invitations import base_spec, cancel_message, every_days, request_message
from service.store.models import Participant

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 10, 1, 12, tzinfo=UTC)
ALICE = Recipient("Alice Example", "alice@example.com", "America/New_York", "circle+t@example.org")
STARTS = [datetime(2026, 10, 20, 12, tzinfo=NY) + timedelta(weeks=n) for n in range(3)]
CHECKINS = tuple(CheckinView(n + 1, s, s + timedelta(minutes=45), "https://meet.example.org/x")
                 for n, s in enumerate(STARTS))
REQUEST_ICS = b"BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n"
CANCEL_ICS = b"BEGIN:VCALENDAR\r\nMETHOD:CANCEL\r\nEND:VCALENDAR\r\n"

# How a participant reads each change key (templates/_calendar.j2).
WORDS: dict[str, str] = {
    "first": "the start",
    "rrule": "the dates",
    "duration": "the length",
    "location": "the place or link",
    "title": "the title",
    "timezone": "the time zone",
    "back-on": "the series is back on",
    "reinstated": "a cancelled check-in is back on",
    "moved": "a check-in moved",
}
REPLACES = "This invitation replaces the one you had: "
HOSTILE_NAME = "Evil <script>alert(1)</script> {{ 7*7 }}\r\nBEGIN:VEVENT\r\nX-EVIL:1"
HOSTILE_LOCATION = "Room <script>alert(2)</script>\r\nATTENDEE:mailto:evil@example.net\x00\x0b"
HOSTILE_URL = "https://meet.example.org/x\r\nATTENDEE:mailto:evil@example.net"  # also written as URL
HOSTILE_QUESTION = "What?\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nSUMMARY:owned\x1b <script>alert(3)</script>"


def _invite(**kwargs: object) -> EmailMessage:
    args: dict[str, object] = {
        "sender": Sender("circle@example.org", "Circle"),
        "recipient": ALICE,
        "cohort_name": "Circle",
        "facilitator_name": "Helen",
        "checkins": CHECKINS,
        "every_days": 7,
        "ics": REQUEST_ICS,
        "method": "REQUEST",
        "envelope": Envelope(message_id="invite.1@example.org"),
        "now": NOW,
    }
    args.update(kwargs)
    return compose_invite(**args)  # type: ignore[arg-type]


def _part(msg: EmailMessage, subtype: str) -> str:
    part = msg.get_body(preferencelist=(subtype,))
    assert isinstance(part, EmailMessage)
    return str(part.get_content())


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parsed(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser


def _cohort(config: Config, **checkins: object) -> Cohort:
    if checkins:
        config = dataclasses.replace(config, checkins=dataclasses.replace(config.checkins, **checkins))  # type: ignore[arg-type]
    return Cohort(config=config, secret=b"s" * 32, clock=ManualClock(NOW))


def _alice() -> Participant:
    return Participant(id=1, name="Alice Example", email="alice@example.com",
                       timezone="America/New_York", joined_at=datetime(2026, 9, 1, tzinfo=UTC))


def _calendar(msg: EmailMessage) -> icalendar.Calendar:
    part = next(p for p in msg.walk() if p.get_content_type() == "text/calendar")
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return icalendar.Calendar.from_ical(payload)


def _raw_ics(msg: EmailMessage) -> bytes:
    part = next(p for p in msg.walk() if p.get_content_type() == "text/calendar")
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload


# --- what changed ---------------------------------------------------------------------


def test_every_change_key_has_words() -> None:
    assert set(WORDS) == set(get_args(ChangeKey))


@pytest.mark.parametrize("key", list(WORDS))
def test_each_change_is_worded_in_the_subject_and_both_parts(key: ChangeKey) -> None:
    msg = _invite(changes=(key,))
    assert str(msg["Subject"]) == "Updated invitation: Circle check-ins from Tue 20 Oct"
    assert f"{REPLACES}{WORDS[key]}. Your calendar updates" in _part(msg, "plain")
    assert f"<strong>{REPLACES}{WORDS[key]}.</strong>" in _part(msg, "html")


@pytest.mark.parametrize(("keys", "words"), [
    (("first", "duration"), "the start and the length"),
    (("first", "duration", "location"), "the start, the length and the place or link"),
    (("rrule", "title", "timezone", "moved"), "the dates, the title, the time zone and a check-in moved"),
    (("moved", "moved"), "a check-in moved"),  # each named once
])
def test_changes_are_joined_as_a_sentence_says_them(keys: tuple[ChangeKey, ...], words: str) -> None:
    msg = _invite(changes=keys)
    assert f"{REPLACES}{words}." in _part(msg, "plain")
    assert f"{REPLACES}{words}." in _part(msg, "html")


def test_a_first_invitation_names_no_change() -> None:
    msg = _invite()
    assert str(msg["Subject"]) == "Invitation: Circle check-ins from Tue 20 Oct"
    for body in (_part(msg, "plain"), _part(msg, "html")):
        assert "replaces" not in body


def test_an_unknown_change_key_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown change key"):
        _invite(changes=("the start",))


def test_changes_from_the_series_reach_the_email_as_words(config: Config) -> None:
    old = desired_shape(config)
    new = desired_shape(dataclasses.replace(config, checkins=dataclasses.replace(
        config.checkins, first=config.checkins.first + timedelta(hours=1),
        duration=timedelta(hours=1))))
    todo = changes(old, new)
    assert todo.what == ("first", "duration")
    assert f"{REPLACES}the start and the length." in _part(_invite(changes=todo.what), "plain")


# --- how often ------------------------------------------------------------------------


@pytest.mark.parametrize(("days", "words"), [
    (1, "every day"),
    (3, "every 3 days"),
    (7, "every week"),
    (10, "every 10 days"),
    (14, "every other week"),
    (21, "every 3 weeks"),
    (28, "every 4 weeks"),
    (None, "on the dates below"),
])
def test_each_interval_is_worded_in_both_parts(days: int | None, words: str) -> None:
    msg = _invite(every_days=days)
    assert f"Here are the check-in calls for Circle: {words}, 3 in all." in _flat(_part(msg, "plain"))
    assert f">{words}, 3 in all</p>" in _part(msg, "html")


@pytest.mark.parametrize(("every", "days"), [("1d", 1), ("3d", 3), ("1w", 7), ("2w", 14), ("3w", 21),
                                             (None, None)])
def test_every_days_is_the_configs_interval(config: Config, every: str | None, days: int | None) -> None:
    assert every_days(_cohort(config, every=every)) == days


async def test_the_invitation_words_the_configs_interval(config: Config) -> None:
    message = await request_message(_cohort(config), _alice(), 0, ("duration",), NOW)
    assert message is not None
    text = _flat(_part(message, "plain"))
    assert "Here are the check-in calls for Circle: every week, 4 in all." in text
    assert f"{REPLACES}the length." in text
    assert str(message["Subject"]).startswith("Updated invitation: Circle")
    rrule = await request_message(_cohort(config, every=None), _alice(), 0, (), NOW)
    assert rrule is not None
    assert "Circle: on the dates below, 4 in all." in _flat(_part(rrule, "plain"))


def test_a_cancellation_renders_without_changes() -> None:
    msg = _invite(method="CANCEL", ics=CANCEL_ICS, checkins=CHECKINS[:1], every_days=None)
    assert str(msg["Subject"]) == "Cancelled: Circle check-in 1 on Tue 20 Oct"
    assert "replaces" not in _part(msg, "plain")


# --- the calendar event ---------------------------------------------------------------


def test_calendar_event_text() -> None:
    summary, description = calendar_event_text("Circle", "", "https://meet.example.org/x", "What now?")
    assert summary == "Circle: check-in"
    assert description == (
        "Our regular check-in call. Before each one you get an email asking: What now?\n\n"
        "Join: https://meet.example.org/x\n\n"
        "Reply to the check-in emails to share what you tried."
    )
    assert calendar_event_text("Circle", "Monthly catch-up", "x", "q")[0] == "Monthly catch-up"
    # No place: no "Join:" line, and never more than one blank line.
    assert calendar_event_text("Circle", "", " ", "q")[1] == (
        "Our regular check-in call. Before each one you get an email asking: q\n\n"
        "Reply to the check-in emails to share what you tried."
    )


async def test_the_ics_summary_and_description_come_from_the_templates(config: Config) -> None:
    cohort = _cohort(config)
    message = await request_message(cohort, _alice(), 0, (), NOW)
    assert message is not None
    event = next(iter(_calendar(message).walk("VEVENT")))
    question = (config.prompt_for(2) or default_question(2))
    assert str(event["SUMMARY"]) == "Circle: check-in"
    assert str(event["DESCRIPTION"]) == (
        f"Our regular check-in call. Before each one you get an email asking: {question}\n\n"
        "Join: https://meet.example.org/x\n\nReply to the check-in emails to share what you tried."
    )
    assert (str(event["SUMMARY"]), str(event["DESCRIPTION"])) == calendar_event_text(
        "Circle", "", config.checkins.location, question)
    # A cancellation describes the same event.
    cancel = next(iter(_calendar(cancel_message(cohort, _alice(), 1, NOW)).walk("VEVENT")))
    assert (str(cancel["SUMMARY"]), str(cancel["DESCRIPTION"])) == (
        str(event["SUMMARY"]), str(event["DESCRIPTION"]))


async def test_the_configs_title_is_the_summary_as_it_is(config: Config) -> None:
    message = await request_message(_cohort(config, title="Monthly catch-up: bring a story"),
                                    _alice(), 0, (), NOW)
    assert message is not None
    event = next(iter(_calendar(message).walk("VEVENT")))
    assert str(event["SUMMARY"]) == "Monthly catch-up: bring a story"
    assert str(event["DESCRIPTION"]).startswith("Our regular check-in call.")


async def test_templates_decide_every_word(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deployment's own templates/ words the calendar: nothing is left in Python."""
    for source in compose.templates_dir().glob("*.j2"):
        shutil.copy(source, tmp_path / source.name)
    words = (tmp_path / "_calendar.j2").read_text(encoding="utf-8")
    for english, other in [("every week", "chaque semaine"), ('"the length"', '"la durée"'),
                           ("Our regular check-in call.", "Notre appel régulier."),
                           (": check-in", " : point d'étape")]:
        assert english in words
        words = words.replace(english, other)
    (tmp_path / "_calendar.j2").write_text(words, encoding="utf-8")
    monkeypatch.setenv("CIRCLEBACK_TEMPLATES", str(tmp_path))
    cohort = _cohort(config)
    spec = base_spec(cohort, 0)
    assert spec.summary == "Circle : point d'étape"
    assert spec.description.startswith("Notre appel régulier. Before each one")
    message = await request_message(cohort, _alice(), 0, ("duration",), NOW)
    assert message is not None
    for body in (_flat(_part(message, "plain")), _part(message, "html")):
        assert "chaque semaine, 4 in all" in body and f"{REPLACES}la durée." in body
    assert str(next(iter(_calendar(message).walk("VEVENT")))["SUMMARY"]) == "Circle : point d'étape"


# --- hostile input ----------------------------------------------------------------------


def _hostile(config: Config, location: str = HOSTILE_LOCATION) -> Cohort:
    config = dataclasses.replace(
        config,
        cohort=dataclasses.replace(config.cohort, name=HOSTILE_NAME),
        checkins=dataclasses.replace(config.checkins, location=location),
        prompts=(PromptConfig(2, HOSTILE_QUESTION),),
    )
    return Cohort(config=config, secret=b"s" * 32, clock=ManualClock(NOW))


def test_hostile_event_text_is_plain_lines() -> None:
    summary, description = calendar_event_text(HOSTILE_NAME, "", HOSTILE_LOCATION, HOSTILE_QUESTION)
    assert summary == "Evil <script>alert(1)</script> {{ 7*7 }} BEGIN:VEVENT X-EVIL:1: check-in"
    assert not re.search(r"[\x00-\x1f\x7f-\x9f]", summary)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", description)  # LF only
    assert "Join: Room <script>alert(2)</script> ATTENDEE:mailto:evil@example.net\n" in description
    question = "What?\nEND:VEVENT\nBEGIN:VEVENT\nSUMMARY:owned  <script>alert(3)</script>"
    assert f"asking: {question}\n" in description
    assert calendar_event_text("Circle", "Title\r\nX-EVIL:1", "", "q")[0] == "Title X-EVIL:1"


@pytest.mark.parametrize("location", [HOSTILE_LOCATION, HOSTILE_URL], ids=["place", "url"])
@pytest.mark.parametrize("method", ["REQUEST", "CANCEL"])
async def test_hostile_input_cannot_break_the_ics(config: Config, method: str, location: str) -> None:
    cohort = _hostile(config, location)
    if method == "REQUEST":
        message = await request_message(cohort, _alice(), 0, ("location",), NOW)
        assert message is not None
    else:
        message = cancel_message(cohort, _alice(), 1, NOW)
    raw = _raw_ics(message)
    assert b"\x00" not in raw and b"\x0b" not in raw and b"\x1b" not in raw
    unfolded = re.sub(rb"\r\n[ \t]", b"", raw)
    lines = unfolded.split(b"\r\n")
    # One event, its properties our own: nothing the data said became a line of its own.
    assert lines.count(b"BEGIN:VEVENT") == 1 and lines.count(b"END:VEVENT") == 1
    assert not [line for line in lines if line.startswith((b"X-EVIL", b"SUMMARY:owned"))]
    assert len([line for line in lines if line.startswith(b"ATTENDEE")]) == 1
    assert len([line for line in lines if line.startswith(b"SUMMARY")]) == 1
    event = next(iter(_calendar(message).walk("VEVENT")))
    summary, description = calendar_event_text(HOSTILE_NAME, "", location, HOSTILE_QUESTION)
    assert (str(event["SUMMARY"]), str(event["DESCRIPTION"])) == (summary, description)
    assert "\n" not in str(event["LOCATION"]) and "ATTENDEE:mailto:evil" in str(event["LOCATION"])
    assert "mailto:evil@example.net" not in str(event["ATTENDEE"])


async def test_hostile_input_stays_inert_in_html(config: Config) -> None:
    message = await request_message(_hostile(config), _alice(), 0, ("location", "title"), NOW)
    assert message is not None
    html = _part(message, "html")
    parsed = _parsed(html)
    assert [tag for tag, _ in parsed.tags if tag in ("script", "img", "iframe")] == []
    assert not [name for _, attrs in parsed.tags for name in attrs if name.lower().startswith("on")]
    assert not [a.get("href") for tag, a in parsed.tags if tag == "a" and "script" in (a.get("href") or "")]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html
    assert "49" not in "".join(parsed.text)
    assert f"{REPLACES}the place or link and the title." in html
    text = _part(message, "plain")
    assert "<script>alert(2)</script>" in text and "49" not in text  # shown as written
    assert "\n" not in str(message["Subject"]) and "\r" not in str(message["Subject"])
