"""Poll answers on a reply's first line (service/inbound/votes.py)."""

from __future__ import annotations

import pytest

from service.inbound.votes import parse_vote

OPTIONS = ("Weekly", "Monthly", "Every two weeks")


@pytest.mark.parametrize(("line", "option"), [
    ("2", 2), ("2.", 2), ("2)", 2), ("(2)", 2), ("#2", 2), ("[2]", 2), (" 2 ", 2),
    ("option 2", 2), ("Option 2", 2), ("OPTION 2.", 2), ("Option 2: Monthly", 2),
    ("2. Monthly", 2), ("2 - monthly", 2), ("2) Monthly", 2),
    ("Monthly", 2), ("monthly", 2), ("MONTHLY!", 2), ("**Monthly**", 2), ("_monthly_", 2),
    ("\"Monthly\"", 2), ("monthly.", 2), ("weekly", 1), ("every two weeks", 3),
    ("Every  two   weeks!", 3), ("every-two-weeks", 3),
    ("I vote for monthly", 2), ("I vote 3", 3), ("vote: 1", 1), ("Vote: Weekly", 1),
    ("my vote: 3", 3), ("My answer is 2", 2), ("my choice: weekly", 1), ("number 1", 1),
])
def test_answers_in_many_spellings(line: str, option: int) -> None:
    vote = parse_vote(f"{line}\n\nThis week I tried pairing.", OPTIONS)
    assert vote is not None and vote.option == option
    assert vote.rest == "This week I tried pairing."


@pytest.mark.parametrize("line", [
    "2 things I learned this week", "Monthly is best for me", "4", "0", "option 7", "12",
    "2. Weekly",  # a number with another option's words: ambiguous, so a story
    "Every 2 weeks",  # not the option's words
    "I think weekly", "Hi Helen,", "", "month", "x" * 200,
])
def test_story_lines_are_not_votes(line: str) -> None:
    assert parse_vote(f"{line}\nmore text", OPTIONS) is None


def test_the_answer_alone_leaves_no_story_and_blank_lines_before_it_are_skipped() -> None:
    vote = parse_vote("\n\n  3  \n", OPTIONS)
    assert vote is not None and vote.option == 3 and vote.rest == ""
    assert parse_vote("", OPTIONS) is None and parse_vote("\n \n", OPTIONS) is None


def test_the_first_line_only_counts() -> None:
    assert parse_vote("Tried pairing.\n2", OPTIONS) is None


def test_an_option_that_starts_with_a_lead_word_is_still_matched() -> None:
    vote = parse_vote("Vote for change", ("Keep it", "Vote for change"))
    assert vote is not None and vote.option == 2
