"""Pure: who is engaged. A participant's state as ``status`` names it, who has gone quiet,
whose address the mail server refused for good, and each check-in's reply rate and
attendance. Plain data in, plain data out; the caller passes ``now``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

__all__ = [
    "ATTENDANCE",
    "Away",
    "AwayEvent",
    "AwayKind",
    "CheckinNumbers",
    "Member",
    "PastCheckin",
    "State",
    "attendance_word",
    "away_at",
    "away_periods",
    "checkin_numbers",
    "gone_quiet",
    "participant_state",
    "paused_now",
    "refused_addresses",
    "refused_for_good",
    "refuses_address",
]

State = Literal["active", "paused", "stopped", "removed", "bouncing", "refused"]
AwayKind = Literal["pause", "stop", "resume"]
# (when, what, until): a participant's own "pause" (until a moment, or None: until they
# say "resume"), "stop", or "resume", as recorded when it took effect.
AwayEvent = tuple[datetime, AwayKind, datetime | None]

ATTENDANCE = ("accepted", "declined", "tentative", "no answer")
_PARTSTAT_WORDS = {"ACCEPTED": "accepted", "DECLINED": "declined", "TENTATIVE": "tentative"}


def paused_now(status: str, paused_until: datetime | None, now: datetime) -> bool:
    """A pause that has not ended (None: until they say "resume")."""
    return status == "paused" and (paused_until is None or paused_until > now)


def participant_state(status: str, bounce: str, paused_until: datetime | None, *,
                      refused: bool, now: datetime) -> State:
    """The one word ``status`` shows for a participant.

    Precedence, the first that applies wins: removed > stopped > refused > bouncing >
    paused > active. Removed and stopped are decisions already taken: nobody mails them,
    so whether their address works no longer matters. Refused and bouncing are mail that
    cannot reach someone who should get it, which the facilitator has to fix; refused
    comes first because the server said no for good before anything was delivered, while
    a bounce may be a soft one. A pause is the participant's own, temporary choice, and a
    paused participant whose address fails still needs it fixed before they come back.
    A pause whose end has passed is over (``service.core.rules`` mails them again).
    """
    if status == "removed":
        return "removed"
    if status == "stopped":
        return "stopped"
    if refused:
        return "refused"
    if bounce != "ok":
        return "bouncing"
    if paused_now(status, paused_until, now):
        return "paused"
    return "active"


# --- addresses refused for good ------------------------------------------------------

_PERMANENT = re.compile(r"^5\d\d\b")


def refused_for_good(error: str) -> bool:
    """A failed message's error is a 5xx reply (RFC 5321 section 4.2.1: permanent), not a
    try-again that ran out of retries."""
    return bool(_PERMANENT.match(error.strip()))


def refuses_address(error: str, rcpt: str) -> bool:
    """The 5xx was the server's answer to RCPT for this address (the sender writes those
    as ``550 <address>: ...``); a 5xx to MAIL or DATA says nothing about the address."""
    return refused_for_good(error) and f"<{rcpt.lower()}>" in error.lower()


def refused_addresses(failed: Iterable[tuple[int, str, str]],
                      last_delivered: Mapping[str, int]) -> list[str]:
    """The addresses refused for good, lower-cased, in the order first refused.

    ``failed``: (outbox row id, rcpt, error) of failed rows; ``last_delivered``: rcpt
    (lower-cased) -> the id of the newest row sent to it. A message queued after the
    refused one that went through means the address works again (it was fixed, or the
    server changed its mind), so it no longer counts."""
    out: dict[str, None] = {}
    for row_id, rcpt, error in failed:
        address = rcpt.lower()
        if refuses_address(error, address) and last_delivered.get(address, 0) < row_id:
            out[address] = None
    return list(out)


# --- away: skips, pauses, stops ------------------------------------------------------

@dataclass(frozen=True)
class Away:
    """A stretch of time a participant said they were away: [start, end), end None: open."""

    start: datetime
    end: datetime | None


def away_periods(events: Iterable[AwayEvent]) -> tuple[Away, ...]:
    """The stretches a participant was away, from their pause, stop and resume events.

    A pause lasts until its end or the next event (a resume, a new pause, a stop); a stop
    until the next event (a "resume" brings a stopped participant back)."""
    periods: list[Away] = []
    current: Away | None = None
    for at, kind, until in sorted(events, key=lambda e: e[0]):
        if current is not None:
            end = at if current.end is None or current.end > at else current.end
            periods.append(Away(current.start, end))
            current = None
        if kind == "pause":
            current = Away(at, until)
        elif kind == "stop":
            current = Away(at, None)
    if current is not None:
        periods.append(current)
    return tuple(p for p in periods if p.end is None or p.end > p.start)


def away_at(periods: Iterable[Away], when: datetime) -> bool:
    return any(p.start <= when and (p.end is None or when < p.end) for p in periods)


# --- gone quiet and the check-ins' numbers -------------------------------------------

@dataclass(frozen=True)
class PastCheckin:
    """A check-in as the engagement rules see it: its number and (actual) start."""

    number: int
    start: datetime


@dataclass(frozen=True)
class Member:
    """One participant as the engagement rules see them."""

    state: State
    joined_at: datetime
    removed_at: datetime | None
    answered: frozenset[int]  # check-in numbers with a story
    skipped: frozenset[int]  # check-in numbers they said "skip" for
    away: tuple[Away, ...] = ()
    attendance: Mapping[int, str] | None = None  # check-in number -> an ATTENDANCE word
    # Paused now, whatever ``state`` shows (a paused participant's mail may also fail).
    paused: bool = False

    def present_at(self, when: datetime) -> bool:
        """In the cohort at that moment (joined before it, not removed by then)."""
        return self.joined_at <= when and (self.removed_at is None or self.removed_at > when)

    def said_away(self, checkin: PastCheckin) -> bool:
        """They said they would not be there: a skip for it, or paused (or stopped) then."""
        return checkin.number in self.skipped or away_at(self.away, checkin.start)


def gone_quiet(member: Member, past: Sequence[PastCheckin]) -> bool:
    """No story for the last two check-ins that took place (``past``, oldest first).

    Never quiet: the removed and the stopped (they left), the paused (they said they are
    away), anyone who said they were away for one of those check-ins (a skip, or a pause
    then), and anyone who was not in the cohort yet at either of them."""
    if member.state in ("removed", "stopped", "paused") or member.paused:
        return False
    considered = [c for c in past[-2:] if member.present_at(c.start)]
    if not considered or any(member.said_away(c) for c in considered):
        return False
    return not any(c.number in member.answered for c in considered)


def attendance_word(rsvps: Mapping[str, str], occurrence: str) -> str:
    """A participant's calendar answer for one occurrence (its own answer, else the
    series'), as one of ATTENDANCE. ``rsvps``: recurrence key ("" the series) -> PARTSTAT."""
    partstat = rsvps.get(occurrence, rsvps.get("", ""))
    return _PARTSTAT_WORDS.get(partstat.upper(), "no answer")


@dataclass(frozen=True)
class CheckinNumbers:
    """One check-in in numbers.

    ``invited``: the participants in the cohort then who had not said they would be
    away (or who answered anyway); ``answered``: those of them with a story for it;
    ``away``: those who said skip or were paused or stopped then. ``attendance``
    counts the calendar answers of everyone in the cohort then."""

    number: int
    start: datetime
    took_place: bool
    invited: int
    answered: int
    away: int
    attendance: Mapping[str, int]

    @property
    def reply_rate(self) -> float | None:
        """answered / invited (None when nobody was invited)."""
        return self.answered / self.invited if self.invited else None


def checkin_numbers(members: Collection[Member], checkin: PastCheckin, now: datetime) -> CheckinNumbers:
    there = [m for m in members if m.present_at(checkin.start)]
    answered = [m for m in there if checkin.number in m.answered]
    away = [m for m in there if m.said_away(checkin) and checkin.number not in m.answered]
    counts = dict.fromkeys(ATTENDANCE, 0)
    for m in there:
        word = (m.attendance or {}).get(checkin.number, "no answer")
        counts[word if word in counts else "no answer"] += 1
    return CheckinNumbers(number=checkin.number, start=checkin.start,
                          took_place=checkin.start <= now, invited=len(there) - len(away),
                          answered=len(answered), away=len(away), attendance=counts)
