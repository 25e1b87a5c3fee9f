from __future__ import annotations

import base64

from service.core.tokens import (
    claimed_reaction,
    make_reaction_token,
    make_token,
    verify_reaction_token,
    verify_token,
)

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


# --- +1 tokens --------------------------------------------------------------------------

def test_plus_one_token_names_its_reader_and_story() -> None:
    token = make_reaction_token(SECRET, "orlando", 42, 7)
    assert token == token.lower() and token.isalnum() and len(token) <= 40
    assert verify_reaction_token(SECRET, "orlando", token) == (42, 7)
    assert verify_reaction_token(SECRET, "orlando", token.upper()) == (42, 7)
    assert claimed_reaction(token) == (42, 7)


def test_plus_one_token_cannot_be_moved_to_another_story_reader_or_cohort() -> None:
    token = make_reaction_token(SECRET, "orlando", 42, 7)
    body = base64.b32decode(token.upper() + "=" * (-len(token) % 8))
    for reader, story in ((43, 7), (42, 8), (1, 1)):
        # the same tag with another reader or story in front of it
        forged = base64.b32encode(reader.to_bytes(4, "big") + story.to_bytes(4, "big") + body[8:])
        assert verify_reaction_token(SECRET, "orlando", forged.decode().rstrip("=").lower()) is None
    assert verify_reaction_token(SECRET, "other", token) is None
    assert verify_reaction_token(b"y" * 32, "orlando", token) is None
    # another reader's token for the same story is another token
    assert make_reaction_token(SECRET, "orlando", 43, 7) != token


def test_reply_and_plus_one_tokens_never_stand_for_each_other() -> None:
    reply = make_token(SECRET, "orlando", 42)
    plus_one = make_reaction_token(SECRET, "orlando", 42, 7)
    assert verify_reaction_token(SECRET, "orlando", reply) is None
    assert verify_token(SECRET, "orlando", plus_one) is None
    assert claimed_reaction(reply) is None
    for junk in ("", "!!", "a" * 200, plus_one[:-3]):
        assert verify_reaction_token(SECRET, "orlando", junk) is None
