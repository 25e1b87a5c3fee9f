"""The `circleback` command as a facilitator uses it, against the real mail server:
what it prints and its exit codes, including when a server or a password is wrong."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cohort_kit import closed_port, cohort_config, new_people

from service.cli import main
from service.dev.devmail import DevMailServer

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parent.parent / "fixtures" / "mail"




@pytest.fixture
def config_path(mailserver: DevMailServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    people = new_people(mailserver, monkeypatch)
    config = cohort_config(tmp_path, mailserver, None,
                           people.cohort, [people.alice, people.bob], datetime.now(UTC))
    return config.path


def test_check_run_status_preview_digest(config_path: Path, capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path) -> None:
    assert main(["check", str(config_path)]) == 0
    assert "is valid" in capsys.readouterr().out

    assert main(["run", str(config_path), "--once"]) == 0
    out = capsys.readouterr().out
    assert "sent 4 message(s)" in out
    assert "Next: " in out

    assert main(["status", str(config_path)]) == 0
    table = capsys.readouterr().out
    assert "Tester <alice-" in table and "needs-action" in table

    assert main(["status", str(config_path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [p["stories"] for p in data["participants"]] == [0, 0]
    assert data["outbox"] == {"sent": 4}

    out_file = tmp_path / "digest.eml"
    assert main(["preview", "digest", "--config", str(config_path), "--out", str(out_file)]) == 0
    assert out_file.exists() and out_file.with_suffix(".html").read_text().startswith("<!DOCTYPE")

    assert main(["digest", str(config_path), "--send-now"]) == 0
    assert "Queued the digest for 3" in capsys.readouterr().out
    assert main(["run", str(config_path), "--once"]) == 0
    assert "sent 3 message(s)" in capsys.readouterr().out


def test_check_connect_logs_in_to_both_servers(config_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(config_path), "--connect"]) == 0
    assert "SMTP and IMAP logins work." in capsys.readouterr().out
    text = config_path.read_text()
    smtp_port = text.split("[smtp]")[1].split("port = ")[1].split("\n")[0]
    config_path.write_text(text.replace(f"port = {smtp_port}\n", f"port = {closed_port()}\n", 1))
    monkeypatch.setenv("CB_FLOW_PASSWORD", "not-the-password")
    assert main(["check", str(config_path), "--connect"]) == 3  # a server unreachable or refusing
    err = capsys.readouterr().err
    assert "SMTP: could not connect" in err and "IMAP: IMAP login failed" in err


def test_wrong_imap_password_is_a_clear_error(config_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CB_FLOW_PASSWORD", "not-the-password")
    assert main(["run", str(config_path), "--once"]) == 3
    err = capsys.readouterr().err
    assert "IMAP login failed" in err and "CB_FLOW_PASSWORD" in err
    assert "Traceback" not in err


def test_unreachable_smtp_keeps_mail_queued(config_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = config_path.read_text()
    smtp_port = text.split("[smtp]")[1].split("port = ")[1].split("\n")[0]
    broken = text.replace(f"port = {smtp_port}\nsecurity = \"none\"\n[imap]",
                          f"port = {closed_port()}\nsecurity = \"none\"\n[imap]")
    assert broken != text
    config_path.write_text(broken)
    assert main(["run", str(config_path), "--once"]) == 3
    err = capsys.readouterr().err
    assert "could not connect" in err and "Traceback" not in err
    capsys.readouterr()
    assert main(["status", str(config_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["outbox"] == {"queued": 4}
    # The server is back: the queued mail goes out, once.
    config_path.write_text(text)
    assert main(["run", str(config_path), "--once"]) == 0
    assert "sent 4 message(s)" in capsys.readouterr().out


def test_missing_password_variable(config_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("CB_FLOW_PASSWORD")
    assert main(["run", str(config_path), "--once"]) == 1
    err = capsys.readouterr().err
    assert "CB_FLOW_PASSWORD is not set" in err and "Traceback" not in err


def test_inspect_parses_a_reply_without_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(FIXTURES / "gmail_reply_english.eml"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["kind"] == "story"
    assert data["participant"] is None
    assert data["story"]["text"] and "wrote:" not in data["story"]["text"]
    assert set(data) >= {"kind", "participant", "story", "rsvp", "reason"}


def test_init_writes_a_config_that_check_understands(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "cohort.toml"
    assert main(["init", str(target)]) == 0
    assert main(["init", str(target)]) == 1  # never overwrites
    capsys.readouterr()
    # The starter config is valid apart from the passwords it asks for.
    assert main(["check", str(target)]) == 1
    err = capsys.readouterr().err
    assert "CIRCLEBACK_SMTP_PASSWORD is not set" in err
    assert err.count("Fix:") == 2


def test_mail_refused_for_good_exits_4_and_is_named_in_status(
        config_path: Path, mailserver: DevMailServer, capsys: pytest.CaptureFixture[str]) -> None:
    mailserver.smtp_faults.fail_next("RCPT", 550, "5.1.1 no such user")
    try:
        assert main(["run", str(config_path), "--once"]) == 4
    finally:
        mailserver.smtp_faults.clear()
    assert "1 refused" in capsys.readouterr().out
    assert main(["status", str(config_path), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    # The detail of the refused message ...
    [refused] = status["refused_messages"]
    assert refused["error"].startswith("550 ") and "5.1.1" in refused["error"]
    assert refused["kind"] == "invite"
    # ... but the address is not refused for good (its prompt, queued in the same pass,
    # went through); still, a 5xx at RCPT counts as a hard bounce: nothing more is queued
    # for that participant until the facilitator says `participants reset-bounce`.
    assert status["refused"] == []
    states = {p["email"]: p["state"] for p in status["participants"]}
    assert states.pop(refused["rcpt"]) == "bouncing"
    assert set(states.values()) == {"active"}
    assert main(["participants", "reset-bounce", str(config_path), refused["rcpt"], "--yes"]) == 0
    capsys.readouterr()
    assert main(["status", str(config_path), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert {p["state"] for p in status["participants"]} == {"active"}
    assert main(["run", str(config_path), "--once"]) == 0  # nothing refused this time
