"""The `circleback` command on a deployment folder, as an operator uses it: check,
run --once, status (one line per cohort, or one cohort in full), --cohort mistakes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_many_cohorts import new_org, write_folder

from service.cli import main
from service.dev.devmail import DevMailServer

pytestmark = pytest.mark.integration


@pytest.fixture
def folder(mailserver: DevMailServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    org = new_org(mailserver, monkeypatch)
    return write_folder(tmp_path, mailserver, org, f"sqlite://{tmp_path / 'org.sqlite3'}",
                        datetime.now(UTC))


def test_a_folder_of_three_cohorts(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "is valid (3 cohort(s): alpha, beta, gamma)" in out
    assert main(["run", str(folder), "--once"]) == 0
    assert "sent 12 message(s)" in capsys.readouterr().out  # 3 cohorts x 2 people x invite+prompt
    assert main(["status", str(folder)]) == 0
    lines = capsys.readouterr().out.splitlines()
    for cohort_id in ("alpha", "beta", "gamma"):
        assert any(line.startswith(f"{cohort_id}: Cohort {cohort_id.title()} — 2 participants")
                   for line in lines), lines
    assert main(["status", str(folder), "--cohort", "beta", "--json"]) == 0
    beta = json.loads(capsys.readouterr().out)
    assert beta["cohort_id"] == "beta" and isinstance(beta["schema"], int)
    assert len(beta["participants"]) == 2
    assert {p["state"] for p in beta["participants"]} == {"active"}
    assert set(beta["participants"][0]) >= {"email", "state", "paused_until", "rsvp", "stories",
                                            "last_reply", "answered", "skipped", "gone_quiet"}
    assert "refused" in beta
    # The same cohort as a single file would print the same keys.
    assert main(["status", str(folder), "--json"]) == 0
    everything = json.loads(capsys.readouterr().out)
    assert [c["cohort_id"] for c in everything["cohorts"]] == ["alpha", "beta", "gamma"]
    assert set(everything["cohorts"][1]) == set(beta)


def test_cohort_mistakes_are_usage_errors(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["digest", str(folder), "--send-now"]) == 2
    assert "pass --cohort ID" in capsys.readouterr().err
    assert main(["status", str(folder), "--cohort", "betta"]) == 2
    assert "did you mean --cohort beta" in capsys.readouterr().err
    assert main(["digest", str(folder), "--cohort", "beta", "--send-now"]) == 0


def test_check_names_the_file_and_key(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    beta = folder / "cohorts" / "beta.toml"
    (folder / "cohorts" / "copy.toml").write_text(beta.read_text())  # the same [cohort] id
    alpha = folder / "cohorts" / "alpha.toml"
    alpha.write_text(alpha.read_text() + '\n[database]\nurl = "sqlite://other.sqlite3"\n')
    assert main(["check", str(folder)]) == 1
    err = capsys.readouterr().err
    assert f"{folder / 'cohorts' / 'copy.toml'}: [cohort.id]" in err and str(beta) in err
    assert f"{alpha}: [database]" in err and "circleback.toml" in err
