"""The rules behind `circleback status` and the facilitator's digest: a participant's
state and its precedence, who has gone quiet (skips and pauses excuse), whose address is
refused for good, and each check-in's reply rate and attendance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from service.core.engagement import (
    Away,
    AwayEvent,
    Member,
    PastCheckin,
    State,
    attendance_word,
    away_at,
    away_periods,
    checkin_numbers,
    gone_quiet,
    participant_state,
    refused_addresses,
    refused_for_good,
    refuses_address,
)

NOW = datetime(2026, 12, 20, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
START = datetime(2026, 11, 1, tzinfo=UTC)  # everyone joined then
# Three weekly check-ins that took place, the last two days ago, and one still to come.
PAST = [PastCheckin(n, NOW - timedelta(days=2 + 7 * (3 - n))) for n in (1, 2, 3)]
NEXT = PastCheckin(4, NOW + 5 * DAY)


def member(state: State = "active", answered: tuple[int, ...] = (), skipped: tuple[int, ...] = (),
           away: tuple[Away, ...] = (), joined: datetime = START, removed: datetime | None = None,
           attendance: dict[int, str] | None = None) -> Member:
    return Member(state=state, joined_at=joined, removed_at=removed, answered=frozenset(answered),
                  skipped=frozenset(skipped), away=away, attendance=attendance)


# --- the state and its precedence -------------------------------------------------------

@pytest.mark.parametrize(("status", "bounce", "until", "refused", "expected"), [
    ("active", "ok", None, False, "active"),
    ("paused", "ok", None, False, "paused"),  # until they say "resume"
    ("paused", "ok", NOW + DAY, False, "paused"),
    ("paused", "ok", NOW - DAY, False, "active"),  # the pause is over: mailed again
    ("active", "soft", None, False, "bouncing"),
    ("active", "hard", None, False, "bouncing"),
    ("paused", "hard", NOW + DAY, False, "bouncing"),  # bouncing > paused
    ("paused", "ok", NOW + DAY, True, "refused"),  # refused > paused
    ("active", "hard", None, True, "refused"),  # refused > bouncing
    ("stopped", "hard", None, True, "stopped"),  # stopped > refused
    ("removed", "hard", None, True, "removed"),  # removed > everything
    ("removed", "ok", None, False, "removed"),
])
def test_state_precedence(status: str, bounce: str, until: datetime | None, refused: bool,
                          expected: str) -> None:
    assert participant_state(status, bounce, until, refused=refused, now=NOW) == expected


# --- refused for good ---------------------------------------------------------------------

def test_a_5xx_to_rcpt_refuses_that_address_only() -> None:
    rcpt_error = "550 <Carol@Example.test>: 5.1.1 <carol@example.test>: no such user here"
    assert refused_for_good(rcpt_error) and refuses_address(rcpt_error, "carol@example.test")
    assert not refuses_address(rcpt_error, "dave@example.test")
    data_error = "554 DATA: 5.7.1 message content rejected"
    assert refused_for_good(data_error) and not refuses_address(data_error, "carol@example.test")
    retried = "451 <carol@example.test>: 4.3.0 try again later"
    assert not refused_for_good(retried) and not refuses_address(retried, "carol@example.test")
    assert not refused_for_good("RCPT to 127.0.0.1:25: connection reset")


def test_a_later_delivery_clears_a_refusal() -> None:
    failed = [(3, "carol@example.test", "550 <carol@example.test>: no such user"),
              (4, "Dave@Example.test", "550 <dave@example.test>: no such user"),
              (5, "erin@example.test", "451 <erin@example.test>: busy"),
              (6, "dave@example.test", "550 <dave@example.test>: no such user")]
    # Carol's address was fixed on the server's side: a message queued later went through.
    assert refused_addresses(failed, {"carol@example.test": 9}) == ["dave@example.test"]
    # An earlier success says nothing about now.
    assert refused_addresses(failed, {"carol@example.test": 2}) == ["carol@example.test",
                                                                    "dave@example.test"]


# --- away: pauses, stops, resumes -----------------------------------------------------------

def test_away_periods() -> None:
    t = PAST[0].start
    # A pause for a week, ending by itself.
    assert away_periods([(t, "pause", t + 7 * DAY)]) == (Away(t, t + 7 * DAY),)
    # A pause until "resume", then resume; a stop, then resume; a stop left open.
    events: list[AwayEvent] = [
        (t + 20 * DAY, "stop", None), (t, "pause", None), (t + 3 * DAY, "resume", None),
        (t + 10 * DAY, "stop", None), (t + 12 * DAY, "resume", None)]
    assert away_periods(events) == (Away(t, t + 3 * DAY), Away(t + 10 * DAY, t + 12 * DAY),
                                    Away(t + 20 * DAY, None))
    # A resume before the pause's end cuts it short; a stop during a pause takes over.
    assert away_periods([(t, "pause", t + 14 * DAY), (t + DAY, "resume", None)]) == (Away(t, t + DAY),)
    assert away_periods([(t, "pause", t + 2 * DAY), (t + DAY, "stop", None)]) == (
        Away(t, t + DAY), Away(t + DAY, None))
    # A resume when nothing was paused changes nothing.
    assert away_periods([(t, "resume", None)]) == ()
    periods = away_periods([(t, "pause", t + 7 * DAY)])
    assert away_at(periods, t) and away_at(periods, t + 6 * DAY)
    assert not away_at(periods, t + 7 * DAY) and not away_at(periods, t - DAY)


# --- gone quiet -----------------------------------------------------------------------------

def test_no_story_for_the_last_two_check_ins_is_quiet() -> None:
    assert gone_quiet(member(answered=(1,)), PAST)  # check-in 1 is too long ago to count
    assert not gone_quiet(member(answered=(2,)), PAST)
    assert not gone_quiet(member(answered=(3,)), PAST)
    assert gone_quiet(member(), PAST[:1])  # the first check-in alone
    assert not gone_quiet(member(), [])  # nothing took place yet


def test_those_who_said_they_are_away_are_not_quiet() -> None:
    assert not gone_quiet(member(skipped=(3,)), PAST)
    assert not gone_quiet(member(skipped=(2,)), PAST)
    assert gone_quiet(member(skipped=(1,)), PAST)  # a skip long ago excuses nothing now
    # Paused during check-in 2 (and back since): away then.
    paused = (Away(PAST[1].start - DAY, PAST[1].start + DAY),)
    assert not gone_quiet(member(away=paused), PAST)
    # Paused before check-in 1 only: not away for the two that count.
    earlier = (Away(PAST[0].start - DAY, PAST[0].start + DAY),)
    assert gone_quiet(member(away=earlier), PAST)


@pytest.mark.parametrize("state", ["paused", "stopped", "removed"])
def test_the_paused_stopped_and_removed_are_never_quiet(state: State) -> None:
    assert not gone_quiet(member(state=state), PAST)


@pytest.mark.parametrize("state", ["bouncing", "refused"])
def test_those_mail_cannot_reach_may_still_be_quiet(state: State) -> None:
    assert gone_quiet(member(state=state), PAST)
    # ... unless they are paused too (their state says "bouncing": it comes first).
    assert not gone_quiet(Member(state=state, joined_at=START, removed_at=None,
                                 answered=frozenset(), skipped=frozenset(), paused=True), PAST)


def test_a_late_joiner_is_judged_on_the_check_ins_since_they_joined() -> None:
    assert not gone_quiet(member(joined=NOW - DAY), PAST)  # joined after all of them
    joined_before_3 = member(joined=PAST[2].start - DAY)
    assert gone_quiet(joined_before_3, PAST)  # missed the only one they were there for
    assert not gone_quiet(member(joined=PAST[2].start - DAY, answered=(3,)), PAST)


# --- per check-in ---------------------------------------------------------------------------

def test_reply_rate_counts_those_invited_then() -> None:
    members = [
        member(answered=(2,), attendance={2: "accepted"}),
        member(skipped=(2,), attendance={2: "declined"}),  # said skip: not expected
        member(away=(Away(PAST[1].start - DAY, None),)),  # paused then: not expected
        member(attendance={2: "tentative"}),  # expected, no story
        member(joined=PAST[1].start + DAY),  # not in the cohort yet
        member(removed=PAST[1].start - DAY, answered=(2,)),  # gone by then
        member(skipped=(2,), answered=(2,)),  # skipped, then answered anyway: counted
    ]
    c2 = checkin_numbers(members, PAST[1], NOW)
    assert (c2.took_place, c2.invited, c2.answered, c2.away) == (True, 3, 2, 2)
    assert c2.reply_rate == pytest.approx(2 / 3)
    assert dict(c2.attendance) == {"accepted": 1, "declined": 1, "tentative": 1, "no answer": 2}
    upcoming = checkin_numbers(members, NEXT, NOW)
    assert not upcoming.took_place and upcoming.answered == 0
    assert sum(upcoming.attendance.values()) == 6  # everyone but the removed one
    assert checkin_numbers([], NEXT, NOW).reply_rate is None


def test_attendance_word_prefers_the_occurrences_own_answer() -> None:
    rsvps = {"": "ACCEPTED", "20261208T120000Z": "DECLINED"}
    assert attendance_word(rsvps, "20261208T120000Z") == "declined"
    assert attendance_word(rsvps, "20261215T120000Z") == "accepted"
    assert attendance_word({"": "NEEDS-ACTION"}, "x") == "no answer"
    assert attendance_word({}, "x") == "no answer"
    assert attendance_word({"": "tentative"}, "x") == "tentative"
