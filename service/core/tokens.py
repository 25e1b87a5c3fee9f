"""Per-participant reply tokens: ``circle+TOKEN@example.org``; and +1 tokens, one per
participant and story of a digest.

A token is the participant's database id and an HMAC-SHA256 tag over the cohort id
and that id, base32 in lower case (some mail servers lower-case local parts).
It cannot be guessed without the database's secret and is checked in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct

_TAG_BYTES = 10  # 80 bits: far beyond guessing by mail


def _tag(secret: bytes, cohort_id: str, participant_id: int) -> bytes:
    msg = f"circleback-reply:{cohort_id}:{participant_id}".encode()
    return hmac.new(secret, msg, hashlib.sha256).digest()[:_TAG_BYTES]


def make_token(secret: bytes, cohort_id: str, participant_id: int) -> str:
    """The token for one participant of one cohort."""
    body = struct.pack(">I", participant_id) + _tag(secret, cohort_id, participant_id)
    return base64.b32encode(body).decode().rstrip("=").lower()


def _body(token: str, size: int) -> bytes | None:
    """The token's bytes when it is base32 of exactly ``size`` ids' bytes and a tag."""
    text = token.strip().upper()
    if not text or len(text) > 64:
        return None
    try:
        body = base64.b32decode(text + "=" * (-len(text) % 8))
    except (binascii.Error, ValueError):
        return None
    return body if len(body) == size + _TAG_BYTES else None


def _decode(token: str) -> tuple[int, bytes] | None:
    body = _body(token, 4)
    if body is None:
        return None
    (participant_id,) = struct.unpack(">I", body[:4])
    return int(participant_id), body[4:]


def claimed_participant(token: str) -> int | None:
    """The participant id a token claims to stand for, NOT verified: only to find which
    cohort to verify it against (participant ids are unique across cohorts)."""
    decoded = _decode(token)
    return decoded[0] if decoded else None


def verify_token(secret: bytes, cohort_id: str, token: str) -> int | None:
    """The participant id a token stands for, or None when it is not one of ours."""
    decoded = _decode(token)
    if decoded is None:
        return None
    participant_id, tag = decoded
    if not hmac.compare_digest(tag, _tag(secret, cohort_id, participant_id)):
        return None
    return participant_id


# --- +1 tokens: one per (reader, story) -------------------------------------------------
#
# The "+1" link under a story in a participant's digest is ``circle+TOKEN@example.org``
# with a token naming that reader and that story, tagged over both (and the cohort) under
# another label than reply tokens: a reply token never verifies as a +1 token or the other
# way round (their lengths differ too), and neither the reader nor the story can be
# changed without the secret. The sender must still be the reader (see classify).

def _reaction_tag(secret: bytes, cohort_id: str, participant_id: int, story_id: int) -> bytes:
    msg = f"circleback-plus-one:{cohort_id}:{participant_id}:{story_id}".encode()
    return hmac.new(secret, msg, hashlib.sha256).digest()[:_TAG_BYTES]


def make_reaction_token(secret: bytes, cohort_id: str, participant_id: int, story_id: int) -> str:
    """The +1 token for one participant and one story of one cohort."""
    body = struct.pack(">II", participant_id, story_id)
    body += _reaction_tag(secret, cohort_id, participant_id, story_id)
    return base64.b32encode(body).decode().rstrip("=").lower()


def _decode_reaction(token: str) -> tuple[int, int, bytes] | None:
    body = _body(token, 8)
    if body is None:
        return None
    participant_id, story_id = struct.unpack(">II", body[:8])
    return int(participant_id), int(story_id), body[8:]


def claimed_reaction(token: str) -> tuple[int, int] | None:
    """(participant id, story id) a +1 token claims, NOT verified (to find the cohort)."""
    decoded = _decode_reaction(token)
    return (decoded[0], decoded[1]) if decoded else None


def verify_reaction_token(secret: bytes, cohort_id: str, token: str) -> tuple[int, int] | None:
    """(participant id, story id) of a +1 token of this cohort, or None when it is not one."""
    decoded = _decode_reaction(token)
    if decoded is None:
        return None
    participant_id, story_id, tag = decoded
    if not hmac.compare_digest(tag, _reaction_tag(secret, cohort_id, participant_id, story_id)):
        return None
    return participant_id, story_id
