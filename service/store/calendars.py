"""What the participants' calendars were told: the series' SEQUENCE and, per
participant, the shape their calendar last received (see ``service.core.series``)."""

from __future__ import annotations

import json
import logging
from datetime import datetime

from tortoise.exceptions import IntegrityError

from service.core.series import Shape
from service.store.models import CalendarCopy, Participant, SeriesState

log = logging.getLogger("circleback.calendar")

__all__ = ["planned_series_sequence", "save_calendar_copy", "series_sequence"]


async def series_sequence(cohort_id: str, uid: str, shape: Shape) -> int:
    """The series' SEQUENCE, raised by one whenever the config's series changes (RFC 5546
    2.1.4: a change the attendees must see bumps SEQUENCE). Guarded: when two daemons see
    the same change, it is counted once."""
    fingerprint = json.dumps(shape.to_json(), sort_keys=True)
    state = await SeriesState.get_or_none(cohort_id=cohort_id)
    if state is None:
        try:
            state = await SeriesState.create(cohort_id=cohort_id, uid=uid, sequence=0,
                                             fingerprint=fingerprint)
        except IntegrityError:
            state = await SeriesState.get(cohort_id=cohort_id)
    if state.fingerprint == fingerprint:
        return state.sequence
    invited = await CalendarCopy.filter(uid=state.uid, participant__cohort_id=cohort_id).exists()
    bump = 1 if state.fingerprint and invited else 0
    n = await SeriesState.filter(cohort_id=cohort_id, fingerprint=state.fingerprint,
                                 sequence=state.sequence).update(
        sequence=state.sequence + bump, fingerprint=fingerprint)
    if n and bump:
        log.info("The check-in series of %s changed; calendars get version %d.", cohort_id,
                 state.sequence + bump)
    return (await SeriesState.get(cohort_id=cohort_id)).sequence


async def planned_series_sequence(cohort_id: str, shape: Shape) -> int:
    """The SEQUENCE `series_sequence` would give now, read without writing (a preview)."""
    fingerprint = json.dumps(shape.to_json(), sort_keys=True)
    state = await SeriesState.get_or_none(cohort_id=cohort_id)
    if state is None or state.fingerprint == fingerprint:
        return state.sequence if state else 0
    invited = await CalendarCopy.filter(uid=state.uid, participant__cohort_id=cohort_id).exists()
    return state.sequence + (1 if state.fingerprint and invited else 0)


async def save_calendar_copy(p: Participant, uid: str, sequence: int, shape: Shape,
                             now: datetime) -> None:
    """Call in the transaction that queues the messages which told the calendar so."""
    await CalendarCopy.update_or_create(
        participant=p, uid=uid,
        defaults={"sequence": sequence, "shape": shape.to_json(), "updated_at": now})
