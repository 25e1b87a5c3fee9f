from __future__ import annotations

from service.core.tokens import make_token, verify_token

SECRET = bytes(range(32))


def test_token_round_trip_and_shape() -> None:
    token = make_token(SECRET, "orlando", 42)
    assert token == token.lower() and token.isalnum()
    assert verify_token(SECRET, "orlando", token) == 42
    # mail servers may change the case of the local part
    assert verify_token(SECRET, "orlando", token.upper()) == 42


def test_forged_or_foreign_tokens_fail() -> None:
    token = make_token(SECRET, "orlando", 42)
    assert verify_token(SECRET, "other-cohort", token) is None
    assert verify_token(b"x" * 32, "orlando", token) is None
    tampered = make_token(SECRET, "orlando", 43)[:7] + token[7:]
    assert verify_token(SECRET, "orlando", tampered) is None
    for junk in ("", "bounce", "a" * 200, "!!!!", token[:-2]):
        assert verify_token(SECRET, "orlando", junk) is None


def test_tokens_differ_per_participant() -> None:
    assert make_token(SECRET, "c", 1) != make_token(SECRET, "c", 2)
