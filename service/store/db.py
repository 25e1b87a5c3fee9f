"""Open the database, create or migrate the schema, and hold per-database secrets."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from tortoise import Tortoise, connections
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from service.store.models import Setting

log = logging.getLogger("circleback.db")

SCHEMA_VERSION_KEY = "schema_version"
TOKEN_SECRET_KEY = "token_secret"


async def _columns(table: str) -> set[str]:
    conn = connections.get("default")
    if is_postgres():
        _, rows = await conn.execute_query(
            "SELECT column_name FROM information_schema.columns WHERE table_name = $1", [table])
        return {str(r["column_name"]) for r in rows}
    _, rows = await conn.execute_query(f'PRAGMA table_info("{table}")')
    return {str(r["name"]) for r in rows}


async def _add_column(table: str, column: str, ddl: str) -> bool:
    """ALTER TABLE ... ADD COLUMN, unless the column is there already (or the table is not:
    then it is created whole afterwards). True if added."""
    existing = await _columns(table)
    if not existing or column in existing:
        return False
    await connections.get("default").execute_query(f'ALTER TABLE "{table}" ADD COLUMN {ddl}')
    return True


async def _consent_columns() -> None:
    conn = connections.get("default")
    await _add_column("cb_participant", "consented", "consented BOOLEAN NOT NULL DEFAULT FALSE")
    if await _add_column("cb_story", "shared_at", "shared_at TIMESTAMP NULL"):
        # Stories from before consent existed were published as they came in.
        await conn.execute_query("UPDATE cb_story SET shared_at = received_at WHERE NOT private")
        # (its index comes with generate_schemas, after the column steps)


async def _many_cohorts_before() -> None:
    """Version 6, before the new tables: action keys become unique per cohort (the table
    is rebuilt: its primary key changes), outbox rows name the daemon that claimed them,
    inbound messages the mailbox they came from."""
    conn = connections.get("default")
    await _add_column("cb_outbox", "claim", "claim VARCHAR(255) NOT NULL DEFAULT ''")
    await _add_column("cb_inbound", "mailbox", "mailbox VARCHAR(512) NOT NULL DEFAULT ''")
    if await _columns("cb_action"):
        # A copy without constraints or indexes; generate_schemas then makes the new table.
        # A copy left by an attempt that stopped half-way (SQLite runs these steps one by
        # one) is the complete one: keep it, and the cb_action of then is remade from it.
        if not await _columns("cb_action_v5"):
            await conn.execute_query("CREATE TABLE cb_action_v5 AS SELECT * FROM cb_action")
        await conn.execute_query("DROP TABLE cb_action")
    # Cursors were per (cohort, mailbox name); now one per watched mailbox, under a new
    # table. Starting it afresh is safe: what circleback read it moved out of the inbox,
    # and whatever is still there is recognised by its Message-ID.
    await conn.execute_query("DROP TABLE IF EXISTS cb_cursor")


async def _many_cohorts_after() -> None:
    """Version 6, after the new tables: the old actions copied in, with the participant
    and check-in of skips and round wishes read once from their keys into columns."""
    conn = connections.get("default")
    if not await _columns("cb_action_v5"):
        return
    await conn.execute_query(
        "INSERT INTO cb_action (cohort_id, key, kind, done_at, note) "
        "SELECT cohort_id, key, kind, done_at, note FROM cb_action_v5")
    await conn.execute_query("DROP TABLE cb_action_v5")
    from service.store.models import Action, Participant

    people = {(p.cohort_id, p.email): p.id for p in await Participant.all()}
    for action in await Action.filter(kind__in=["skip", "round"]):
        parts = action.key.split(":")
        # skip:N:email and round:cohort:email, as version 5 wrote them
        email = parts[-1]
        number = int(parts[1]) if action.kind == "skip" and parts[1].isdigit() else None
        await Action.filter(id=action.id).update(
            participant_id=people.get((action.cohort_id, email)), checkin_number=number)


async def _participation_before() -> None:
    """Version 7, before the new tables (reactions and poll votes are new tables): a story
    counts the replies it is made of and when it last changed. (The new index on
    cb_story.participant_id comes with generate_schemas, which creates missing indexes of
    existing tables too, under the name a new database gives them.)"""
    await _add_column("cb_story", "replies", "replies INT NOT NULL DEFAULT 1")
    # TIMESTAMPTZ on PostgreSQL, as tortoise makes every datetime column there
    kind = "TIMESTAMPTZ" if is_postgres() else "TIMESTAMP"
    await _add_column("cb_story", "updated_at", f"updated_at {kind} NULL")


Step = Callable[[], Awaitable[None]]


async def _nothing() -> None:
    """Nothing to alter: migrate() creates missing tables after the column steps."""


# Ordered schema steps: (version, what, before the new tables, after them). A new table
# needs only a step that says so (migrate() creates missing tables); a new column needs
# its ALTER TABLE. Each step runs once, in order, on databases older than it; a new
# database gets the whole schema at once.
MIGRATIONS: list[tuple[int, str, Step, Step]] = [
    (1, "create the tables", _nothing, _nothing),
    (2, "remember what each participant's calendar was told", _nothing, _nothing),
    (3, "leases, so that one daemon at a time watches a mailbox", _nothing, _nothing),
    (4, "consent to share stories", _consent_columns, _nothing),
    (5, "attachments kept with their stories", _nothing, _nothing),
    (6, "many cohorts in one database: keys unique per cohort, claims, one cursor per mailbox",
     _many_cohorts_before, _many_cohorts_after),
    (7, "+1 reactions, poll votes, stories that grow by a second reply or an edit",
     _participation_before, _nothing),
]


class DatabaseError(Exception):
    """The database cannot be opened; the message says what to do."""


async def open_database(url: str) -> None:
    """Connect, then bring the schema up to date. Safe to call on every start."""
    if url.startswith("sqlite://"):
        target = url.removeprefix("sqlite://")
        if target != ":memory:":
            Path(target).parent.mkdir(parents=True, exist_ok=True)
    EXECUTOR_CACHE.clear()  # statements compiled for a database opened before this one
    try:
        await Tortoise.init(db_url=url, modules={"models": ["service.store.models"]}, use_tz=True,
                            timezone="UTC")
        await migrate()
    except (OSError, ConnectionError) as exc:
        raise DatabaseError(f"cannot open the database {redact(url)}: {exc} — check [database] url "
                            "and that the server is running") from exc
    except Exception as exc:
        if "password authentication failed" in str(exc) or "does not exist" in str(exc):
            raise DatabaseError(f"cannot open the database {redact(url)}: {exc} — check [database] "
                                "url (user, password, database name)") from exc
        raise


class OutdatedSchema(DatabaseError):
    """A looking command found a schema other than this circleback's: only ``run``
    migrates (the looking commands never change the database)."""


async def open_database_read_only(url: str) -> bool:
    """Connect for looking only: nothing is created, migrated or written, and the
    connection itself refuses writes (SQLite's query_only; PostgreSQL's
    default_transaction_read_only). False when there is no database yet: then an empty
    one is opened in memory, with the current schema, so that the looking commands can
    show the cohort as it would start. `OutdatedSchema` when the schema is older or newer
    than the code's."""
    EXECUTOR_CACHE.clear()
    if url.startswith("sqlite://"):
        target = url.removeprefix("sqlite://")
        if target == ":memory:" or not Path(target).is_file():
            await _open_empty()
            return False
    try:
        await Tortoise.init(config=_read_only_config(url), use_tz=True, timezone="UTC")
        found = await schema_version() if await _columns("cb_meta") else None
    except (OSError, ConnectionError) as exc:
        raise DatabaseError(f"cannot open the database {redact(url)}: {exc} — check [database] url "
                            "and that the server is running") from exc
    except Exception as exc:
        if "password authentication failed" in str(exc) or "does not exist" in str(exc):
            raise DatabaseError(f"cannot open the database {redact(url)}: {exc} — check [database] "
                                "url (user, password, database name)") from exc
        raise
    if found is None:  # reachable, but circleback never ran on it
        await close_database()
        await _open_empty()
        return False
    latest = MIGRATIONS[-1][0]
    if found != latest:
        await close_database()
        if found < latest:
            raise OutdatedSchema(
                f"the database {redact(url)} has schema version {found}, older than this "
                f"circleback's ({latest}): run `circleback run CONFIG --once` to upgrade it")
        raise OutdatedSchema(
            f"the database {redact(url)} has schema version {found}, made by a newer circleback "
            f"than this one (which knows {latest}): upgrade circleback")
    return True


def _read_only_config(url: str) -> dict[str, object]:
    from tortoise.backends.base.config_generator import expand_db_url

    connection = expand_db_url(url)
    credentials = connection.setdefault("credentials", {})
    if url.startswith("sqlite://"):
        credentials["query_only"] = "ON"
        # tortoise sets journal_mode=WAL on connecting, which query_only does not stop and
        # which rewrites the file's header of a database in rollback mode: keep its mode
        # (bytes 18-19 of the header are 2 in WAL mode, SQLite file format 1.3).
        with open(url.removeprefix("sqlite://"), "rb") as f:
            header = f.read(20)
        credentials["journal_mode"] = "WAL" if header[18:20] == b"\x02\x02" else "DELETE"
    else:
        settings = credentials.setdefault("server_settings", {})
        settings["default_transaction_read_only"] = "on"
    return {"connections": {"default": connection},
            "apps": {"models": {"models": ["service.store.models"],
                                "default_connection": "default"}}}


async def _open_empty() -> None:
    await Tortoise.init(db_url="sqlite://:memory:", modules={"models": ["service.store.models"]},
                        use_tz=True, timezone="UTC")
    await Tortoise.generate_schemas(safe=True)


async def close_database() -> None:
    await Tortoise.close_connections()
    await Tortoise._reset_apps()
    # tortoise caches compiled INSERT/DELETE statements per connection name; a process that
    # opens another database afterwards (tests, `demo`) must not reuse another dialect's SQL.
    EXECUTOR_CACHE.clear()


# Any constant: the key of the PostgreSQL advisory lock that migrate() holds.
MIGRATION_LOCK = 0x63625F736368656D  # "cb_schem"


async def migrate() -> None:
    """Bring the schema up to date. On PostgreSQL in one transaction, under an advisory
    lock: two daemons starting at once on one database (or on an empty one) would otherwise
    run the same ALTER and CREATE statements side by side and one of them fail, or copy
    the old actions twice; the second now waits, then finds the schema up to date, and a
    migration that fails leaves the database as it was. (SQLite cannot do the same: the
    sqlite3 module commits before each script, and generate_schemas is one.)"""
    if not is_postgres():
        await _migrate()
        return
    async with in_transaction():
        await connections.get("default").execute_query("SELECT pg_advisory_xact_lock($1)",
                                                       [MIGRATION_LOCK])
        await _migrate()


async def _migrate() -> None:
    latest = MIGRATIONS[-1][0]
    if not await _columns("cb_meta"):  # a new database: the whole current schema at once
        await Tortoise.generate_schemas(safe=True)
        log.info("Created the database schema (version %d).", latest)
        await Setting.create(key=SCHEMA_VERSION_KEY, value=str(latest))
        return
    row = await Setting.get_or_none(key=SCHEMA_VERSION_KEY)
    current = int(row.value) if row else 0
    if current >= latest:
        return
    # Column steps first: generate_schemas also creates indexes, and an index on a column
    # an old table does not have yet would fail. Data steps after the tables exist.
    pending = [m for m in MIGRATIONS if m[0] > current]
    for version, what, before, _ in pending:
        log.info("Updating the database schema to version %d (%s).", version, what)
        await before()
    await Tortoise.generate_schemas(safe=True)  # tables (and indexes) new since then
    for _, _, _, after in pending:
        await after()
    await Setting.update_or_create(key=SCHEMA_VERSION_KEY, defaults={"value": str(latest)})


async def schema_version() -> int:
    row = await Setting.get_or_none(key=SCHEMA_VERSION_KEY)
    return int(row.value) if row else 0


async def token_secret(*, read_only: bool = False) -> bytes:
    """The HMAC key for reply tokens: made once per database, never in the config file.
    ``read_only``: a database without one never sent a token, so a throwaway key serves
    (nothing it makes can be checked against this database), and nothing is written."""
    row = await Setting.get_or_none(key=TOKEN_SECRET_KEY)
    if row is None and read_only:
        return secrets.token_bytes(32)
    if row is None:
        try:
            row = await Setting.create(key=TOKEN_SECRET_KEY, value=secrets.token_hex(32))
        except IntegrityError:  # another daemon made it first
            row = await Setting.get(key=TOKEN_SECRET_KEY)
    return bytes.fromhex(row.value)


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in creds else url
    return url


def is_postgres() -> bool:
    conn = connections.get("default")
    return "asyncpg" in type(conn).__module__ or "psycopg" in type(conn).__module__


def transaction() -> AbstractAsyncContextManager[object]:
    """One transaction (a savepoint when nested): what a flow writes in it commits
    together, or not at all. Flows use this, never the ORM directly."""
    return in_transaction()
