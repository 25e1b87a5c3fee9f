"""A New York series across the DST change, as a participant in London reads it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from service.compose import CheckinView, Envelope, Recipient, Sender, compose_invite

NY = ZoneInfo("America/New_York")


def views() -> list[CheckinView]:
    # Tuesdays at 12:00 New York time; the UK leaves summer time on 25 October 2026, the US
    # on 1 November, so for a week the two are four hours apart instead of five.
    starts = [datetime(2026, 10, 20, 12, tzinfo=NY) + timedelta(weeks=n) for n in range(3)]
    return [CheckinView(n + 1, s, s + timedelta(minutes=45), "https://meet.example.org/x")
            for n, s in enumerate(starts)]


def invite_text(zone: str) -> str:
    message = compose_invite(
        sender=Sender("circle@example.org", "Circle"),
        recipient=Recipient("Alice Example", "alice@example.com", zone, "circle+t@example.org"),
        cohort_name="Circle", facilitator_name="Helen", checkins=views(), every_days=7,
        ics=b"BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n", method="REQUEST",
        envelope=Envelope(message_id="x@example.org"), now=datetime(2026, 10, 1, tzinfo=UTC))
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())  # type: ignore[attr-defined]


def test_london_participant_sees_london_times() -> None:
    lines = [line.strip() for line in invite_text("Europe/London").splitlines()
             if re.match(r"\s*\d\.", line)]
    assert [re.search(r"\d\d:\d\d–\d\d:\d\d \w+", line).group(0) for line in lines] == [  # type: ignore[union-attr]
        "17:00–17:45 BST", "16:00–16:45 GMT", "17:00–17:45 GMT"]
    assert all("(Europe/London)" in line for line in lines)


def test_new_york_participant_keeps_noon() -> None:
    text = invite_text("America/New_York")
    assert text.count("12:00–12:45 EDT") == 2 and text.count("12:00–12:45 EST") == 1
