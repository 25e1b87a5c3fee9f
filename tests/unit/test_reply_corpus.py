"""An evaluation corpus for reply trimming: real clients, many languages, end to end.

Each `tests/fixtures/replies/NAME.eml` is a reply to a check-in prompt as a mail client
formats it; `NAME.expected.txt` is what the participant wrote, decided by hand. The story
text from `classify` must match it exactly (after normalising line ends, trailing
whitespace and leading/trailing blank lines). The aggregate test reports every miss at once.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from service.inbound.classify import classify

REPLIES = Path(__file__).resolve().parents[1] / "fixtures" / "replies"
NAMES = sorted(p.stem for p in REPLIES.glob("*.eml"))
MIN_EXACT = 0.90


def _normalise(text: str) -> str:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return "\n".join(lines).strip("\n")


def _story_text(name: str) -> str:
    _, verdict = classify((REPLIES / f"{name}.eml").read_bytes(), None)
    return _normalise(verdict.story.text) if verdict.story else ""


def _expected(name: str) -> str:
    return _normalise((REPLIES / f"{name}.expected.txt").read_text(encoding="utf-8"))


def test_corpus_is_complete() -> None:
    assert len(NAMES) >= 45
    missing = [n for n in NAMES if not (REPLIES / f"{n}.expected.txt").exists()]
    assert not missing, f"fixtures without an .expected.txt: {missing}"


@pytest.mark.parametrize("name", NAMES)
def test_reply_is_trimmed_to_what_the_participant_wrote(name: str) -> None:
    assert _story_text(name) == _expected(name)


def test_corpus_exact_match_rate() -> None:
    failures: list[str] = []
    for name in NAMES:
        got, want = _story_text(name), _expected(name)
        if got != want:
            failures.append(f"--- {name}\nexpected:\n{want}\n\ngot:\n{got}\n")
    rate = 1 - len(failures) / len(NAMES)
    report = "\n".join(failures)
    assert rate >= MIN_EXACT, f"{rate:.0%} exact ({len(failures)} of {len(NAMES)} differ):\n{report}"
