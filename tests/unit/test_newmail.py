"""Which replies to the "share this?" answer just say yes (service/inbound/newmail.py)."""

from __future__ import annotations

import pytest

from service.inbound.newmail import is_confirmation


@pytest.mark.parametrize("text", [
    "", "  \n", "yes", "Yes!", "YES please", "ok", "Okay, thanks!", "share", "Share it.",
    "sure", "go ahead", "Yes, share it", "ja", "oui", "Sí", "👍", "Thanks!", "yes thank you",
])
def test_a_yes_confirms(text: str) -> None:
    assert is_confirmation(text)


@pytest.mark.parametrize("text", [
    "no", "not yet", "yes but only the first part", "Journaling every evening.",
    "skip", "stop", "pause 2w", "private", "yes " * 30,
])
def test_anything_else_is_the_participants_own_text(text: str) -> None:
    assert not is_confirmation(text)
