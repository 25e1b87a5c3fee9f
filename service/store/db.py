"""Open the database, create or migrate the schema, and hold per-database secrets."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path

from tortoise import Tortoise, connections
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.exceptions import IntegrityError

from service.store.models import Setting

log = logging.getLogger("circleback.db")

SCHEMA_VERSION_KEY = "schema_version"
TOKEN_SECRET_KEY = "token_secret"


async def _new_tables() -> None:
    """Nothing to alter: migrate() creates missing tables after the column steps."""


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


# Ordered schema steps. A new table needs only a step that says so (migrate() creates
# missing tables); a new column needs its ALTER TABLE. Each step runs once, in order, on
# databases older than it; a new database gets the whole schema at once.
MIGRATIONS: list[tuple[int, str, Callable[[], Awaitable[None]]]] = [
    (1, "create the tables", _new_tables),
    (2, "remember what each participant's calendar was told", _new_tables),
    (3, "leases, so that one daemon at a time watches a mailbox", _new_tables),
    (4, "consent to share stories", _consent_columns),
    (5, "attachments kept with their stories", _new_tables),
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


async def close_database() -> None:
    await Tortoise.close_connections()
    await Tortoise._reset_apps()
    # tortoise caches compiled INSERT/DELETE statements per connection name; a process that
    # opens another database afterwards (tests, `demo`) must not reuse another dialect's SQL.
    EXECUTOR_CACHE.clear()


async def migrate() -> None:
    latest = MIGRATIONS[-1][0]
    if not await _columns("cb_meta"):  # a new database: the whole current schema at once
        await Tortoise.generate_schemas(safe=True)
        log.info("Created the database schema (version %d).", latest)
        await Setting.create(key=SCHEMA_VERSION_KEY, value=str(latest))
        return
    row = await Setting.get_or_none(key=SCHEMA_VERSION_KEY)
    current = int(row.value) if row else 0
    # Column steps first: generate_schemas also creates indexes, and an index on a column
    # an old table does not have yet would fail.
    for version, what, step in MIGRATIONS:
        if version <= current:
            continue
        log.info("Updating the database schema to version %d (%s).", version, what)
        await step()
    await Tortoise.generate_schemas(safe=True)  # tables (and indexes) new since then
    if current < latest:
        await Setting.update_or_create(key=SCHEMA_VERSION_KEY, defaults={"value": str(latest)})


async def schema_version() -> int:
    row = await Setting.get_or_none(key=SCHEMA_VERSION_KEY)
    return int(row.value) if row else 0


async def token_secret() -> bytes:
    """The HMAC key for reply tokens: made once per database, never in the config file."""
    row = await Setting.get_or_none(key=TOKEN_SECRET_KEY)
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
