"""A database written by version 5 (one action key per database, a cursor per cohort) is
brought up to version 6 on start, on SQLite and PostgreSQL, its history kept, and the new
code runs on: nothing done in version 5 is done again.

The version-5 schema is tortoise's own DDL for the version-5 models (commit 991d269),
kept in tests/fixtures/schema/ (each file says how it was made); the history is written
with sqlite3 / asyncpg, as version 5 stored it, never through today's models."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from service.config import Config, load_config
from service.core.clock import ManualClock
from service.flows.schedule import schedule_pass
from service.runtime.service import opened
from service.store import db
from service.store.models import (
    Action,
    CalendarCopy,
    InboundMessage,
    OutboxMessage,
    Participant,
    SeriesState,
    Story,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "tests" / "fixtures" / "schema"
SECRET = "5e" * 32


def at(day: int, hour: int, minute: int = 0, month: int = 12) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


# Cohort c1: weekly check-ins on Saturdays at 14:00 UTC from 5 December 2026, prompts
# 3 days before, reminders 1 day before, the digest on Fridays at 14:00. Cohort c2 shares
# the database (and Alice). Version 5 told both c1 calendars this series:
C1_SHAPE: dict[str, Any] = {
    "core": {"first": "2026-12-05T14:00:00+00:00", "rrule": "FREQ=WEEKLY;INTERVAL=1;COUNT=4",
             "duration": "2700", "location": "https://meet.example.org/x", "title": "",
             "timezone": "UTC"},
    "cancelled": [], "moved": [], "series_cancelled": False,
}
C2_SHAPE: dict[str, Any] = {**C1_SHAPE, "core": {**C1_SHAPE["core"], "location": "https://meet.example.org/y"}}

# (cohort, key, kind, done_at, note): what version 5 recorded by 4 December, 15:00.
# Its keys were unique in the whole database, so c2 has no key that c1 has.
V5_ACTIONS: list[tuple[str, str, str, datetime, str]] = [
    ("c1", "calendar:alice@x:0:request", "calendar", at(20, 10, month=11), ""),
    ("c1", "calendar:bob@x:0:request", "calendar", at(20, 10, month=11), ""),
    ("c1", "prompt:1:alice@x", "prompt", at(2, 14), ""),
    ("c1", "prompt:1:bob@x", "prompt", at(2, 14), ""),
    ("c1", "reminder:1:alice@x", "reminder", at(4, 14), ""),
    ("c1", "digest:2026-12-04T14:00:00+00:00", "digest", at(4, 14), ""),
    ("c1", "skip:2:alice@x", "skip", at(4, 14, 30), ""),
    ("c1", "round:c1:alice@x", "round", at(4, 14, 40), "another-round"),
    ("c2", "calendar:carol@x:0:request", "calendar", at(20, 10, month=11), ""),
    ("c2", "prompt:1:carol@x", "prompt", at(2, 14), ""),
    ("c2", "skip:1:carol@x", "skip", at(3, 9), ""),
    ("c2", "round:c2:alice@x", "round", at(4, 15), "wrap-up"),
]


class V5Database:
    """A version-5 database made outside tortoise: the fixture's DDL, then raw INSERTs
    with the values as version 5 stored them (SQLite: ISO text datetimes, 0/1 booleans)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite: sqlite3.Connection | None = None
        self.pg: asyncpg.Connection | None = None

    async def __aenter__(self) -> V5Database:
        if self.url.startswith("sqlite://"):
            self.sqlite = sqlite3.connect(self.url.removeprefix("sqlite://"), isolation_level=None)
            self.sqlite.executescript((SCHEMA / "v5_sqlite.sql").read_text())
        else:
            self.pg = await asyncpg.connect(self.url)
            await self.pg.execute((SCHEMA / "v5_postgres.sql").read_text())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.sqlite is not None:
            self.sqlite.close()
        if self.pg is not None:
            await self.pg.close()

    async def insert(self, table: str, *, returning_id: bool = True, **values: Any) -> int:
        columns = ", ".join(f'"{c}"' for c in values)
        if self.sqlite is not None:
            params = [self._sqlite_value(v) for v in values.values()]
            marks = ", ".join("?" for _ in values)
            cursor = self.sqlite.execute(f'INSERT INTO "{table}" ({columns}) VALUES ({marks})', params)
            return int(cursor.lastrowid or 0) if returning_id else 0
        assert self.pg is not None
        params = [json.dumps(v) if isinstance(v, dict | list) else v for v in values.values()]
        marks = ", ".join(f"${n}" for n in range(1, len(values) + 1))
        sql = f'INSERT INTO "{table}" ({columns}) VALUES ({marks})'
        if returning_id:
            return int(await self.pg.fetchval(sql + " RETURNING id", *params))
        await self.pg.execute(sql, *params)
        return 0

    @staticmethod
    def _sqlite_value(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat(" ")  # as tortoise's sqlite adapter writes them
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, dict | list):
            return json.dumps(value, separators=(",", ":"))
        return value


async def write_v5_history(url: str) -> dict[tuple[str, str], int]:
    """Two cohorts' history as version 5 left it; returns participant ids by (cohort, email)."""
    people: dict[tuple[str, str], int] = {}
    async with V5Database(url) as v5:
        await v5.insert("cb_meta", returning_id=False, key=db.SCHEMA_VERSION_KEY, value="5")
        await v5.insert("cb_meta", returning_id=False, key=db.TOKEN_SECRET_KEY, value=SECRET)
        for cohort, email, name in [("c1", "alice@x", "Alice"), ("c1", "bob@x", "Bob"),
                                    ("c2", "alice@x", "Alice"), ("c2", "carol@x", "Carol")]:
            people[cohort, email] = await v5.insert(
                "cb_participant", cohort_id=cohort, email=email, name=name, timezone="UTC",
                status="active", paused_until=None, bounce_state="ok", soft_bounces=0,
                goal="Finish the draft" if name == "Alice" else None, consented=name == "Alice",
                joined_at=at(20, 9, month=11), removed_at=None)
        for cohort, shape in [("c1", C1_SHAPE), ("c2", C2_SHAPE)]:
            await v5.insert("cb_series", returning_id=False, cohort_id=cohort,
                            uid=f"{cohort}-checkins@circleback", sequence=0,
                            fingerprint=json.dumps(shape, sort_keys=True),
                            updated_at=at(20, 10, month=11))
        for cohort, email, shape in [("c1", "alice@x", C1_SHAPE), ("c1", "bob@x", C1_SHAPE),
                                     ("c2", "carol@x", C2_SHAPE)]:
            await v5.insert("cb_calendar_copy", participant_id=people[cohort, email],
                            uid=f"{cohort}-checkins@circleback", sequence=0, shape=shape,
                            updated_at=at(20, 10, month=11))
        for cohort, key, kind, done_at, note in V5_ACTIONS:
            await v5.insert("cb_action", returning_id=False, key=key, cohort_id=cohort, kind=kind,
                            done_at=done_at, note=note)
        alice = people["c1", "alice@x"]
        story = await v5.insert(
            "cb_story", cohort_id="c1", participant_id=alice, checkin_number=1,
            message_id="story-1@x", text="I finished the outline.", cut="> quoted prompt",
            private=False, shared_at=at(3, 9), attachments=[], received_at=at(3, 9))
        await v5.insert("cb_story_attachment", story_id=story, filename="outline.txt",
                        content_type="text/plain", size=7, content=b"outline")
        await v5.insert("cb_resource", cohort_id="c1", url="https://example.org/outline",
                        url_key="0" * 64, title="Outline", participant_id=alice, story_id=story,
                        created_at=at(3, 9))
        await v5.insert("cb_rsvp", participant_id=alice, uid="c1-checkins@circleback",
                        recurrence_key="", partstat="ACCEPTED", comment=None, sequence=0,
                        updated_at=at(21, 8, month=11))
        outbox = {"mail_from": "circle@example.org", "rcpt": "alice@x", "last_error": "",
                  "claimed_at": None, "participant_id": alice, "checkin_number": 1}
        await v5.insert("cb_outbox", cohort_id="c1", kind="prompt", message_id="cb.v5prompt@example.org",
                        raw_message=b"Subject: Check-in 1\r\n\r\nHow did it go?\r\n", state="sent",
                        attempts=1, next_attempt_at=at(2, 14), sent_at=at(2, 14, 1),
                        created_at=at(2, 14), **outbox)
        await v5.insert("cb_outbox", cohort_id="c1", kind="reminder", message_id="cb.v5remind@example.org",
                        raw_message=b"Subject: Reminder\r\n\r\nTomorrow.\r\n", state="queued",
                        attempts=0, next_attempt_at=at(4, 14), sent_at=None, created_at=at(4, 14),
                        **outbox)
        await v5.insert("cb_inbound", cohort_id="c1", message_id="story-1@x", uid=7, kind="story",
                        participant_id=alice, from_addr="alice@x", subject="Re: Check-in 1",
                        reason="", folder="circleback/stories", state="moved",
                        raw_message=b"Subject: Re: Check-in 1\r\n\r\nI finished the outline.\r\n",
                        received_at=at(3, 9))
        await v5.insert("cb_cursor", cohort_id="c1", mailbox="INBOX", uidvalidity=1234, last_uid=7)
        await v5.insert("cb_digest", cohort_id="c1", slot=at(4, 14), period_start=at(2, 14),
                        period_end=at(4, 14), stories=1, resources=1, sent=True, created_at=at(4, 14))
        await v5.insert("cb_lease", returning_id=False, name="imap:circle@example.org/INBOX",
                        holder="old-daemon", expires_at=at(4, 15))
    return people


async def tables() -> set[str]:
    conn = connections.get("default")
    if db.is_postgres():
        _, rows = await conn.execute_query(
            "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public'")
    else:
        _, rows = await conn.execute_query("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {str(r["name"]) for r in rows}


async def snapshot() -> dict[str, Any]:
    """Everything a second start must leave as it is."""
    return {
        "version": await db.schema_version(),
        "secret": await db.token_secret(),
        "tables": await tables(),
        "actions": sorted(await Action.all().values_list(
            "id", "cohort_id", "key", "kind", "participant_id", "checkin_number", "note", "done_at")),
        "outbox": sorted(await OutboxMessage.all().values_list("id", "kind", "state", "claim")),
        "inbound": sorted(await InboundMessage.all().values_list("id", "message_id", "mailbox")),
        "participants": sorted(await Participant.all().values_list("id", "cohort_id", "email")),
        "stories": sorted(await Story.all().values_list("id", "text", "shared_at")),
        "copies": sorted(await CalendarCopy.all().values_list("participant_id", "uid", "sequence")),
        "series": sorted(await SeriesState.all().values_list("cohort_id", "uid", "sequence")),
    }


async def test_version_5_database_is_migrated_with_its_history(db_url: str) -> None:
    people = await write_v5_history(db_url)

    await db.open_database(db_url)  # the new daemon's start: migrates
    try:
        assert await db.schema_version() == db.MIGRATIONS[-1][0]
        assert (await db.token_secret()).hex() == SECRET

        # Every action kept, with its cohort, kind, time and note.
        rows = await Action.all().values_list("cohort_id", "key", "kind", "done_at", "note")
        assert sorted(rows) == sorted(V5_ACTIONS)
        # Skips and round wishes: participant and check-in read from the keys, in their cohort.
        parsed = {(a.cohort_id, a.key): (a.participant_id, a.checkin_number)  # type: ignore[attr-defined]
                  for a in await Action.all()}
        assert parsed["c1", "skip:2:alice@x"] == (people["c1", "alice@x"], 2)
        assert parsed["c2", "skip:1:carol@x"] == (people["c2", "carol@x"], 1)
        assert parsed["c1", "round:c1:alice@x"] == (people["c1", "alice@x"], None)
        assert parsed["c2", "round:c2:alice@x"] == (people["c2", "alice@x"], None)
        assert parsed["c1", "prompt:1:alice@x"] == (None, None)  # other kinds: as they were

        outbox = {o.message_id: o for o in await OutboxMessage.all()}
        assert {m: (o.state, o.claim) for m, o in outbox.items()} == {
            "cb.v5prompt@example.org": ("sent", ""), "cb.v5remind@example.org": ("queued", "")}
        assert outbox["cb.v5prompt@example.org"].sent_at == at(2, 14, 1)
        assert [(i.message_id, i.mailbox, i.state) for i in await InboundMessage.all()] == [
            ("story-1@x", "", "moved")]

        names = await tables()
        assert "cb_cursor" not in names and "cb_action_v5" not in names
        assert "cb_mailbox_cursor" in names

        assert sorted(await Participant.all().values_list("cohort_id", "email", "consented")) == [
            ("c1", "alice@x", True), ("c1", "bob@x", False),
            ("c2", "alice@x", True), ("c2", "carol@x", False)]
        story = await Story.get(message_id="story-1@x").prefetch_related("files", "resources")
        assert (story.text, story.checkin_number, story.shared_at) == ("I finished the outline.", 1, at(3, 9))
        assert [f.content for f in story.files] == [b"outline"]
        assert [r.title for r in story.resources] == ["Outline"]
        copies = await CalendarCopy.all().order_by("participant_id")
        assert [(c.participant_id, c.sequence, c.shape) for c in copies] == [  # type: ignore[attr-defined]
            (people["c1", "alice@x"], 0, C1_SHAPE), (people["c1", "bob@x"], 0, C1_SHAPE),
            (people["c2", "carol@x"], 0, C2_SHAPE)]
        assert sorted(await SeriesState.all().values_list("cohort_id", "sequence")) == [("c1", 0), ("c2", 0)]
        before = await snapshot()
    finally:
        await db.close_database()

    await db.open_database(db_url)  # the next start: nothing to do, nothing done twice
    try:
        assert await snapshot() == before

        # Keys are now unique per cohort, not per database.
        with pytest.raises(IntegrityError):
            async with in_transaction():
                await Action.create(cohort_id="c1", key="prompt:1:alice@x", kind="prompt",
                                    done_at=at(5, 9))
        await Action.create(cohort_id="c2", key="prompt:1:alice@x", kind="prompt", done_at=at(5, 9))
        assert await Action.filter(key="prompt:1:alice@x").count() == 2
    finally:
        await db.close_database()


async def test_a_migration_stopped_half_way_is_done_on_the_next_start(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    people = await write_v5_history(db_url)
    version, what, before, _ = db.MIGRATIONS[-1]

    async def crash() -> None:  # the daemon dies after the new tables, before the copy
        raise RuntimeError("killed")

    with monkeypatch.context() as patched:
        patched.setattr(db, "MIGRATIONS", [*db.MIGRATIONS[:-1], (version, what, before, crash)])
        with pytest.raises(RuntimeError, match="killed"):
            await db.open_database(db_url)
        if db.is_postgres():  # one transaction: nothing of it is left
            assert "cb_cursor" in await tables() and "cb_mailbox_cursor" not in await tables()
        await db.close_database()

    await db.open_database(db_url)
    try:
        assert await db.schema_version() == version
        rows = await Action.all().values_list("cohort_id", "key", "kind", "done_at", "note")
        assert sorted(rows) == sorted(V5_ACTIONS)
        skip = await Action.get(cohort_id="c1", key="skip:2:alice@x")
        assert (skip.participant_id, skip.checkin_number) == (people["c1", "alice@x"], 2)  # type: ignore[attr-defined]
        assert "cb_action_v5" not in await tables()
    finally:
        await db.close_database()


def cohort_c1(tmp: Path, db_url: str) -> Config:
    """The config of cohort c1 as it stood in version 5 (the servers are never reached)."""
    path = tmp / "c1.toml"
    path.write_text(f"""
[cohort]
id = "c1"
name = "Circle one"
timezone = "UTC"
[facilitator]
name = "Helen"
email = "helen@example.org"
[mail]
address = "circle@example.org"
[checkins]
first = 2026-12-05T14:00:00
every = "1w"
count = 4
duration = "45m"
location = "https://meet.example.org/x"
prompt_before = "3d"
remind_before = "1d"
[digest]
weekday = "friday"
time = "14:00"
[[participants]]
name = "Alice"
email = "alice@x"
[[participants]]
name = "Bob"
email = "bob@x"
[smtp]
host = "127.0.0.1"
port = 9
[imap]
host = "127.0.0.1"
port = 9
username = "circle@example.org"
password_env = "CB_UPGRADE_UNUSED"
[database]
url = "{db_url}"
""")
    return load_config(path)


async def new_outbox(since: set[int]) -> list[tuple[str, str, str, int | None]]:
    rows = await OutboxMessage.exclude(id__in=list(since)).prefetch_related("participant")
    return sorted((o.cohort_id, o.kind, o.participant.email if o.participant else "", o.checkin_number)
                  for o in rows)


async def test_migrated_database_runs_on_without_repeating_version_5(db_url: str,
                                                                     tmp_path: Path) -> None:
    await write_v5_history(db_url)
    config = cohort_c1(tmp_path, db_url)
    clock = ManualClock(at(4, 16))  # check-in 1 is Saturday: its reminders are due
    async with opened(config, clock) as runtime:
        cohort = runtime.cohort()
        v5_outbox = set(await OutboxMessage.all().values_list("id", flat=True))

        done, result = await schedule_pass(cohort)
        # Alice had her prompt and reminder in version 5, Bob his prompt, both calendars
        # the series, the cohort Friday's digest: only Bob's reminder is left.
        assert [d.key for d in result.due] == ["reminder:1:bob@x"]
        assert done == 1
        assert await new_outbox(v5_outbox) == [("c1", "reminder", "bob@x", 1)]
        assert await OutboxMessage.filter(kind="prompt", checkin_number=1,
                                          participant__email="alice@x").count() == 1  # v5's own

        seen = set(await OutboxMessage.all().values_list("id", flat=True))
        clock.set(at(9, 15))  # check-in 2's prompts: Alice said "skip" for it in version 5
        done, result = await schedule_pass(cohort)
        assert [d.key for d in result.due] == ["prompt:2:bob@x"]
        assert await new_outbox(seen) == [("c1", "prompt", "bob@x", 2)]

        done, result = await schedule_pass(cohort)  # and again: nothing twice
        assert (done, result.due) == (0, [])
        assert await OutboxMessage.filter(cohort_id="c2").count() == 0  # c2 is not in this config
        recorded = await Action.filter(cohort_id="c1", key__in=["reminder:1:bob@x", "prompt:2:bob@x"])
        assert sorted((a.key, a.checkin_number) for a in recorded) == [
            ("prompt:2:bob@x", 2), ("reminder:1:bob@x", 1)]


CHILD = """
import asyncio, logging, sys, time
from service.store import db
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
async def main(url, start):
    await asyncio.sleep(max(0.0, start - time.time()))
    await db.open_database(url)
    try:
        print(await db.schema_version())
    finally:
        await db.close_database()
asyncio.run(main(sys.argv[1], float(sys.argv[2])))
"""


async def test_two_daemons_migrate_a_version_5_postgres_database_once(pg_database: str) -> None:
    people = await write_v5_history(pg_database)
    start = time.time() + 1.5  # both processes imported and waiting: they open at once
    procs = [await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, pg_database, str(start), cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE) for _ in range(2)]
    results = [await p.communicate() for p in procs]
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err.decode()
        assert out.decode().split() == [str(db.MIGRATIONS[-1][0])]
    migrated = [err.decode() for _, err in results if b"to version 6" in err]
    assert len(migrated) == 1, [err.decode() for _, err in results]

    await db.open_database(pg_database)
    try:
        rows = await Action.all().values_list("cohort_id", "key", "kind", "done_at", "note")
        assert sorted(rows) == sorted(V5_ACTIONS)  # copied once
        skip = await Action.get(cohort_id="c1", key="skip:2:alice@x")
        assert (skip.participant_id, skip.checkin_number) == (people["c1", "alice@x"], 2)  # type: ignore[attr-defined]
        assert "cb_action_v5" not in await tables()
    finally:
        await db.close_database()
