"""A poll answer on the first line of a reply: "2", "2.", "option 2", "#2", "Monthly",
"2. Monthly", "I vote for monthly". Pure; the caller knows which poll the reply answers."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Vote", "parse_vote"]

_MAX_LINE = 80
# Words people put before their answer; removed once, from the start of the line.
_LEAD = re.compile(
    r"^(?:(?:i\s+)?(?:vote|choose|pick)(?:\s+for)?|my\s+(?:vote|answer|choice)(?:\s+is)?"
    r"|(?:vote|answer|choice)|option|number|no\.?|nr\.?)\s*[:\-–]?\s*"
)
_NUMBER = re.compile(r"^[#(\[]?\s*(\d{1,2})\s*[.):\]]?(?:\s*[-–:.)]?\s*(.*))?$")


@dataclass(frozen=True)
class Vote:
    option: int  # 1-based
    rest: str  # the reply without its answer line: still the participant's story


def _words(text: str) -> str:
    """Case, punctuation, emphasis and spacing left out: "**Monthly!**" -> "monthly"."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.casefold()).replace("_", " ").split())


def _option(line: str, options: Sequence[str]) -> int | None:
    text = " ".join(line.strip().strip("*_\"'“”‘’`>").split()).casefold().rstrip(".!?,;")
    if not text or len(text) > _MAX_LINE:
        return None
    spelled = {_words(o): n for n, o in enumerate(options, start=1)}
    if _words(text) in spelled:  # the option's words, before any lead ("Vote for change")
        return spelled[_words(text)]
    text = _LEAD.sub("", text, count=1).strip()
    m = _NUMBER.match(text)
    if m:
        number = int(m.group(1))
        if not 1 <= number <= len(options):
            return None
        after = _words(m.group(2) or "")
        # "2. Monthly" counts when the words are that option's; "2 things I learned" does not
        return number if not after or after == _words(options[number - 1]) else None
    return spelled.get(_words(text))


def parse_vote(text: str, options: Sequence[str]) -> Vote | None:
    """The vote on the first non-empty line of a trimmed reply, or None when that line is
    not an answer to this poll (then the whole reply is a story, as usual)."""
    lines = text.split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        return None
    option = _option(lines[first], options)
    if option is None:
        return None
    return Vote(option, "\n".join(lines[first + 1:]).strip())
