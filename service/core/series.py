"""Pure: what each participant's calendar should hold, and which iTIP messages bring a
calendar from what it was last told to that.

A participant's calendar is described by a ``Shape``: the series' core (start, rule,
length, place, title, zone), the cancelled occurrences and the moved ones. The daemon
stores the shape it last sent to each participant; ``changes`` compares it with the
shape the config asks for now and says what to send, so that a restart or a reload
sends each change exactly once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from service.config import Config
from service.core.schedule import series_checkins

_CORE_WORDS = {
    "first": "the start", "rrule": "the dates", "duration": "the length",
    "location": "the place or link", "title": "the title", "timezone": "the time zone",
}


def utc_key(dt: datetime) -> str:
    """How an occurrence is named everywhere: its original start as a UTC instant."""
    return dt.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


@dataclass(frozen=True)
class Shape:
    core: dict[str, str]
    cancelled: tuple[str, ...] = ()  # utc keys of cancelled occurrences
    moved: tuple[tuple[str, str], ...] = ()  # (utc key, new start ISO) pairs
    series_cancelled: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Shape:
        return cls(core=dict(data["core"]), cancelled=tuple(data.get("cancelled", ())),
                   moved=tuple(tuple(x) for x in data.get("moved", ())),
                   series_cancelled=bool(data.get("series_cancelled", False)))


def desired_shape(config: Config) -> Shape:
    c = config.checkins
    numbered = {x.number: x for x in series_checkins(c)}
    core = {
        "first": c.first.isoformat(), "rrule": c.rrule,
        "duration": str(int(c.duration.total_seconds())), "location": c.location,
        "title": c.title, "timezone": config.cohort.timezone,
    }
    cancelled = tuple(sorted(utc_key(numbered[n].original_start) for n in c.cancelled
                             if n in numbered))
    moved = tuple(sorted((utc_key(numbered[m.checkin].original_start), m.start.isoformat())
                         for m in c.moved if m.checkin in numbered))
    return Shape(core=core, cancelled=cancelled, moved=moved, series_cancelled=c.cancel_series)


@dataclass(frozen=True)
class Changes:
    """What to send one participant. Empty: their calendar is right."""

    request: bool = False  # the whole series (master + overrides) as a REQUEST
    cancel_occurrences: tuple[str, ...] = ()  # utc keys, each a CANCEL with RECURRENCE-ID
    cancel_series: bool = False
    what: list[str] = field(default_factory=list)  # what changed, in words (for the email)

    @property
    def empty(self) -> bool:
        return not (self.request or self.cancel_occurrences or self.cancel_series)


def changes(old: Shape | None, new: Shape, *, removed: bool = False) -> Changes:
    """The messages that take a calendar from ``old`` (None: never invited) to ``new``."""
    if old is None:
        if removed or new.series_cancelled:
            return Changes()
        return Changes(request=True)
    if old.series_cancelled:
        if removed or new.series_cancelled:
            return Changes()
        return Changes(request=True, what=["the series is back on"])
    if removed or new.series_cancelled:
        return Changes(cancel_series=True)
    what = [word for key, word in _CORE_WORDS.items() if old.core.get(key) != new.core.get(key)]
    reinstated = set(old.cancelled) - set(new.cancelled)
    if reinstated:
        what.append("a cancelled check-in is back on")
    if dict(old.moved) != dict(new.moved):
        what.append("a check-in moved")
    newly_cancelled = tuple(sorted(set(new.cancelled) - set(old.cancelled)))
    if what:
        # A REQUEST carries the full series, cancellations included, so no CANCEL is needed.
        return Changes(request=True, what=what)
    return Changes(cancel_occurrences=newly_cancelled)


