from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from service.config import Config, MovedCheckin, ParticipantConfig
from service.core.checks import check_config, example_copy
from service.paths import example_config


def test_checks(config: Config) -> None:
    moved = MovedCheckin(9, datetime(2026, 12, 20, 10, tzinfo=ZoneInfo("America/New_York")))
    config = dataclasses.replace(config, checkins=dataclasses.replace(
        config.checkins, cancelled=(7,), moved=(moved,)))
    problems, notes = check_config(config, now=datetime(2026, 10, 1, tzinfo=UTC))
    assert [(p.key, p.message) for p in problems] == [
        ("checkins.cancelled", "there is no check-in 7"),
        ("checkins.moved", "there is no check-in 9"),
    ]
    assert notes[0].startswith("4 check-ins from Tue 20 Oct 2026 12:00")
    late, _ = check_config(config, now=datetime(2027, 3, 1, tzinfo=UTC))
    assert any("every check-in is in the past" in p.message for p in late)
    off = dataclasses.replace(config, checkins=dataclasses.replace(config.checkins, cancel_series=True))
    _, notes = check_config(off, now=datetime(2026, 10, 1, tzinfo=UTC))
    assert "The series is cancelled" in notes[0]


NY = ZoneInfo("America/New_York")


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=NY)


def test_a_first_checkin_in_the_past_says_what_happens(config: Config) -> None:
    # Weekly from Tue 20 Oct 12:00; prompts two days before each check-in.
    problems, notes = check_config(config, now=at(10, 28, 9))
    assert problems == []
    assert notes[1] == ("Check-ins 1 and 2 (Tue 20 Oct – Tue 27 Oct) are over: no prompt or "
                        "reminder goes out for them. Invitations still go to everyone for the "
                        "whole series (calendars show the past check-ins as past).")
    # Across the end of daylight time: the prompt is 48 hours before, at noon EST.
    assert notes[2] == "Next: check-in 3 on Tue 03 Nov 2026 12:00; its prompt goes out Sun 01 Nov 12:00."


def test_a_checkin_under_way_and_a_prompt_already_due(config: Config) -> None:
    _, notes = check_config(config, now=at(10, 27, 12, 20))
    assert notes[1].startswith("Check-in 1 (Tue 20 Oct 12:00) is over and check-in 2 is under "
                               "way (until 12:45): no prompt or reminder goes out for them.")
    assert notes[2].startswith("Next: check-in 3 on Tue 03 Nov 2026 12:00; its prompt goes out")
    _, notes = check_config(config, now=at(11, 2, 9))
    assert notes[2] == ("Next: check-in 3 on Tue 03 Nov 2026 12:00. Its prompt's time has passed: "
                        "it goes out as soon as circleback runs (to anyone invited then, "
                        "15 minutes after the invitation).")
    _, notes = check_config(config, now=at(10, 19, 9))
    assert notes[1].startswith("Next: check-in 1 on Tue 20 Oct 2026 12:00. The first prompt's "
                               "time has passed")
    _, notes = check_config(config, now=at(10, 1, 9))
    assert notes[1] == "Next: check-in 1 on Tue 20 Oct 2026 12:00; its prompt goes out Sun 18 Oct 12:00."


def test_a_past_series_is_a_problem(config: Config) -> None:
    problems, _ = check_config(config, now=at(11, 10, 13))
    assert [p.key for p in problems] == ["checkins.first"]
    assert "no prompt, reminder or digest would ever go out" in problems[0].message
    assert problems[0].fix == "move `first` to the date of the next check-in"


def with_people(config: Config, *people: tuple[str, str]) -> Config:
    return dataclasses.replace(config, participants=tuple(
        ParticipantConfig(name=f"P{n}", email=email, timezone=zone)
        for n, (email, zone) in enumerate(people, start=1)))


def test_mistyped_addresses_are_problems_named_by_key(config: Config) -> None:
    config = with_people(config, ("alice@gmail.com", "America/New_York"),
                         ("bob@gmial.com", "America/New_York"), ("carol@work", "America/New_York"))
    config = dataclasses.replace(config, facilitator=dataclasses.replace(
        config.facilitator, email="helen@hotmial.com"))
    problems, _ = check_config(config, now=at(10, 1, 9))
    assert [(p.file, p.key, p.fix) for p in problems] == [
        (str(config.path), "facilitator.email", "did you mean \"helen@hotmail.com\"?"),
        (str(config.path), "participants[2].email", "did you mean \"bob@gmail.com\"?"),
        (str(config.path), "participants[3].email", "write the whole domain, e.g. \"carol@work.com\""),
    ]


def test_an_address_that_needs_smtputf8_is_a_note(config: Config) -> None:
    config = with_people(config, ("jürgen@example.de", "America/New_York"))
    problems, notes = check_config(config, now=at(10, 1, 9))
    assert problems == []
    assert any(n.startswith("participants[1].email: jürgen@example.de has non-ASCII letters")
               and "SMTPUTF8" in n for n in notes)


def test_zone_names_old_aliases_are_notes_fixed_offsets_problems(config: Config) -> None:
    config = with_people(config, ("alice@gmail.com", "Asia/Calcutta"),
                         ("bob@gmail.com", "America/New_York"))
    config = dataclasses.replace(config, cohort=dataclasses.replace(config.cohort, timezone="EST"))
    problems, notes = check_config(config, now=at(10, 1, 9))
    assert [(p.key, p.message) for p in problems] == [
        ("cohort.timezone", "\"EST\" is a fixed UTC-5 all year, without daylight saving time")]
    assert "America/New_York" in problems[0].fix
    assert "participants[1].timezone: \"Asia/Calcutta\" is an old name for \"Asia/Kolkata\"; " \
           "write \"Asia/Kolkata\" (calendar clients know the current names)." in notes
    assert not any(n.startswith("participants[2].timezone") for n in notes)


def test_example_values_are_a_note_never_a_problem(config: Config) -> None:
    problems, notes = check_config(config, now=at(10, 1, 9))
    assert problems == []
    assert notes[-1].startswith("Still the example's: facilitator.email, mail.address, "
                                "the email of 2 of 2 participants.")
    real = with_people(config, ("alice@gmail.com", "America/New_York"))
    real = dataclasses.replace(
        real, facilitator=dataclasses.replace(real.facilitator, email="helen@circle.org"),
        mail=dataclasses.replace(real.mail, address="circle@circle.org"))
    assert not any("example" in n for n in check_config(real, now=at(10, 1, 9))[1])


def test_the_untouched_example_file_is_a_problem() -> None:
    text = example_config()
    found = example_copy("cohort.toml", text)
    assert found is not None and found.key == "cohort"
    assert "config/example.toml unchanged" in found.message and "circleback init" in found.fix
    assert example_copy("cohort.toml", text.replace("\n", "\r\n")) is not None  # a Windows copy
    assert example_copy("cohort.toml", text.replace('"Helen"', '"Maria"')) is None
