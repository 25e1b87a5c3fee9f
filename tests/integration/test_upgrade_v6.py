"""A database written by version 6 is brought up to version 7 on start (SQLite and
PostgreSQL): its stories kept and ready to grow by a second reply, the tables for +1s and
poll votes added, the index on the story table's participant, exactly as a new database
has them; +1s and votes stay single even when recorded at the same moment.

The version-6 schema is tortoise's own DDL for the version-6 models (commit 3254a1d),
kept in tests/fixtures/schema/ (each file says how it was made); the history is written
with sqlite3 / asyncpg, never through today's models."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from datetime import UTC, datetime

import asyncpg
import pytest
from test_upgrade_v5 import SCHEMA, SECRET, V5Database
from tortoise import connections
from tortoise.transactions import in_transaction
from tortoise.utils import get_schema_sql

from service.store import db
from service.store.models import Participant, PollVote, Reaction, Story
from service.store.polls import poll_votes, record_vote
from service.store.reactions import reaction_counts, record_reaction
from service.store.replies import prompted_checkin, store_story

pytestmark = pytest.mark.integration

WHEN = datetime(2026, 12, 3, 9, tzinfo=UTC)
NEW_TABLES = ("cb_story", "cb_reaction", "cb_poll_vote")


class V6Database(V5Database):
    """A version-6 database made outside tortoise (the version-6 DDL, then raw INSERTs)."""

    async def __aenter__(self) -> V6Database:
        if self.url.startswith("sqlite://"):
            self.sqlite = sqlite3.connect(self.url.removeprefix("sqlite://"), isolation_level=None)
            self.sqlite.executescript((SCHEMA / "v6_sqlite.sql").read_text())
        else:
            self.pg = await asyncpg.connect(self.url)
            await self.pg.execute((SCHEMA / "v6_postgres.sql").read_text())
        return self


async def write_v6_history(url: str) -> dict[str, int]:
    ids: dict[str, int] = {}
    async with V6Database(url) as v6:
        await v6.insert("cb_meta", returning_id=False, key=db.SCHEMA_VERSION_KEY, value="6")
        await v6.insert("cb_meta", returning_id=False, key=db.TOKEN_SECRET_KEY, value=SECRET)
        for email, name in (("alice@x", "Alice"), ("bob@x", "Bob")):
            ids[email] = await v6.insert(
                "cb_participant", cohort_id="c1", email=email, name=name, timezone="UTC",
                status="active", paused_until=None, bounce_state="ok", soft_bounces=0, goal=None,
                consented=False, joined_at=WHEN, removed_at=None)
        ids["story"] = await v6.insert(
            "cb_story", cohort_id="c1", participant_id=ids["alice@x"], checkin_number=1,
            message_id="story-1@x", text="I finished the outline.", cut="", private=False,
            shared_at=WHEN, attachments=[], received_at=WHEN)
        ids["private"] = await v6.insert(
            "cb_story", cohort_id="c1", participant_id=ids["bob@x"], checkin_number=1,
            message_id="story-2@x", text="Only for Helen.", cut="", private=True, shared_at=None,
            attachments=[], received_at=WHEN)
        await v6.insert(
            "cb_outbox", cohort_id="c1", kind="prompt", message_id="cb.v6prompt@example.org",
            participant_id=ids["alice@x"], checkin_number=1, mail_from="circle@example.org",
            rcpt="alice@x", raw_message=b"Subject: Check-in 1\r\n\r\nHow did it go?\r\n",
            state="sent", claim="", attempts=1, next_attempt_at=WHEN, last_error="",
            claimed_at=None, sent_at=WHEN, created_at=WHEN)
    return ids


async def layout(table: str) -> tuple[set[str], set[str]]:
    """(columns, index names) of ``table`` as the database has it."""
    conn = connections.get("default")
    if db.is_postgres():
        _, rows = await conn.execute_query(
            "SELECT indexname AS name FROM pg_indexes WHERE tablename = $1", [table])
        indexes = {str(r["name"]) for r in rows if str(r["name"]).startswith("idx_")}
    else:
        _, rows = await conn.execute_query(f'PRAGMA index_list("{table}")')
        indexes = {str(r["name"]) for r in rows if str(r["name"]).startswith("idx_")}
    return await db._columns(table), indexes


def expected_layout(table: str) -> tuple[set[str], set[str]]:
    """(columns, index names) a new database gets: tortoise's DDL for today's models."""
    sql = get_schema_sql(connections.get("default"), safe=False)
    body = re.search(rf'CREATE TABLE "{table}" \((.*?)\n\)', sql, re.S)
    assert body is not None
    columns = set(re.findall(r'^\s+"(\w+)" ', body.group(1), re.M))
    indexes = set(re.findall(rf'CREATE (?:UNIQUE )?INDEX "(idx_\w+)" ON "{table}"', sql))
    return columns, indexes


async def test_version_6_database_gains_reactions_votes_and_growing_stories(db_url: str) -> None:
    ids = await write_v6_history(db_url)

    await db.open_database(db_url)  # the new daemon's start: migrates
    try:
        assert await db.schema_version() == 7 == db.MIGRATIONS[-1][0]
        assert (await db.token_secret()).hex() == SECRET
        for table in NEW_TABLES:
            assert await layout(table) == expected_layout(table), table
        _, story_indexes = await layout("cb_story")
        assert any("partici" in name for name in story_indexes)
        stories = {s.id: s for s in await Story.all()}
        assert stories[ids["story"]].text == "I finished the outline."
        assert [(s.replies, s.updated_at) for s in stories.values()] == [(1, None), (1, None)]
        assert stories[ids["private"]].private and stories[ids["private"]].shared_at is None

        # Today's code on yesterday's data: a late second reply to the prompt of check-in 1
        # (found by its Message-ID) is appended to the story version 6 stored.
        alice = await Participant.get(id=ids["alice@x"])
        bob = await Participant.get(id=ids["bob@x"])
        assert await prompted_checkin("c1", alice, ["cb.v6prompt@example.org"]) == 1
        assert await prompted_checkin("c1", bob, ["cb.v6prompt@example.org"]) is None
        later = datetime(2026, 12, 10, 9, tzinfo=UTC)
        grown = await store_story(cohort_id="c1", participant=alice, checkin=1,
                                  message_key="story-3@x", text="And I sent it.", cut="",
                                  private=False, publishable=True, attachments=[], links=[],
                                  now=later)
        assert grown.id == ids["story"] and grown.replies == 2
        assert grown.text == "I finished the outline.\n\nAnd I sent it." and grown.shared_at == later

        # +1s and votes: once per person, even when recorded side by side
        async def react() -> bool:
            async with in_transaction():
                return await record_reaction("c1", ids["story"], bob, later)

        async def vote(option: int) -> None:
            async with in_transaction():
                await record_vote("c1", 1, bob, option, later)

        results = await asyncio.gather(*(react() for _ in range(4)))
        await asyncio.gather(*(vote(n) for n in (1, 2, 3, 2)))
        assert results.count(True) >= 1
        assert await Reaction.filter(cohort_id="c1").count() == 1
        assert await reaction_counts("c1", [ids["story"]]) == {ids["story"]: 1}
        assert await PollVote.filter(cohort_id="c1").count() == 1
        await vote(3)  # the latest answer wins
        assert await poll_votes("c1", [1]) == {1: {bob.id: 3}}
        # not counted: one's own story, a private one, another cohort's
        assert not await record_reaction("c1", ids["story"], alice, later)
        assert not await record_reaction("c1", ids["private"], alice, later)
        assert not await record_reaction("c2", ids["story"], bob, later)
    finally:
        await db.close_database()

    await db.open_database(db_url)  # a second start changes nothing
    try:
        assert await db.schema_version() == 7
        assert await Reaction.all().count() == 1 and await Story.all().count() == 2
    finally:
        await db.close_database()
