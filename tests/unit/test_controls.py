"""Tests for service/inbound/controls.py."""

from __future__ import annotations

from datetime import date

import pytest

from service.inbound.controls import Control, parse_control

TODAY = date(2026, 11, 20)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("skip", Control("skip", None, None)),
        ("Skip.\n\nBusy week, sorry!", Control("skip", None, None)),
        ("\n\n  SKIP!  ", Control("skip", None, None)),
        ("**skip**", Control("skip", None, None)),
        ("pause", Control("pause", None, None)),
        ("pause 2w", Control("pause", date(2026, 12, 4), 14)),
        ("Pause 10d", Control("pause", date(2026, 11, 30), 10)),
        ("pause for 3 weeks", Control("pause", date(2026, 12, 11), 21)),
        ("pause until 12 Jan", Control("pause", date(2027, 1, 12), 53)),
        ("away until 12 January.", Control("pause", date(2027, 1, 12), 53)),
        ("Away until Dec 1st", Control("pause", date(2026, 12, 1), 11)),
        ("pause until 2027-02-03", Control("pause", date(2027, 2, 3), 75)),
        ("pause until 25 Nov 2026", Control("pause", date(2026, 11, 25), 5)),
        ("away 1w", Control("pause", date(2026, 11, 27), 7)),
        ("resume", Control("resume", None, None)),
        ("Private", Control("private", None, None)),
        ("stop", Control("stop", None, None)),
        ("Unsubscribe", Control("stop", None, None)),
        ("Another round!", Control("another-round", None, None)),
        ("wrap up", Control("wrap-up", None, None)),
        ("Wrap-up.", Control("wrap-up", None, None)),
    ],
)
def test_control_words(text: str, expected: Control) -> None:
    assert parse_control(text, TODAY) == expected


def test_date_that_passed_this_year_is_next_year() -> None:
    assert parse_control("pause until 20 Nov", TODAY) == Control("pause", date(2027, 11, 20), 365)


@pytest.mark.parametrize(
    "text",
    [
        "Skip the intro, here is my story...",
        "I want to pause for a while, but first: my update",
        "pause until someday",
        "pause until 31 Feb",
        "pause 0d",
        "pause 2 fortnights",
        "away",
        "stop it, this is great",
        "",
        "Hi Helen,\nskip",
    ],
)
def test_not_controls(text: str) -> None:
    assert parse_control(text, TODAY) is None
