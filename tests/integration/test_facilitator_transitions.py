"""The facilitator's transitions (`participants resume | unstop | reset-bounce`), each a
guarded update that changes a row only from the state it expects (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from service.config import ParticipantConfig
from service.core.states import BounceState, ParticipantStatus
from service.store import db
from service.store.models import Participant
from service.store.participants import (
    end_pause,
    pause,
    record_bounce,
    reset_bounce,
    stop,
    sync_participants,
    unstop,
)

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


async def alice() -> Participant:
    return await Participant.get(cohort_id="c", email="alice@example.com")


async def test_end_pause_unstop_and_reset_bounce_are_guarded(db_url: str) -> None:
    await db.open_database(db_url)
    try:
        await sync_participants("c", [ParticipantConfig("Alice", "alice@example.com", "UTC")], NOW)
        assert not await end_pause(await alice())  # active: not paused
        assert not await unstop(await alice())  # active: not stopped
        assert await pause(await alice(), None)
        assert not await unstop(await alice())  # paused is not stopped
        assert await end_pause(await alice())
        assert (await alice()).status == ParticipantStatus.ACTIVE

        assert await stop(await alice())
        assert not await end_pause(await alice())  # "resume" never un-stops
        assert (await alice()).status == ParticipantStatus.STOPPED
        assert await unstop(await alice())
        assert not await unstop(await alice())  # once
        row = await alice()
        assert row.status == ParticipantStatus.ACTIVE and row.paused_until is None

        assert not await reset_bounce(await alice())  # nothing to forget
        await record_bounce(await alice(), hard=False)
        await record_bounce(await alice(), hard=True)
        assert (await alice()).bounce_state == BounceState.HARD
        assert await reset_bounce(await alice())
        row = await alice()
        assert row.bounce_state == BounceState.OK and row.soft_bounces == 0
        assert not await reset_bounce(await alice())
    finally:
        await db.close_database()
