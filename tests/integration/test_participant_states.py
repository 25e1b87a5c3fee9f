"""A participant's status and bounce state change only through service/store/participants.py,
each change a guarded update (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from service.config import ParticipantConfig
from service.core.rules import may_receive
from service.core.states import BounceState, ParticipantStatus
from service.store import db
from service.store.models import Participant
from service.store.participants import (
    pause,
    record_bounce,
    resume,
    standing,
    stop,
    sync_participants,
)

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
ALICE = ParticipantConfig("Alice", "alice@example.com", "UTC")
BOB = ParticipantConfig("Bob", "bob@example.com", "UTC")


async def fresh(email: str = "alice@example.com") -> Participant:
    return await Participant.get(cohort_id="c", email=email)


async def test_status_transitions_are_guarded(db_url: str) -> None:
    await db.open_database(db_url)
    try:
        roster = await sync_participants("c", [ALICE, BOB], NOW)
        assert [p.email for p in roster.joined] == ["alice@example.com", "bob@example.com"]
        alice = await fresh()
        assert await pause(alice, NOW + timedelta(days=14))
        assert not may_receive(standing(await fresh()), "prompt", NOW)
        assert may_receive(standing(await fresh()), "prompt", NOW + timedelta(days=15))
        assert may_receive(standing(await fresh()), "invite", NOW)  # the calendar stays right
        assert await stop(await fresh())
        assert not await pause(await fresh(), None)  # a stopped participant is not paused
        assert (await fresh()).status == ParticipantStatus.STOPPED
        assert may_receive(standing(await fresh()), "ack", NOW)
        assert not may_receive(standing(await fresh()), "invite", NOW)
        assert await resume(await fresh())
        assert (await fresh()).status == ParticipantStatus.ACTIVE
        # Leaving the config marks them removed, never deleted; coming back restores them.
        roster = await sync_participants("c", [BOB], NOW)
        assert [p.email for p in roster.left] == ["alice@example.com"]
        assert not await stop(await fresh())  # removed: no longer theirs to stop
        assert (await fresh()).status == ParticipantStatus.REMOVED
        assert may_receive(standing(await fresh()), "cancel", NOW)
        assert not may_receive(standing(await fresh()), "digest", NOW)
        roster = await sync_participants("c", [ALICE, BOB], NOW)
        assert [p.email for p in roster.returned] == ["alice@example.com"]
        assert (await sync_participants("c", [ALICE, BOB], NOW)).returned == ()
    finally:
        await db.close_database()


async def test_bounces_count_once_each_even_when_two_daemons_record_them(db_url: str) -> None:
    await db.open_database(db_url)
    try:
        await sync_participants("c", [ALICE], NOW)
        first = await record_bounce(await fresh(), hard=False)
        assert (first.state, first.soft_bounces, first.newly_hard) == (BounceState.SOFT, 1, False)
        outcomes = await asyncio.gather(record_bounce(await fresh(), hard=False),
                                        record_bounce(await fresh(), hard=False))
        row = await fresh()
        assert row.soft_bounces == 3  # two at once: each counted
        assert row.bounce_state == BounceState.HARD  # the third soft bounce
        assert sum(o.newly_hard for o in outcomes) == 1  # the facilitator is told once
        again = await record_bounce(row, hard=True)
        assert (again.state, again.newly_hard) == (BounceState.HARD, False)
        assert not may_receive(standing(await fresh()), "ack", NOW)
    finally:
        await db.close_database()
