"""`circleback init`: answers checked one by one, written over the commented example (its
comments kept), from flags or from questions in a real terminal."""

from __future__ import annotations

import contextlib
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from service.cli import main
from service.config import load_config
from service.config.starter import collect_answers, parse_people
from service.paths import example_config

FLAGS = ["--name", "Spring circle", "--timezone", "Europe/Paris", "--first", "2031-03-04 18:30",
         "--every", "1w", "--count", "4", "--location", "https://meet.school.test/spring",
         "--facilitator-name", "Hélène", "--facilitator-email", "helene@school.test",
         "--address", "circle@school.test", "--smtp-host", "smtp.school.test",
         "--smtp-security", "tls", "--imap-host", "imap.school.test"]


def comments(text: str) -> list[str]:
    return [line.split("#", 1)[1].strip() for line in text.splitlines() if "#" in line]


def test_flags_make_a_config_that_loads_and_keeps_the_comments(tmp_path: Path) -> None:
    target = tmp_path / "cohort.toml"
    assert main(["init", str(target), "--no-input", *FLAGS,
                 "--participant", "Ada Lovelace <ada@school.test>, bob@school.test"]) == 0
    config = load_config(target)
    assert config.cohort.name == "Spring circle" and config.cohort.id == "spring-circle-2031"
    assert config.cohort.timezone == "Europe/Paris"
    assert config.checkins.first.isoformat().startswith("2031-03-04T18:30")
    assert config.checkins.count == 4 and config.checkins.every == "1w"
    assert config.facilitator.email == "helene@school.test"
    assert config.mail.address == "circle@school.test"
    # port and usernames follow from the security and the address
    assert (config.smtp.host, config.smtp.port, config.smtp.security) == ("smtp.school.test", 465, "tls")
    assert config.smtp.username == config.imap.username == "circle@school.test"
    assert [(p.name, p.email) for p in config.participants] == [
        ("Ada Lovelace", "ada@school.test"), ("bob", "bob@school.test")]
    # every comment of the example is still there (the participants' own one aside)
    kept = comments(target.read_text(encoding="utf-8"))
    missing = [c for c in comments(example_config()) if c not in kept]
    assert missing == ["optional; default: the cohort's zone"]
    # and the comments still line up in their column
    line = next(x for x in target.read_text().splitlines() if x.startswith("timezone = "))
    assert line.index("#") == 39


def test_without_a_terminal_or_flags_it_writes_the_example(tmp_path: Path) -> None:
    target = tmp_path / "cohort.toml"
    assert main(["init", str(target)]) == 0
    written, example = target.read_text(), example_config()
    assert comments(written) == comments(example)
    different = [(a, b) for a, b in zip(written.splitlines(), example.splitlines(), strict=True)
                 if a != b]
    assert len(different) == 1 and different[0][0].startswith("first = ")


def test_a_bad_flag_is_a_usage_error_naming_it(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", str(tmp_path / "c.toml"), "--timezone", "Mars/Olympus"]) == 2
    err = capsys.readouterr().err
    assert "--timezone" in err and "Region/City" in err
    assert not (tmp_path / "c.toml").exists()
    assert main(["init", str(tmp_path / "c.toml"), "--first", "next tuesday"]) == 2
    assert "2027-01-12 15:00" in capsys.readouterr().err


def test_questions_ask_again_until_an_answer_passes() -> None:
    replies = iter(["Autumn circle", "US/Nowhere", "Asia/Tokyo", "", "8", "", "Kenji",
                    "not-an-address", "kenji@school.test", "circle@school.test", "", "none",
                    "", "", "", "starttls", "", ""])
    asked: list[tuple[str, str]] = []
    said: list[str] = []

    def ask(question: str, default: str) -> str:
        asked.append((question, default))
        return next(replies)

    answers = collect_answers(example_config(), {"every": "2w"}, ask, said.append)
    assert next(replies, None) is None  # every reply used
    assert answers["timezone"] == "Asia/Tokyo" and answers["count"] == "8"
    assert any("not a time zone name" in s for s in said)
    assert any("not an email address" in s for s in said)
    assert "every" not in [q for q, _ in asked if q.startswith("Every")]  # given as a flag
    defaults = dict(asked)
    assert defaults["SMTP server"] == "smtp.school.test"  # from the address
    assert answers["smtp_port"] == "25" and answers["imap_port"] == "143"  # from the security
    assert answers["imap_username"] == "circle@school.test"
    assert answers["location"] == "https://meet.example.org/orlando"  # the example's, kept


def test_people_are_parsed_and_checked() -> None:
    assert parse_people("A B <a@x.test>,c@y.test") == [("A B", "a@x.test"), ("c", "c@y.test")]
    with pytest.raises(ValueError, match="not an email address"):
        parse_people("Someone <nobody>")


def test_in_a_real_terminal_it_asks(tmp_path: Path) -> None:
    target = tmp_path / "cohort.toml"
    answers = ["Winter circle", "Europe/Berlin", "2031-01-07 17:00", "2w", "5",
               "https://meet.test/w", "Helen", "helen@school.test", "circle@school.test",
               "", "", "", "", "", "", "", "", "Ada <ada@school.test>"]
    primary, secondary = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "service.cli", "init", str(target)],
                               stdin=secondary, stdout=secondary, stderr=secondary,
                               cwd=Path(__file__).parents[2], close_fds=True)
    os.close(secondary)
    screen = b""
    deadline = time.monotonic() + 60
    sent = False
    try:
        while process.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select([primary], [], [], 0.2)
            if ready:
                try:
                    screen += os.read(primary, 4096)
                except OSError:
                    break
            if not sent and b"Cohort name" in screen:
                # The terminal keeps typed lines until each question reads one.
                os.write(primary, "".join(a + "\n" for a in answers).encode())
                sent = True
        process.wait(timeout=10)
        with contextlib.suppress(OSError):
            while select.select([primary], [], [], 0.2)[0]:
                screen += os.read(primary, 4096)
    finally:
        os.close(primary)
    text = screen.decode(errors="replace")
    assert process.returncode == 0, text
    assert "Cohort name [Kick-start your social learning journey]:" in text
    assert "Wrote " in text and "circleback check" in text
    config = load_config(target)
    assert config.cohort.name == "Winter circle" and config.cohort.timezone == "Europe/Berlin"
    assert config.smtp.host == "smtp.school.test" and config.imap.port == 993
    assert [p.email for p in config.participants] == ["ada@school.test"]
