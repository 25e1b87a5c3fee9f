"""One daemon at a time watches a mailbox, on SQLite and on a shared PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from service.store import db
from service.store.leases import acquire, holder_of, release

pytestmark = pytest.mark.integration


async def test_lease_is_held_renewed_and_taken_over(db_url: str) -> None:
    await db.open_database(db_url)
    try:
        now = datetime(2026, 12, 1, tzinfo=UTC)
        ttl = timedelta(minutes=3)
        assert await acquire("imap:x", now, holder="a", ttl=ttl)
        assert not await acquire("imap:x", now + timedelta(minutes=1), holder="b", ttl=ttl)
        assert await acquire("imap:x", now + timedelta(minutes=2), holder="a", ttl=ttl)  # renew
        assert not await acquire("imap:x", now + timedelta(minutes=4), holder="b", ttl=ttl)
        assert await holder_of("imap:x", now + timedelta(minutes=4)) == "a"
        # a crashed holder stops renewing: after the TTL another daemon takes over
        assert await acquire("imap:x", now + timedelta(minutes=6), holder="b", ttl=ttl)
        await release("imap:x", holder="a")  # not a's any more: nothing happens
        assert await holder_of("imap:x", now + timedelta(minutes=6)) == "b"
        await release("imap:x", holder="b")
        assert await holder_of("imap:x", now + timedelta(minutes=6)) is None
        assert await acquire("imap:y", now, holder="a", ttl=ttl)  # leases are per mailbox
    finally:
        await db.close_database()
