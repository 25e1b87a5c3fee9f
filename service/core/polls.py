"""Pure: when a poll is open, and its tally.

A poll ([[polls]]) opens when the prompt of its check-in goes out. It closes at its
``closes`` date, or when the prompt of check-in ``closes`` goes out; by default when the
prompt of the next check-in that takes place goes out (so the circle decides before the
next round of stories), or, on the last check-in, when that call ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from service.config import Config, PollConfig
from service.core.schedule import checkins, series_checkins

__all__ = ["PollTimes", "Tally", "poll_times", "tally"]


@dataclass(frozen=True)
class PollTimes:
    opens: datetime  # UTC
    closes: datetime  # UTC

    def is_open(self, now: datetime) -> bool:
        return self.opens <= now < self.closes


def _prompt_time(config: Config, number: int) -> datetime | None:
    for c in checkins(config.checkins):
        if c.number == number:
            return c.start_utc - config.checkins.prompt_before
    for c in series_checkins(config.checkins):  # cancelled since: where it would have been
        if c.number == number:
            return c.start_utc - config.checkins.prompt_before
    return None


def poll_times(config: Config, poll: PollConfig) -> PollTimes | None:
    """When ``poll`` opens and closes; None when its check-in is not in the series."""
    series = checkins(config.checkins)
    own = next((c for c in series if c.number == poll.checkin), None)
    opens = _prompt_time(config, poll.checkin)
    if own is None or opens is None:
        return None
    closes: datetime | None = None
    if poll.closes_at is not None:
        closes = poll.closes_at.astimezone(UTC)
    elif poll.closes_checkin is not None:
        closes = _prompt_time(config, poll.closes_checkin)
    else:
        later = [c for c in series if c.start > own.start]
        if later:
            closes = later[0].start_utc - config.checkins.prompt_before
    if closes is None:
        closes = own.end.astimezone(UTC)
    return PollTimes(opens, max(closes, opens))


@dataclass(frozen=True)
class Tally:
    """Votes per option (1-based, in the poll's order) and how many voted."""

    counts: tuple[int, ...]
    voters: int

    @property
    def leaders(self) -> tuple[int, ...]:
        """The options (1-based) with the most votes; () when nobody voted."""
        top = max(self.counts, default=0)
        return tuple(i + 1 for i, n in enumerate(self.counts) if n == top) if top else ()


def tally(poll: PollConfig, votes: Mapping[int, int]) -> Tally:
    """``votes``: participant id -> option (1-based). Votes for an option the poll no
    longer has (the config changed) are left out."""
    counts = [0] * len(poll.options)
    for option in votes.values():
        if 1 <= option <= len(counts):
            counts[option - 1] += 1
    return Tally(tuple(counts), sum(counts))
