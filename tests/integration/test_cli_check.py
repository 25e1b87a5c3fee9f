"""`circleback check` on what a new facilitator writes: the example copied unchanged, a
series already begun, a mistyped address. (No server is reached: no --connect.)"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest

from service.cli import main
from service.paths import example_config

pytestmark = pytest.mark.integration


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIRCLEBACK_SMTP_PASSWORD", "x")
    monkeypatch.setenv("CIRCLEBACK_IMAP_PASSWORD", "x")


def test_the_example_copied_unchanged_is_said_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("CIRCLEBACK_SMTP_PASSWORD", raising=False)
    monkeypatch.delenv("CIRCLEBACK_IMAP_PASSWORD", raising=False)
    path = tmp_path / "cohort.toml"
    path.write_text(example_config(), encoding="utf-8")
    assert main(["check", str(path)]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "The config has 3 problems:"
    assert lines[1].startswith(f"  {path}: [cohort] is config/example.toml unchanged")
    assert "CIRCLEBACK_SMTP_PASSWORD is not set" in lines[2]


def test_a_begun_series_and_example_values_are_notes(tmp_path: Path, secrets: None,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    # The example, its first check-in three weeks ago (every two weeks: one more is over).
    first = date.today() - timedelta(days=21)
    path = tmp_path / "cohort.toml"
    path.write_text(re.sub(r"(?m)^first = \S+", f"first = {first.isoformat()}T12:00:00",
                           example_config(), count=1), encoding="utf-8")
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Check-ins 1 and 2 (" in out and "are over: no prompt or reminder goes out" in out
    assert "Next: check-in 3 on " in out
    assert "Still the example's: cohort.id, cohort.name, facilitator.email" in out
    assert f"{path} is valid." in out


def test_a_mistyped_address_fails_with_the_address_meant(tmp_path: Path, secrets: None,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    first = date.today() + timedelta(days=7)
    text = re.sub(r"(?m)^first = \S+", f"first = {first.isoformat()}T12:00:00", example_config())
    path = tmp_path / "cohort.toml"
    path.write_text(text.replace("bob@example.com", "bob@gmial.com").replace(
        '"America/New_York"', '"US/Eastern"', 1), encoding="utf-8")
    assert main(["check", str(path)]) == 1
    out, err = capsys.readouterr()
    assert err.strip() == (f"{path}: [participants[2].email] \"bob@gmial.com\" looks like a typo "
                           "of gmail.com. Fix: did you mean \"bob@gmail.com\"?")
    assert "cohort.timezone: \"US/Eastern\" is an old name for \"America/New_York\"" in out
