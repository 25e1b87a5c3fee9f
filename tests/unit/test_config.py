from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from service.config import ConfigError, load_config
from service.paths import example_config

GOOD = """
[cohort]
id = "orlando-2026"
name = "Kick-start"
timezone = "America/New_York"

[facilitator]
name = "Helen"
email = "helen@example.org"

[mail]
address = "circle@example.org"

[checkins]
first = 2026-12-01T12:00:00
every = "2w"
count = 6
duration = "45m"
location = "https://meet.example.org/orlando"
prompt_before = "2d"
remind_before = "1d"

[[participants]]
name = "Alice Example"
email = "Alice@Example.com"
timezone = "Europe/London"

[[participants]]
name = "Bob"
email = "bob@example.com"

[smtp]
host = "127.0.0.1"
port = 587

[imap]
host = "127.0.0.1"
username = "circle@example.org"
password_env = "CB_TEST_IMAP_PW"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cohort.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str, **kw: bool) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), **kw)
    return [f"{p.key}: {p.message} / {p.fix}" for p in info.value.problems]


def test_good_config_loads(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.cohort.id == "orlando-2026"
    assert config.checkins.rrule == "FREQ=WEEKLY;INTERVAL=2;COUNT=6"
    assert config.checkins.first.utcoffset() == timedelta(hours=-5)
    assert config.participants[0].email == "alice@example.com"
    assert config.participants[0].timezone == "Europe/London"
    assert config.participants[1].timezone == "America/New_York"
    assert config.imap.port == 993 and config.imap.security == "tls"
    assert config.mail.reply_address("abc") == "circle+abc@example.org"
    # a relative SQLite path is relative to the config file, not the working directory
    assert config.database_url == f"sqlite://{(tmp_path / 'circleback.sqlite3').resolve()}"


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    bad = GOOD.replace('"America/New_York"', '"America/New_Yrok"').replace(
        'email = "bob@example.com"', 'email = "bob at example"').replace(
        'prompt_before = "2d"', 'prompt_bfore = "2d"').replace("port = 587", 'port = "587"')
    found = problems(tmp_path, bad)
    assert any(p.startswith("cohort.timezone") and "America/New_York" in p for p in found)
    assert any(p.startswith("participants[2].email") for p in found)
    assert any(p.startswith("checkins.prompt_bfore") and "did you mean `prompt_before`" in p
               for p in found)
    assert any(p.startswith("smtp.port") and "whole number" in p for p in found)
    assert len(found) == 4


def test_missing_password_variable_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CB_TEST_IMAP_PW", raising=False)
    found = problems(tmp_path, GOOD, require_secrets=True)
    assert found == ["imap.password_env: the environment variable CB_TEST_IMAP_PW is not set / "
                     "export CB_TEST_IMAP_PW=... before starting circleback"]
    monkeypatch.setenv("CB_TEST_IMAP_PW", "x")
    assert load_config(write(tmp_path, GOOD), require_secrets=True).imap.password() == "x"


def test_duplicate_participant_and_own_address(tmp_path: Path) -> None:
    bad = GOOD.replace('email = "bob@example.com"', 'email = "alice@example.com"')
    bad += '\n[[participants]]\nname = "Loop"\nemail = "circle@example.org"\n'
    found = problems(tmp_path, bad)
    assert any("listed twice" in p for p in found)
    assert any("cohort's own address" in p for p in found)


def test_rrule_must_end(tmp_path: Path) -> None:
    bad = GOOD.replace('every = "2w"\ncount = 6', 'rrule = "FREQ=WEEKLY;BYDAY=TU"')
    assert any("has no end" in p for p in problems(tmp_path, bad))


def test_nonexistent_local_time_is_refused(tmp_path: Path) -> None:
    # 2027-03-14 02:30 does not exist in New York (clocks jump from 2:00 to 3:00).
    bad = GOOD.replace("2026-12-01T12:00:00", "2027-03-14T02:30:00")
    assert any("does not exist" in p for p in problems(tmp_path, bad))


def test_broken_toml_names_the_file(tmp_path: Path) -> None:
    found = problems(tmp_path, "[cohort\nid = 1")
    assert found[0].startswith("-: is not valid TOML")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.toml")
    assert "circleback init" in info.value.problems[0].fix


def test_example_config_is_valid(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, example_config()))
    assert config.cohort.id == "orlando-2026"
    assert len(config.participants) == 2


def test_a_location_on_two_lines_is_refused(tmp_path: Path) -> None:
    from tests.unit.conftest import COHORT_TOML

    path = tmp_path / "cohort.toml"
    path.write_text(COHORT_TOML.replace('location = "https://meet.example.org/x"',
                                        'location = "https://meet.example.org/x\\nBCC: x"'))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert [p.key for p in caught.value.problems] == ["checkins.location"]


def test_pasted_names_spaces_and_double_dots_are_refused_with_the_bare_address(
        tmp_path: Path) -> None:
    bad = GOOD.replace('"Alice@Example.com"', '"Alice Example <alice@example.com>"').replace(
        'email = "bob@example.com"', 'email = "bob@example..com"')
    bad += '\n[[participants]]\nname = "Carol"\nemail = "carol @example.com"\n'
    found = problems(tmp_path, bad)
    assert found == [
        'participants[1].email: "Alice Example <alice@example.com>" has a name or a mailto: '
        'around the address / write only the address: "alice@example.com"',
        'participants[2].email: "bob@example..com" is not an email address (it has two dots '
        'in a row) / did you mean "bob@example.com"?',
        'participants[3].email: "carol @example.com" is not an email address (it contains a '
        'space) / did you mean "carol@example.com"?',
    ]


def test_international_domains_load_in_their_smtp_form(tmp_path: Path) -> None:
    text = GOOD.replace('"Alice@Example.com"', '"alice@Bücher.example"').replace(
        'address = "circle@example.org"', 'address = "kreis@straße.example"')
    config = load_config(write(tmp_path, text))
    assert config.participants[0].email == "alice@xn--bcher-kva.example"
    assert config.mail.reply_address("t") == "kreis+t@xn--strae-oqa.example"


def test_a_mistyped_but_well_formed_address_loads_for_check_to_refuse(tmp_path: Path) -> None:
    # A running cohort keeps running; `circleback check` names it (service.core.checks).
    config = load_config(write(tmp_path, GOOD.replace('"bob@example.com"', '"bob@gmial.com"')))
    assert config.participants[1].email == "bob@gmial.com"


def test_a_misspelt_zone_suggests_the_current_name(tmp_path: Path) -> None:
    bad = GOOD.replace('"Europe/London"', '"Europe/Londn"').replace(
        'email = "bob@example.com"', 'email = "bob@example.com"\ntimezone = "Asia/Calcuta"')
    found = problems(tmp_path, bad)
    assert found == [
        'participants[1].timezone: "Europe/Londn" is not a time zone / did you mean "Europe/London"?',
        'participants[2].timezone: "Asia/Calcuta" is not a time zone / did you mean "Asia/Kolkata"?',
    ]
    # An old alias still loads (calendars keep working); `check` suggests the current name.
    config = load_config(write(tmp_path, GOOD.replace('"Europe/London"', '"US/Eastern"')))
    assert config.participants[0].timezone == "US/Eastern"
