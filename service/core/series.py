"""Pure: what each participant's calendar should hold, and which iTIP messages bring a
calendar from what it was last told to that.

A participant's calendar is described by a ``Shape``: the series' core (start, rule,
length, place, title, zone), the cancelled occurrences and the moved ones. The daemon
stores the shape it last sent to each participant; ``changes`` compares it with the
shape the config asks for now and says what to send, so that a restart or a reload
sends each change exactly once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeAlias

from service.config import Config
from service.core.schedule import series_checkins

ChangeKey: TypeAlias = Literal[
    "first", "rrule", "duration", "location", "title", "timezone",  # a key of Shape.core
    "back-on",  # the whole series was cancelled and is on again
    "reinstated",  # a cancelled check-in is on again
    "moved",  # a check-in moved (or moved back, or moved elsewhere)
]
"""What an updated invitation changes, as a stable key; templates/_calendar.j2 words it."""

_CORE_KEYS: tuple[ChangeKey, ...] = ("first", "rrule", "duration", "location", "title", "timezone")


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
    what: tuple[ChangeKey, ...] = ()  # what a REQUEST changes, in the order the email names it

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
        return Changes(request=True, what=("back-on",))
    if removed or new.series_cancelled:
        return Changes(cancel_series=True)
    what: list[ChangeKey] = [key for key in _CORE_KEYS if old.core.get(key) != new.core.get(key)]
    reinstated = set(old.cancelled) - set(new.cancelled)
    if reinstated:
        what.append("reinstated")
    if dict(old.moved) != dict(new.moved):
        what.append("moved")
    newly_cancelled = tuple(sorted(set(new.cancelled) - set(old.cancelled)))
    if what:
        # A REQUEST carries the full series, cancellations included, so no CANCEL is needed.
        return Changes(request=True, what=tuple(what))
    return Changes(cancel_occurrences=newly_cancelled)


