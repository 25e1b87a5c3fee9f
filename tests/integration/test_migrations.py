"""An older database is brought up to date on start, its data kept (SQLite, PostgreSQL)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import asyncpg
import pytest

from service.store import db
from service.store.models import Participant, Story

pytestmark = pytest.mark.integration


async def downgrade_to_version_3(url: str) -> None:
    """Make the database what version 3 wrote: no consent columns (outside tortoise)."""
    statements = ["ALTER TABLE cb_story DROP COLUMN shared_at",
                  "ALTER TABLE cb_participant DROP COLUMN consented",
                  f"UPDATE cb_meta SET value = '3' WHERE key = '{db.SCHEMA_VERSION_KEY}'"]
    if url.startswith("sqlite://"):
        conn = sqlite3.connect(url.removeprefix("sqlite://"), isolation_level=None)
        try:
            for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' "
                                        "AND sql LIKE '%shared_at%'").fetchall():
                conn.execute(f'DROP INDEX "{name}"')  # SQLite cannot drop an indexed column
            for statement in statements:
                conn.execute(statement)
        finally:
            conn.close()
        return
    pg = await asyncpg.connect(url)
    try:
        for statement in statements:
            await pg.execute(statement)
    finally:
        await pg.close()


async def test_version_3_database_gains_the_consent_columns(db_url: str) -> None:
    when = datetime(2026, 12, 1, 12, tzinfo=UTC)
    await db.open_database(db_url)
    try:
        assert await db.schema_version() == db.MIGRATIONS[-1][0]
        alice = await Participant.create(cohort_id="c", email="a@x", name="A", timezone="UTC",
                                         joined_at=when)
        await Story.create(cohort_id="c", participant=alice, message_id="m1", text="public",
                           received_at=when, shared_at=when)
        await Story.create(cohort_id="c", participant=alice, message_id="m2", text="secret",
                           received_at=when, private=True)
    finally:
        await db.close_database()
    await downgrade_to_version_3(db_url)

    await db.open_database(db_url)  # the daemon's start: migrates
    try:
        assert await db.schema_version() == db.MIGRATIONS[-1][0]
        stories = {s.text: s.shared_at for s in await Story.all()}
        assert stories == {"public": when, "secret": None}
        assert (await Participant.get(email="a@x")).consented is False
    finally:
        await db.close_database()
