"""The looking commands (status, preview, inspect, check) never create, migrate or change
the database, and never log that anyone joined: on a fresh config they leave no database
behind; on an existing one its contents (and, for SQLite, its bytes) stay as they were."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from cohort_kit import cohort_config, new_people

from service.cli import main
from service.dev.devmail import DevMailServer
from service.flows.preview import KINDS

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parent.parent / "fixtures" / "mail"


def looking_commands(config: Path, out: Path) -> list[list[str]]:
    c = str(config)
    return ([["status", c], ["status", c, "--json"], ["check", c],
             ["inspect", str(FIXTURES / "gmail_reply_english.eml"), "--config", c, "--json"]]
            + [["preview", kind, c, "--out", str(out / f"{kind}.eml")] for kind in KINDS])


async def _pg_dump(url: str) -> dict[str, list[str]]:
    conn = await asyncpg.connect(url)
    try:
        tables = [r["tablename"] for r in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")]
        return {t: sorted(str(tuple(r)) for r in await conn.fetch(f'SELECT * FROM "{t}"'))
                for t in tables}
    finally:
        await conn.close()


def snapshot(db_url: str) -> object:
    """Everything the database holds; for SQLite also the file's bytes and mtime."""
    if db_url.startswith("sqlite://"):
        path = Path(db_url.removeprefix("sqlite://"))
        with sqlite3.connect(path) as conn:
            dump = list(conn.iterdump())
        conn.close()
        return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns, dump
    return asyncio.run(_pg_dump(db_url))


def row_counts(db_url: str) -> dict[str, int]:
    if db_url.startswith("sqlite://"):
        with sqlite3.connect(db_url.removeprefix("sqlite://")) as conn:
            names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            counts = {n: conn.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0] for n in names}
        conn.close()
        return counts
    return {t: len(rows) for t, rows in asyncio.run(_pg_dump(db_url)).items()}


@pytest.fixture
def people_config(mailserver: DevMailServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                  db_url: str) -> tuple[Path, str]:
    people = new_people(mailserver, monkeypatch)
    config = cohort_config(tmp_path, mailserver, db_url, people.cohort,
                           [people.alice, people.bob], datetime.now(UTC))
    return config.path, db_url


def test_on_a_fresh_config_nothing_is_created(
        people_config: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    config, db_url = people_config
    before = row_counts(db_url) if not db_url.startswith("sqlite://") else None
    for argv in looking_commands(config, tmp_path):
        code = main(argv)
        out, err = capsys.readouterr()
        assert code == 0, (argv, err)
        assert "joined" not in out + err + caplog.text, argv
        assert "Traceback" not in err
    if db_url.startswith("sqlite://"):
        assert not Path(db_url.removeprefix("sqlite://")).exists()
    else:
        assert row_counts(db_url) == before == {}  # not even the tables
    # status says why the table is what it is, and shows the config's roster
    main(["status", str(config), "--json"])
    out, err = capsys.readouterr()
    assert "No mail has been sent yet" in err
    assert len(json.loads(out)["participants"]) == 2
    # and the same config then runs as usual, the roster joining for real this time
    assert main(["run", str(config), "--once"]) == 0
    assert "joined" in caplog.text  # what the assertions above would have caught


def test_on_an_existing_database_nothing_changes(
        people_config: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    config, db_url = people_config
    assert main(["run", str(config), "--once"]) == 0
    assert "joined" in caplog.text  # what the assertions below would catch
    # A participant added to the config since: a looking command does not add them.
    text = config.read_text()
    config.write_text(text.replace("[smtp]", '[[participants]]\nname = "Carol New"\n'
                                             'email = "carol-new@example.test"\n\n[smtp]', 1))
    capsys.readouterr()
    caplog.clear()
    before, counts = snapshot(db_url), row_counts(db_url)
    for argv in looking_commands(config, tmp_path):
        code = main(argv)
        out, err = capsys.readouterr()
        assert code == 0, (argv, err)
        assert "joined" not in out + err + caplog.text, argv
        assert "Traceback" not in err
        assert snapshot(db_url) == before, argv
    assert row_counts(db_url) == counts


def test_an_older_schema_is_named_and_left_alone(
        mailserver: DevMailServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    people = new_people(mailserver, monkeypatch)
    config = cohort_config(tmp_path, mailserver, None, people.cohort, [people.alice],
                           datetime.now(UTC)).path
    assert main(["run", str(config), "--once"]) == 0
    path = tmp_path / "cb.sqlite3"
    with sqlite3.connect(path) as conn:
        latest = int(conn.execute("SELECT value FROM cb_meta WHERE key = 'schema_version'")
                     .fetchone()[0])
        conn.execute("UPDATE cb_meta SET value = ? WHERE key = 'schema_version'", (str(latest - 1),))
    conn.close()
    capsys.readouterr()
    before = snapshot(f"sqlite://{path}")
    assert main(["status", str(config)]) == 1
    err = capsys.readouterr().err
    assert f"schema version {latest - 1}" in err
    assert "run `circleback run CONFIG --once` to upgrade" in err and "Traceback" not in err
    assert snapshot(f"sqlite://{path}") == before
    # run upgrades it, as the message says
    assert main(["run", str(config), "--once"]) == 0
    assert main(["status", str(config)]) == 0
