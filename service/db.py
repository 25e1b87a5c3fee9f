"""Open the database, create or migrate the schema, and hold per-database secrets."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path

from tortoise import Tortoise, connections
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.exceptions import IntegrityError

from service.models import Setting

log = logging.getLogger("circleback.db")

SCHEMA_VERSION_KEY = "schema_version"
TOKEN_SECRET_KEY = "token_secret"


async def _create_schema() -> None:
    await Tortoise.generate_schemas(safe=True)


async def _consent_columns() -> None:
    db = connections.get("default")
    await db.execute_script(
        "ALTER TABLE cb_participant ADD COLUMN consented BOOLEAN NOT NULL DEFAULT FALSE;\n"
        "ALTER TABLE cb_story ADD COLUMN shared_at TIMESTAMP NULL;\n"
        "UPDATE cb_story SET shared_at = received_at WHERE private = FALSE;\n"
        "CREATE INDEX idx_cb_story_shared_at ON cb_story (shared_at);")


# Ordered schema steps. A new table needs only a step that says so (generate_schemas
# creates missing tables); a new column needs its ALTER TABLE. Each step runs once, in
# order, on databases older than it; a new database gets the whole schema at once.
MIGRATIONS: list[tuple[int, str, Callable[[], Awaitable[None]]]] = [
    (1, "create the tables", _create_schema),
    (2, "remember what each participant's calendar was told", _create_schema),
    (3, "leases, so that one daemon at a time watches a mailbox", _create_schema),
    (4, "consent to share stories", _consent_columns),
]


class DatabaseError(Exception):
    """The database cannot be opened; the message says what to do."""


async def open_database(url: str) -> None:
    """Connect, then bring the schema up to date. Safe to call on every start."""
    if url.startswith("sqlite://"):
        target = url.removeprefix("sqlite://")
        if target != ":memory:":
            Path(target).parent.mkdir(parents=True, exist_ok=True)
    try:
        await Tortoise.init(db_url=url, modules={"models": ["service.models"]}, use_tz=True,
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
    # Missing tables (all of them, in a new database) are created first; then the column
    # steps the database has not seen run in order.
    await Tortoise.generate_schemas(safe=True)
    row = await Setting.get_or_none(key=SCHEMA_VERSION_KEY)
    if row is None:  # a new database: generate_schemas made the current schema
        latest = MIGRATIONS[-1][0]
        log.info("Created the database schema (version %d).", latest)
        await Setting.create(key=SCHEMA_VERSION_KEY, value=str(latest))
        return
    current = int(row.value)
    for version, what, step in MIGRATIONS:
        if version <= current:
            continue
        log.info("Updating the database schema to version %d (%s).", version, what)
        await step()
        await Setting.update_or_create(key=SCHEMA_VERSION_KEY, defaults={"value": str(version)})


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
