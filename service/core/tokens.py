"""Per-participant reply tokens: ``circle+TOKEN@example.org``.

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


def _decode(token: str) -> tuple[int, bytes] | None:
    text = token.strip().upper()
    if not text or len(text) > 64:
        return None
    try:
        body = base64.b32decode(text + "=" * (-len(text) % 8))
    except (binascii.Error, ValueError):
        return None
    if len(body) != 4 + _TAG_BYTES:
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
