"""The commands that change a cohort, as a facilitator runs them, through the real mail
servers: `participants import|add|remove|pause|resume`, `reschedule`, `cancel`. Each
announces what it sends; what arrives in the participants' mailboxes is exactly that."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path

import icalendar
import pytest
from cohort_kit import PASSWORD, People, cohort_config, inbox, new_people

from service.cli import main
from service.config import load_config
from service.dev.devmail import DevMailServer
from service.store import db, leases

pytestmark = pytest.mark.integration

COMMENT = "# Kept by every edit: the facilitator's own note.\n"


@pytest.fixture
def people(mailserver: DevMailServer, monkeypatch: pytest.MonkeyPatch) -> People:
    return new_people(mailserver, monkeypatch)


@pytest.fixture
def config_path(mailserver: DevMailServer, tmp_path: Path, people: People,
                request: pytest.FixtureRequest) -> Path:
    """Alice and Bob; three weekly check-ins from five days on (no prompt or digest due
    yet, so a pass sends calendar mail only); a comment of the facilitator's. SQLite, or
    with ``db_url`` requested by the test, also PostgreSQL."""
    url = request.getfixturevalue("db_url") if "db_url" in request.fixturenames else None
    config = cohort_config(tmp_path, mailserver, url, people.cohort, [people.alice, people.bob],
                           datetime.now(UTC), first_in=timedelta(days=5))
    text = config.path.read_text()
    config.path.write_text(text.replace("[smtp]", COMMENT + "[smtp]", 1))
    return config.path


def run_once(config_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["run", str(config_path), "--once"]) == 0
    return capsys.readouterr().out


class Mailboxes:
    """What arrived in each mailbox since the last look."""

    def __init__(self, mail: DevMailServer) -> None:
        self.mail, self.counts = mail, dict[str, int]()

    def new(self, user: str) -> list[Message]:
        messages = asyncio.run(inbox(self.mail, user))
        start, self.counts[user] = self.counts.get(user, 0), len(messages)
        return messages[start:]


def ical(message: Message) -> icalendar.Calendar:
    part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    return icalendar.Calendar.from_ical(part.get_payload(decode=True))


def method(message: Message) -> str:
    return str(ical(message)["METHOD"])


def overrides(message: Message) -> dict[str, datetime]:
    """RECURRENCE-ID (UTC) -> DTSTART (UTC) of each overridden or cancelled occurrence."""
    return {e["RECURRENCE-ID"].dt.astimezone(UTC).strftime("%Y%m%dT%H%MZ"):
            e["DTSTART"].dt.astimezone(UTC)
            for e in ical(message).walk("VEVENT") if "RECURRENCE-ID" in e}


def status(config_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert main(["status", str(config_path), "--json"]) == 0
    return dict(json.loads(capsys.readouterr().out))


def test_import_a_csv_with_two_bad_rows(config_path: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    rows = [f"Person {n},person{n}@example.test,Europe/Paris," for n in range(1, 11)]
    # A quoted note that spans two lines: the rows after it are still named by their line.
    rows[0] = rows[0] + '"met at the workshop;\r\nwants the notes"'
    rows.insert(3, 'Bad Address,"person-at-example.test",,')  # line 6
    rows.insert(7, "Person 2 Again,PERSON2@example.test,,")  # line 10: a duplicate of line 4
    csv = "Full Name,E-mail Address,Time zone,Notes\r\n" + "\r\n".join(rows) + "\r\n"
    path = tmp_path / "people.csv"
    path.write_bytes(b"\xef\xbb\xbf" + csv.encode())
    before = config_path.read_text()

    assert main(["participants", "import", str(config_path), str(path), "--yes"]) == 1
    out, err = capsys.readouterr()
    assert f"{path}: line 6: " in err and "is not an email address" in err
    assert f"{path}: line 10: person2@example.test is also on line 4" in err
    assert "2 row(s) refused" in err and "Traceback" not in err
    # Nothing was ever sent for this cohort: the first run sends everything at once.
    assert "Nothing has been sent for this cohort yet" in out
    assert "the invitation to the series to 12 participants" in out

    config = load_config(config_path)
    assert [p.email for p in config.participants] == [
        *(p.email for p in load_config_text(before, config_path)),
        *(f"person{n}@example.test" for n in range(1, 11))]
    assert {p.timezone for p in config.participants[2:]} == {"Europe/Paris"}
    text = config_path.read_text()
    assert COMMENT + "[smtp]" in text
    assert text.startswith(before.split(COMMENT)[0].rstrip("\n"))
    assert main(["check", str(config_path)]) == 0
    assert "is valid" in capsys.readouterr().out

    # The same file again: the rows added (and the duplicate of one) are skipped, not
    # refused; the bad address is still refused; nothing is added.
    assert main(["participants", "import", str(config_path), str(path), "--yes"]) == 1
    out, err = capsys.readouterr()
    assert "11 row(s) already in the cohort: skipped." in out
    assert "participant already" not in err and "1 row(s) refused" in err
    assert config_path.read_text() == text


def load_config_text(text: str, like: Path) -> list[object]:
    copy = like.with_name("before.toml")
    copy.write_text(text)
    return list(load_config(copy).participants)


def test_add_then_remove_a_participant(config_path: Path, people: People, mailserver: DevMailServer,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    seen = Mailboxes(mailserver)
    carol = f"carol-{people.tag}@example.test"
    mailserver.add_user(carol, PASSWORD)
    run_once(config_path, capsys)
    assert [method(m) for m in seen.new(people.alice)] == ["REQUEST"]
    seen.new(people.bob)

    assert main(["participants", "add", str(config_path), carol, "--name", "Carol Tester",
                 "--timezone", "Europe/Lisbon", "--yes"]) == 0
    out = capsys.readouterr().out
    assert f"the invitation to the series to 1 participant: {carol}" in out
    assert "Queued 1 message(s)" in out
    assert COMMENT in config_path.read_text()
    assert run_once(config_path, capsys).count("sent 1 message(s)") == 1
    assert [method(m) for m in seen.new(carol)] == ["REQUEST"]
    assert seen.new(people.alice) == [] and seen.new(people.bob) == []

    assert main(["participants", "remove", str(config_path), carol, "--yes"]) == 0
    out = capsys.readouterr().out
    assert f"a cancellation of the whole series to 1 participant: {carol}" in out
    assert carol not in config_path.read_text() and COMMENT in config_path.read_text()
    run_once(config_path, capsys)
    cancel = seen.new(carol)
    assert [method(m) for m in cancel] == ["CANCEL"] and overrides(cancel[0]) == {}
    assert seen.new(people.alice) == [] and seen.new(people.bob) == []

    # Mistakes are clear errors, not tracebacks.
    assert main(["participants", "remove", str(config_path), carol, "--yes"]) == 1
    assert main(["participants", "add", str(config_path), people.alice, "--name", "A", "--yes"]) == 1
    assert main(["participants", "add", str(config_path), "dan@", "--name", "Dan", "--yes"]) == 1
    err = capsys.readouterr().err
    assert f"{carol} is not a participant" in err and "participant already" in err
    assert "is not an email address" in err and "Traceback" not in err


def test_pause_and_resume_show_in_status(config_path: Path, people: People,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    run_once(config_path, capsys)
    until = (datetime.now(UTC) + timedelta(days=20)).date()
    # Without --yes and without a terminal to ask in: refused, nothing changed.
    assert main(["participants", "pause", str(config_path), people.alice]) == 2
    assert "pass --yes" in capsys.readouterr().err
    assert main(["participants", "pause", str(config_path), people.alice, "--until",
                 until.isoformat(), "--yes"]) == 0
    out = capsys.readouterr().out
    assert "gets no prompts, reminders or digests until" in out and "Nothing is sent now" in out
    alice = next(p for p in status(config_path, capsys)["participants"]  # type: ignore[attr-defined]
                 if p["email"] == people.alice)
    assert alice["state"] == "paused" and alice["paused_until"]
    assert main(["participants", "resume", str(config_path), people.alice, "--yes"]) == 0
    capsys.readouterr()
    alice = next(p for p in status(config_path, capsys)["participants"]  # type: ignore[attr-defined]
                 if p["email"] == people.alice)
    assert alice["state"] == "active" and alice["paused_until"] is None

    assert main(["participants", "resume", str(config_path), people.alice, "--yes"]) == 1
    assert main(["participants", "unstop", str(config_path), people.alice, "--yes"]) == 1
    assert main(["participants", "reset-bounce", str(config_path), people.alice, "--yes"]) == 1
    assert main(["participants", "pause", str(config_path), "nobody@example.test", "--yes"]) == 1
    err = capsys.readouterr().err
    assert "not paused" in err and "not stopped" in err and "no bounces" in err
    assert "nobody@example.test is not a participant" in err and "Traceback" not in err


def _series(config_path: Path) -> list[datetime]:
    from service.core.schedule import series_checkins

    return [c.start.astimezone(UTC) for c in series_checkins(load_config(config_path).checkins)]


def test_reschedule_sends_exactly_the_update_it_announced(
        db_url: str, config_path: Path, people: People, mailserver: DevMailServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    seen = Mailboxes(mailserver)
    run_once(config_path, capsys)
    for user in (people.alice, people.bob):
        assert [method(m) for m in seen.new(user)] == ["REQUEST"]
    second = _series(config_path)[1]
    new_start = (second + timedelta(days=1, hours=3)).replace(tzinfo=None, second=0)  # cohort: UTC

    assert main(["reschedule", str(config_path), "--checkin", "2", "--to",
                 new_start.strftime("%Y-%m-%dT%H:%M"), "--yes"]) == 0
    out = capsys.readouterr().out
    shown = f"{new_start:%a} {new_start.day} {new_start:%b %Y %H:%M} UTC"
    assert (f"an updated invitation (check-in 2 moves to {shown}) to 2 participants: "
            f"{people.alice}, {people.bob}") in out
    assert "Queued 2 message(s)" in out
    text = config_path.read_text()
    assert "[[checkins.moved]]\ncheckin = 2\n" in text and COMMENT in text

    assert "sent 2 message(s)" in run_once(config_path, capsys)
    for user in (people.alice, people.bob):
        update = seen.new(user)
        assert [method(m) for m in update] == ["REQUEST"]
        assert str(update[0]["Subject"]).startswith("Updated invitation")
        assert overrides(update[0]) == {second.strftime("%Y%m%dT%H%MZ"):
                                        new_start.replace(tzinfo=UTC)}
    # The next run (a daemon reloading the same config) sends nothing more.
    assert "sent 0 message(s)" in run_once(config_path, capsys)
    assert seen.new(people.alice) == [] and seen.new(people.bob) == []

    # Mistakes: clear errors, exit 1 (a malformed time is a usage error, 2).
    third = _series(config_path)[2].replace(tzinfo=None)
    past = (datetime.now(UTC) - timedelta(hours=1)).replace(tzinfo=None)
    for argv, code, says in [
        (["--checkin", "7", "--to", new_start.isoformat()], 1, "There is no check-in 7"),
        (["--checkin", "3", "--to", past.strftime("%Y-%m-%dT%H:%M")], 1, "is in the past"),
        (["--checkin", "1", "--to", third.strftime("%Y-%m-%dT%H:%M")], 1, "Check-in 3 is at that time"),
        (["--checkin", "3", "--to", "next tuesday"], 2, "not a date and time"),
    ]:
        assert main(["reschedule", str(config_path), *argv, "--yes"]) == code
        err = capsys.readouterr().err
        assert says in err and "Traceback" not in err
    assert config_path.read_text() == text


def test_cancel_one_checkin_then_the_series(config_path: Path, people: People,
                                           mailserver: DevMailServer,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    seen = Mailboxes(mailserver)
    run_once(config_path, capsys)
    for user in (people.alice, people.bob):
        seen.new(user)
    third = _series(config_path)[2]

    assert main(["cancel", str(config_path), "--checkin", "3", "--yes"]) == 0
    out = capsys.readouterr().out
    assert f"a cancellation of check-in 3 ({third:%a} {third.day} {third:%b %Y %H:%M} UTC) to 2 " \
           f"participants: {people.alice}, {people.bob}" in out
    assert "cancelled = [3]" in config_path.read_text()
    run_once(config_path, capsys)
    for user in (people.alice, people.bob):
        cancel = seen.new(user)
        assert [method(m) for m in cancel] == ["CANCEL"]
        assert list(overrides(cancel[0])) == [third.strftime("%Y%m%dT%H%MZ")]
    assert main(["cancel", str(config_path), "--checkin", "3", "--yes"]) == 0
    assert "cancelled already" in capsys.readouterr().out

    assert main(["cancel", str(config_path), "--series", "--yes"]) == 0
    out = capsys.readouterr().out
    assert f"a cancellation of the whole series to 2 participants: {people.alice}, {people.bob}" in out
    run_once(config_path, capsys)
    for user in (people.alice, people.bob):
        cancel = seen.new(user)
        assert [method(m) for m in cancel] == ["CANCEL"] and overrides(cancel[0]) == {}
    assert "sent 0 message(s)" in run_once(config_path, capsys)
    assert COMMENT in config_path.read_text()


def test_with_a_daemon_running_the_change_is_left_to_its_reload(
        config_path: Path, people: People, mailserver: DevMailServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A daemon runs with the config it loaded: calendar mail queued behind its back would
    be undone by its next pass. So nothing is queued; its reload sends the update, once."""
    seen = Mailboxes(mailserver)
    run_once(config_path, capsys)
    for user in (people.alice, people.bob):
        seen.new(user)
    url = load_config(config_path).database_url

    async def presence(hold: bool) -> None:
        await db.open_database(url)
        try:
            name = leases.presence("otherhost:4242:cafe")
            if hold:
                await leases.acquire(name, datetime.now(UTC), holder="otherhost:4242:cafe",
                                     ttl=timedelta(minutes=5))
            else:
                await leases.release(name, holder="otherhost:4242:cafe")
        finally:
            await db.close_database()

    asyncio.run(presence(True))
    assert main(["cancel", str(config_path), "--checkin", "2", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "process 4242 on otherhost" in out and "nothing was queued here" in out
    assert status(config_path, capsys)["outbox"] == {"sent": 2}
    asyncio.run(presence(False))
    # The daemon's reload (here: the next run, with the new config) sends it, once.
    run_once(config_path, capsys)
    run_once(config_path, capsys)
    for user in (people.alice, people.bob):
        assert [method(m) for m in seen.new(user)] == ["CANCEL"]


def test_a_deployment_folder_edits_the_cohorts_own_file(
        mailserver: DevMailServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from test_many_cohorts import new_org, write_folder

    org = new_org(mailserver, monkeypatch)
    folder = write_folder(tmp_path, mailserver, org, f"sqlite://{tmp_path / 'org.sqlite3'}",
                          datetime.now(UTC))
    assert main(["run", str(folder), "--once"]) == 0
    files = {p: p.read_bytes() for p in folder.rglob("*.toml")}
    carol = f"carol-{org.tag}@example.test"
    mailserver.add_user(carol, PASSWORD)

    assert main(["participants", "add", str(folder), carol, "--name", "Carol"]) == 2  # --cohort
    assert main(["participants", "add", str(folder), "--cohort", "beta", carol, "--name", "Carol",
                 "--yes"]) == 0
    assert f"the invitation to the series to 1 participant: {carol}" in capsys.readouterr().out
    beta = folder / "cohorts" / "beta.toml"
    changed_files = [p for p, raw in files.items() if p.read_bytes() != raw]
    assert changed_files == [beta]
    assert beta.read_text().startswith(files[beta].decode().rstrip("\n"))
    assert main(["check", str(folder)]) == 0
    capsys.readouterr()
    assert main(["run", str(folder), "--once"]) == 0
    mail = asyncio.run(inbox(mailserver, carol))
    invites = [m for m in mail if m["X-Circleback-Kind"] == "invite"]
    assert len(invites) == 1 and "Cohort Beta" in str(invites[0]["Subject"])


def test_unstop_sends_the_calendar_update_they_missed(
        config_path: Path, people: People, mailserver: DevMailServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    from service.store import participants as store

    seen = Mailboxes(mailserver)
    run_once(config_path, capsys)
    for user in (people.alice, people.bob):
        seen.new(user)
    url = load_config(config_path).database_url

    async def stop_alice() -> None:
        await db.open_database(url)
        try:
            alice = await store.participant_by_email("flow", people.alice)
            assert alice is not None and await store.stop(alice)
        finally:
            await db.close_database()

    asyncio.run(stop_alice())  # she replied "stop"
    assert main(["cancel", str(config_path), "--checkin", "2", "--yes"]) == 0
    assert f"to 1 participant: {people.bob}" in capsys.readouterr().out
    run_once(config_path, capsys)
    assert [method(m) for m in seen.new(people.bob)] == ["CANCEL"]
    assert seen.new(people.alice) == []

    assert main(["participants", "unstop", str(config_path), people.alice, "--yes"]) == 0
    out = capsys.readouterr().out
    assert "a cancellation of check-in 2 (" in out and f"to 1 participant: {people.alice}" in out
    assert "Queued 1 message(s)" in out
    run_once(config_path, capsys)
    assert [method(m) for m in seen.new(people.alice)] == ["CANCEL"]
    assert seen.new(people.bob) == []
    alice = next(p for p in status(config_path, capsys)["participants"]  # type: ignore[attr-defined]
                 if p["email"] == people.alice)
    assert alice["state"] == "active"
