"""Several workers (or daemons) sharing one database never claim the same outbox row; a
dead daemon's claims come back at once; a row taken over is never marked by its old
claimer."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from service.core.states import OutboxState
from service.store import db, leases, outbox
from service.store.models import OutboxMessage

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
TTL = timedelta(seconds=30)


async def _queue(n: int, cohort: str = "c") -> None:
    for i in range(n):
        await OutboxMessage.create(cohort_id=cohort, kind="prompt", message_id=f"m{cohort}{i}@x",
                                   mail_from="c@x", rcpt=f"p{i}@x", raw_message=b"x",
                                   next_attempt_at=NOW, created_at=NOW)


async def test_concurrent_claims_are_disjoint_and_scoped_by_cohort(db_url: str) -> None:
    await db.open_database(db_url)
    try:
        await _queue(60, "c")
        await _queue(5, "other")
        batches = await asyncio.gather(*(outbox.claim_outbox_batch(["c"], f"daemon-{n}", NOW, limit=25)
                                         for n in range(4)))
        ids = [row.id for batch in batches for row in batch]
        assert len(ids) == len(set(ids)) == 60  # all claimed, none twice
        for n, batch in enumerate(batches):
            assert all(row.claim == f"daemon-{n}" for row in batch)
        assert await OutboxMessage.filter(state=OutboxState.SENDING).count() == 60
        assert await outbox.claim_outbox_batch(["c"], "daemon-9", NOW) == []
        # the other cohort's rows were not touched, and another worker takes them
        assert len(await outbox.claim_outbox_batch(["other"], "daemon-9", NOW)) == 5
    finally:
        await db.close_database()


async def test_a_dead_daemons_claims_return_and_it_cannot_mark_them(db_url: str) -> None:
    await db.open_database(db_url)
    try:
        await _queue(3)
        for holder in ("alive", "dead"):
            assert await leases.acquire(leases.presence(holder), NOW, holder=holder, ttl=TTL)
        dead_rows = await outbox.claim_outbox_batch(["c"], "dead", NOW, limit=2)
        alive_rows = await outbox.claim_outbox_batch(["c"], "alive", NOW)
        assert len(dead_rows) == 2 and len(alive_rows) == 1
        # "dead" stops renewing its presence; "alive" renews.
        later = NOW + TTL + timedelta(seconds=1)
        assert await leases.acquire(leases.presence("alive"), later, holder="alive", ttl=TTL)
        assert await leases.live_holders(later) == {"alive"}
        assert await outbox.release_claims_of_dead(await leases.live_holders(later), later) == 2
        assert await OutboxMessage.filter(claim="alive", state=OutboxState.SENDING).count() == 1
        # The dead daemon (a long pause, not dead after all) may not send or mark them now.
        assert not await outbox.still_mine(dead_rows[0], "dead", later)
        assert not await outbox.mark_sent(dead_rows[0], "dead", later)
        retaken = await outbox.claim_outbox_batch(["c"], "alive", later)
        assert {r.id for r in retaken} == {r.id for r in dead_rows}
        assert await outbox.still_mine(retaken[0], "alive", later)
        assert await outbox.mark_sent(retaken[0], "alive", later)
        row = await OutboxMessage.get(id=retaken[0].id)
        assert (row.state, row.claim, row.attempts) == (OutboxState.SENT, "", 1)
        # a fresh claim by a daemon whose presence is not visible yet is left alone
        await _queue(1, "d")
        young = await outbox.claim_outbox_batch(["d"], "newcomer", later)
        assert await outbox.release_claims_of_dead({"alive"}, later + timedelta(seconds=1)) == 0
        assert await outbox.still_mine(young[0], "newcomer", later)
    finally:
        await db.close_database()


async def test_rows_not_tried_go_back_to_the_queue(db_url: str) -> None:
    await db.open_database(db_url)
    try:
        await _queue(4)
        rows = await outbox.claim_outbox_batch(["c"], "me", NOW)
        assert await outbox.mark_retry(rows[0], "me", "451 later", NOW + timedelta(minutes=1))
        assert await outbox.mark_failed(rows[1], "me", "550 no such user")
        assert await outbox.give_back(rows, "me") == 2  # only the two still "sending"
        states = sorted(str(s) for s in await OutboxMessage.all().values_list("state", flat=True))
        assert states == ["failed", "queued", "queued", "queued"]
        assert not await outbox.mark_sent(rows[1], "me", NOW)  # failed stays failed
    finally:
        await db.close_database()
