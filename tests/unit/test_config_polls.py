"""[[polls]] in the config (service/config/polls.py) and when a poll is open (service/core/polls.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_config import GOOD, problems, write

from service.config import load_config
from service.config.polls import RESERVED_ANSWERS
from service.core.polls import poll_times, tally
from service.inbound.controls import _ALONE

POLL = """
[[polls]]
question = "How often should we meet after this round?"
options = ["Weekly", "Every two weeks", "Monthly"]
checkin = 5
"""


def test_a_poll_loads_with_its_options(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD + POLL))
    poll = config.poll_for(5)
    assert poll is not None and poll.options == ("Weekly", "Every two weeks", "Monthly")
    assert poll.question.startswith("How often") and poll.closes_at is None
    assert config.poll_for(4) is None


@pytest.mark.parametrize(("entry", "key", "words"), [
    ('question = "Q?"\noptions = ["Only one"]\ncheckin = 2', "polls[1].options", "2 to 5"),
    ('question = "Q?"\noptions = ["a", "b", "c", "d", "e", "f"]\ncheckin = 2', "polls[1].options",
     "2 to 5"),
    ('question = "Q?"\noptions = "Weekly, Monthly"\ncheckin = 2', "polls[1].options", "a list"),
    ('question = "Q?"\noptions = ["Weekly", 2]\ncheckin = 2', "polls[1].options", "strings"),
    ('question = "Q?"\noptions = ["Weekly", "weekly!"]\ncheckin = 2', "polls[1].options", "twice"),
    ('question = "Q?"\noptions = ["Weekly", "3"]\ncheckin = 2', "polls[1].options", "number"),
    ('question = "Q?"\noptions = ["Go on", "Stop"]\ncheckin = 2', "polls[1].options", "reword"),
    ('question = "Q?"\noptions = ["Go on", "Wrap up"]\ncheckin = 2', "polls[1].options", "reword"),
    ('question = "Q?"\noptions = ["Weekly", "  "]\ncheckin = 2', "polls[1].options", "no words"),
    ('question = "  "\noptions = ["Weekly", "Monthly"]\ncheckin = 2', "polls[1].question", "empty"),
    ('options = ["Weekly", "Monthly"]\ncheckin = 2', "polls[1].question", "missing"),
    ('question = "Q?"\noptions = ["Weekly", "Monthly"]', "polls[1].checkin", "missing"),
    ('question = "Q?"\noptions = ["Weekly", "Monthly"]\ncheckin = 9', "polls[1].checkin", "1 to 6"),
    ('question = "Q?"\noptions = ["Weekly", "Monthly"]\ncheckin = 0', "polls[1].checkin", "from 1"),
    ('question = "Q?"\noptions = ["Weekly", "Monthly"]\ncheckin = 2\nclosses = 3', "polls[1].closses",
     "closes"),
    ('question = "Q?"\noptions = ["Weekly", "Monthly"]\ncheckin = 2\ncloses = 2', "polls[1].closes",
     "later check-in"),
    ('question = "Q?"\noptions = ["Weekly", "Monthly"]\ncheckin = 2\ncloses = 8', "polls[1].closes",
     "1 to 6"),
    ('question = "Q?"\noptions = ["Weekly", "Monthly"]\ncheckin = 2\ncloses = 2020-01-01',
     "polls[1].closes", "after the check-in"),
    ('question = "Q?"\noptions = ["Weekly", "Monthly"]\ncheckin = 2\ncloses = "soon"',
     "polls[1].closes", "2027-01-15"),
])
def test_a_bad_poll_names_its_key_and_the_fix(tmp_path: Path, entry: str, key: str,
                                              words: str) -> None:
    found = problems(tmp_path, GOOD + "\n[[polls]]\n" + entry + "\n")
    mine = [p for p in found if p.startswith(key + ":")]
    assert mine, found
    assert any(words in p for p in mine), mine


def test_problems_name_the_file(tmp_path: Path) -> None:
    from service.config import ConfigError

    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, GOOD + '[[polls]]\nquestion = "Q?"\noptions = ["a"]\ncheckin = 2\n'))
    assert str(info.value).startswith(str(tmp_path / "cohort.toml"))


def test_two_polls_on_one_checkin_and_a_cancelled_checkin_are_refused(tmp_path: Path) -> None:
    twice = POLL + POLL.replace("How often", "Where")
    assert any("has two polls" in p for p in problems(tmp_path, GOOD + twice))
    cancelled = GOOD.replace('remind_before = "1d"', 'remind_before = "1d"\ncancelled = [5]')
    assert any("cancelled" in p for p in problems(tmp_path, cancelled + POLL))


def test_every_control_word_is_reserved_for_options() -> None:
    assert set(_ALONE) <= RESERVED_ANSWERS


def test_default_close_is_the_next_prompt_and_closes_can_be_a_checkin_or_a_date(
        tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD + POLL))
    poll = config.poll_for(5)
    assert poll is not None
    times = poll_times(config, poll)
    assert times is not None
    # check-ins every two weeks from 1 Dec, 12:00 New York; prompts two days before
    fifth = datetime(2027, 1, 26, 17, tzinfo=UTC)
    assert times.opens == fifth - timedelta(days=2)
    assert times.closes == fifth + timedelta(weeks=2) - timedelta(days=2)
    assert not times.is_open(times.opens - timedelta(seconds=1)) and times.is_open(times.opens)
    assert not times.is_open(times.closes)

    on_last = load_config(write(tmp_path, GOOD + POLL.replace("checkin = 5", "checkin = 6")))
    last = on_last.poll_for(6)
    assert last is not None and (t := poll_times(on_last, last)) is not None
    assert t.closes == fifth + timedelta(weeks=2, minutes=45)  # when the last call ends

    by_number = load_config(write(tmp_path, GOOD + POLL.replace("checkin = 5", "checkin = 2\ncloses = 4")))
    p2 = by_number.poll_for(2)
    assert p2 is not None and (t := poll_times(by_number, p2)) is not None
    assert t.closes == datetime(2027, 1, 12, 17, tzinfo=UTC) - timedelta(days=2)

    by_date = load_config(write(tmp_path, GOOD + POLL + "closes = 2027-02-01\n"))
    p5 = by_date.poll_for(5)
    assert p5 is not None and (t := poll_times(by_date, p5)) is not None
    assert t.closes == datetime(2027, 2, 1, 5, tzinfo=UTC)  # midnight in New York


def test_tally_counts_each_participant_once_and_skips_unknown_options(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD + POLL))
    poll = config.poll_for(5)
    assert poll is not None
    result = tally(poll, {1: 2, 2: 2, 3: 1, 4: 9})
    assert result.counts == (1, 2, 0) and result.voters == 3 and result.leaders == (2,)
    assert tally(poll, {}).leaders == ()


def test_the_example_configs_commented_poll_is_valid(tmp_path: Path) -> None:
    from service.paths import example_config

    lines = example_config().splitlines()
    start = lines.index("# [[polls]]")
    poll = "\n".join(line.removeprefix("# ") for line in lines[start:start + 5])
    config = load_config(write(tmp_path, GOOD + "\n" + poll + "\n"))
    assert len(config.polls) == 1 and len(config.polls[0].options) == 3


def test_a_cohort_file_of_a_deployment_may_have_polls(tmp_path: Path) -> None:
    from test_deployment import cohort_toml, make

    from service.config import load_deployment

    path = make(tmp_path, spring=cohort_toml("spring", extra=POLL.replace("checkin = 5", "checkin = 2")))
    config = load_deployment(path).cohort("spring")
    assert config.poll_for(2) is not None


def test_polls_in_circleback_toml_belong_to_a_cohort_file(tmp_path: Path) -> None:
    from test_deployment import SHARED, cohort_toml, make, problems_of

    path = make(tmp_path, shared=SHARED + POLL, spring=cohort_toml("spring"))
    found = [p for p in problems_of(path) if p.key == "polls"]
    assert found and "belongs to one cohort" in found[0].message
