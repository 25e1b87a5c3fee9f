"""Several workers (or daemons) sharing one database never claim the same outbox row."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from service.store import db
from service.store.models import OutboxMessage
from service.store.outbox import claim_outbox_batch, release_stale_claims

pytestmark = pytest.mark.integration


async def test_concurrent_claims_are_disjoint_and_stale_ones_come_back(db_url: str) -> None:
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    await db.open_database(db_url)
    try:
        for n in range(60):
            await OutboxMessage.create(cohort_id="c", kind="prompt", message_id=f"m{n}@x",
                                       mail_from="c@x", rcpt=f"p{n}@x", raw_message=b"x",
                                       next_attempt_at=now, created_at=now)
        batches = await asyncio.gather(*(claim_outbox_batch("c", now, limit=25) for _ in range(4)))
        ids = [row.id for batch in batches for row in batch]
        assert len(ids) == len(set(ids)) == 60  # all claimed, none twice
        assert await OutboxMessage.filter(state="sending").count() == 60
        assert await claim_outbox_batch("c", now) == []
        # A worker that died mid-send: after ten minutes its rows are queued again.
        assert await release_stale_claims("c", now + timedelta(minutes=5)) == 0
        assert await release_stale_claims("c", now + timedelta(minutes=11)) == 60
        assert len(await claim_outbox_batch("c", now + timedelta(minutes=11), limit=100)) == 60
    finally:
        await db.close_database()
