"""Pure: the series as one participant's calendar gets it (an iTIP ``SeriesSpec`` built
from the shape decided in ``service.core.series``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from service.calendar.itip import Override, SeriesSpec
from service.core.schedule import Checkin
from service.core.series import Shape, utc_key

__all__ = ["participant_spec"]


def participant_spec(base: SeriesSpec, shape: Shape, occurrences: list[Checkin],
                     joined_at: datetime | None, duration: timedelta) -> SeriesSpec | None:
    """The series as one participant's calendar gets it.

    A participant who joined after the series began gets it from the first check-in that
    had not ended when they joined (same UID; their calendar never held the earlier ones).
    None when nothing is left for them.
    """
    start_index = 0
    if joined_at is not None:
        for i, occurrence in enumerate(occurrences):
            if occurrence.original_start.astimezone(UTC) + duration > joined_at:
                start_index = i
                break
        else:
            return None
    first = occurrences[start_index].original_start if occurrences else base.first_start
    rrule = base.rrule
    if start_index:
        rrule = re.sub(r"COUNT=(\d+)", lambda m: f"COUNT={int(m.group(1)) - start_index}", rrule,
                       flags=re.IGNORECASE)
    keep = {utc_key(o.original_start) for o in occurrences[start_index:]}
    by_key = {utc_key(o.original_start): o.original_start for o in occurrences}
    exdates = tuple(by_key[k] for k in shape.cancelled if k in keep)
    overrides = tuple(
        Override(recurrence_id=by_key[k], start=datetime.fromisoformat(new),
                 end=datetime.fromisoformat(new) + duration, sequence=base.sequence)
        for k, new in shape.moved if k in keep)
    if len(exdates) >= len(keep):
        return None
    return SeriesSpec(uid=base.uid, summary=base.summary, description=base.description,
                      location=base.location, timezone=base.timezone, first_start=first,
                      duration=base.duration, rrule=rrule, sequence=base.sequence,
                      exdates=exdates, overrides=overrides)
