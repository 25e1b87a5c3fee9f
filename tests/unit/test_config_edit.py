"""Edits of a cohort file keep everything outside the edited entries byte for byte."""

from __future__ import annotations

import difflib
import tomllib
from datetime import datetime
from pathlib import Path

import pytest

from service.config import ConfigError, load_config, load_deployment
from service.config.edit import (
    EditError,
    NewParticipant,
    add_participants,
    cancel_checkin,
    cancel_series,
    edited_config,
    move_checkin,
    remove_participant,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = (ROOT / "config" / "example.toml").read_text(encoding="utf-8")


def changed(old: str, new: str) -> tuple[list[str], list[str]]:
    """(lines removed, lines added) between two texts."""
    removed, added = [], []
    for line in difflib.ndiff(old.splitlines(True), new.splitlines(True)):
        if line.startswith("- "):
            removed.append(line[2:])
        elif line.startswith("+ "):
            added.append(line[2:])
    return removed, added


def test_adding_participants_appends_whole_entries_after_the_last_one() -> None:
    new = add_participants(EXAMPLE, [NewParticipant('Carol "CJ" Ünal', "carol@example.com",
                                                    "Europe/Paris"),
                                     NewParticipant("Dan", "dan@example.com")])
    removed, added = changed(EXAMPLE, new)
    assert removed == []
    assert added == ["[[participants]]\n", 'name = "Carol \\"CJ\\" Ünal"\n',
                     'email = "carol@example.com"\n', 'timezone = "Europe/Paris"\n', "\n",
                     "[[participants]]\n", 'name = "Dan"\n', 'email = "dan@example.com"\n', "\n"]
    # Right after Bob, before [smtp], with a blank line each side.
    assert 'email = "bob@example.com"\n\n[[participants]]\nname = "Carol' in new
    assert 'email = "dan@example.com"\n\n[smtp]' in new
    people = tomllib.loads(new)["participants"]
    assert [p["email"] for p in people][-2:] == ["carol@example.com", "dan@example.com"]
    assert people[-2]["name"] == 'Carol "CJ" Ünal'


def test_removing_a_participant_removes_only_their_entry() -> None:
    new = remove_participant(EXAMPLE, "ALICE@example.com")
    block = ('[[participants]]\nname = "Alice Example"\nemail = "alice@example.com"\n'
             'timezone = "Europe/London"             # optional; default: the cohort\'s zone\n\n')
    assert block in EXAMPLE
    assert new == EXAMPLE.replace(block, "", 1)
    assert [p["email"] for p in tomllib.loads(new)["participants"]] == ["bob@example.com"]


def test_a_comment_after_the_removed_entry_stays() -> None:
    text = EXAMPLE.replace('email = "bob@example.com"\n\n[smtp]',
                           'email = "bob@example.com"\n\n# The servers circleback uses\n[smtp]')
    new = remove_participant(text, "bob@example.com")
    removed, _ = changed(text, new)
    assert "# The servers circleback uses\n" not in removed
    assert "# The servers circleback uses\n[smtp]" in new


def test_add_then_remove_gives_back_the_file() -> None:
    added = add_participants(EXAMPLE, [NewParticipant("Dan", "dan@example.com")])
    assert remove_participant(added, "dan@example.com") == EXAMPLE


def test_removing_someone_not_listed_is_an_edit_error() -> None:
    with pytest.raises(EditError, match="not listed"):
        remove_participant(EXAMPLE, "nobody@example.com")


def test_crlf_files_stay_crlf() -> None:
    text = EXAMPLE.replace("\n", "\r\n")
    new = add_participants(text, [NewParticipant("Dan", "dan@example.com")])
    assert "\n" not in new.replace("\r\n", "")
    assert new.startswith(text.split("[smtp]")[0])
    assert remove_participant(new, "dan@example.com") == text
    cancelled = cancel_checkin(text, 4)
    assert "\n" not in cancelled.replace("\r\n", "")


def test_cancelling_a_checkin_adds_one_key_line() -> None:
    new = cancel_checkin(EXAMPLE, 4)
    removed, added = changed(EXAMPLE, new)
    assert removed == [] and added == ["cancelled = [4]\n"]
    again = cancel_checkin(new, 2)
    removed, added = changed(new, again)
    assert removed == ["cancelled = [4]\n"] and added == ["cancelled = [4, 2]\n"]
    assert cancel_checkin(again, 2) == again  # cancelled already: nothing changes
    assert tomllib.loads(again)["checkins"]["cancelled"] == [4, 2]


def test_cancelled_keeps_its_comment() -> None:
    text = EXAMPLE.replace('remind_before = "1d"', 'cancelled = [5]              # the holidays\n'
                                                   'remind_before = "1d"')
    new = cancel_checkin(text, 2)
    removed, added = changed(text, new)
    assert removed == ["cancelled = [5]              # the holidays\n"]
    assert added == ["cancelled = [5, 2]              # the holidays\n"]


def test_moving_a_checkin_writes_one_moved_entry_after_checkins() -> None:
    new = move_checkin(EXAMPLE, 3, datetime(2026, 12, 17, 15, 0))
    removed, added = changed(EXAMPLE, new)
    assert removed == []
    assert added == ["\n", "[[checkins.moved]]\n", "checkin = 3\n", "start = 2026-12-17T15:00:00\n"]
    assert 'start = 2026-12-17T15:00:00\n\n[digest]' in new
    # The commented-out key of [checkins] stays in [checkins].
    assert new.index("# title = ") < new.index("[[checkins.moved]]")
    data = tomllib.loads(new)["checkins"]
    assert data["moved"] == [{"checkin": 3, "start": datetime(2026, 12, 17, 15, 0)}]

    later = move_checkin(new, 3, datetime(2026, 12, 18, 9, 30))
    assert tomllib.loads(later)["checkins"]["moved"] == [
        {"checkin": 3, "start": datetime(2026, 12, 18, 9, 30)}]
    assert changed(new, later) == (["start = 2026-12-17T15:00:00\n"], ["start = 2026-12-18T09:30:00\n"])
    assert move_checkin(later, 3, None) == EXAMPLE  # back where the series has it


def test_a_second_moved_checkin_goes_after_the_first() -> None:
    one = move_checkin(EXAMPLE, 3, datetime(2026, 12, 17, 15, 0))
    two = move_checkin(one, 5, datetime(2027, 1, 14, 15, 0))
    assert [m["checkin"] for m in tomllib.loads(two)["checkins"]["moved"]] == [3, 5]
    assert changed(one, two)[0] == []
    assert move_checkin(two, 3, None) == move_checkin(EXAMPLE, 5, datetime(2027, 1, 14, 15, 0))


def test_moving_a_cancelled_checkin_puts_it_back_on() -> None:
    cancelled = cancel_checkin(EXAMPLE, 3)
    moved = move_checkin(cancelled, 3, datetime(2026, 12, 17, 15, 0))
    data = tomllib.loads(moved)["checkins"]
    assert "cancelled" not in data and data["moved"][0]["checkin"] == 3


def test_cancelling_a_moved_checkin_drops_its_moved_entry() -> None:
    moved = move_checkin(EXAMPLE, 3, datetime(2026, 12, 17, 15, 0))
    new = cancel_checkin(moved, 3)
    data = tomllib.loads(new)["checkins"]
    assert data["cancelled"] == [3] and "moved" not in data
    assert changed(EXAMPLE, new) == ([], ["cancelled = [3]\n"])


def test_cancelling_the_series() -> None:
    new = cancel_series(EXAMPLE)
    assert changed(EXAMPLE, new) == ([], ["cancel_series = true\n"])
    assert cancel_series(new) == new


def test_a_broken_file_is_an_edit_error() -> None:
    with pytest.raises(EditError, match="not valid TOML"):
        cancel_checkin("[checkins\nfirst = 1", 2)


def test_edited_config_validates_in_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "cohort.toml"
    path.write_text(EXAMPLE)
    config = load_config(path)
    new = edited_config(config, add_participants(EXAMPLE, [NewParticipant("Dan", "dan@example.com")]))
    assert [p.email for p in new.participants][-1] == "dan@example.com"
    assert path.read_text() == EXAMPLE  # nothing written
    bad = add_participants(EXAMPLE, [NewParticipant("Dan", "dan@example.com", "Mars/Olympus")])
    with pytest.raises(ConfigError, match="Mars/Olympus"):
        edited_config(config, bad)


def test_edited_config_of_a_deployment_cohort_merges_its_circleback_toml() -> None:
    deployment = load_deployment(ROOT / "config" / "deployment")
    config = deployment.cohorts[0]
    text = config.path.read_text(encoding="utf-8")
    new = edited_config(config, cancel_checkin(text, 2))
    assert new.checkins.cancelled == (2,)
    assert new.smtp == config.smtp and new.database_url == config.database_url
    assert new.deployment_path == config.deployment_path
