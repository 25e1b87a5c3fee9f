"""Every idempotency key and Message-ID seed, built here and nowhere else.

A key names one action of one cohort; the database makes (cohort, key) unique, so the
same action can never be done twice, across restarts or by two daemons at once, while
two cohorts sharing a participant, a digest time or a mailbox never collide. Message-IDs
are derived from the cohort and a seed, so a message queued again gets the same
Message-ID and a receiving server or client can recognise the duplicate.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime

__all__ = [
    "ack_key",
    "away_key",
    "book_story_seed",
    "calendar_key",
    "cancel_seed",
    "digest_copy_seed",
    "digest_key",
    "empty_reply_key",
    "empty_reply_seed",
    "failed_message_key",
    "invite_seed",
    "manual_digest_key",
    "message_id",
    "new_mail_day_key",
    "new_mail_key",
    "new_mail_seed",
    "new_mail_shared_key",
    "notice_seed",
    "preview_seed",
    "prompt_key",
    "reminder_key",
    "round_key",
    "series_uid",
    "skip_key",
]

MAX_KEY = 255


def prompt_key(checkin: int, email: str) -> str:
    return f"prompt:{checkin}:{email}"


def reminder_key(checkin: int, email: str) -> str:
    return f"reminder:{checkin}:{email}"


def digest_key(slot: datetime) -> str:
    """The scheduled digest of one slot (UTC)."""
    return f"digest:{slot.isoformat()}"


def manual_digest_key(now: datetime) -> str:
    """``circleback digest --send-now``."""
    return f"digest:manual:{now.isoformat()}"


def calendar_key(email: str, sequence: int, parts: list[str]) -> str:
    """One batch of iTIP messages to one participant's calendar (``parts``: request,
    cancel-<occurrence>, cancel-series)."""
    return f"calendar:{email}:{sequence}:{'+'.join(parts)}"[:MAX_KEY]


def skip_key(checkin: int, email: str) -> str:
    return f"skip:{checkin}:{email}"


def round_key(cohort_id: str, email: str) -> str:
    """A participant's wish at the last check-in (another round, or wrap up)."""
    return f"round:{cohort_id}:{email}"


def empty_reply_key(email: str, day: date) -> str:
    """At most one "your reply was empty" answer a day per participant."""
    return f"ack-invalid:{email}:{day.isoformat()}"


def ack_key(email: str, now: datetime, word: str) -> str:
    return f"ack:{email}:{now.isoformat()}:{word}"


def away_key(word: str, email: str, now: datetime) -> str:
    """A participant's "pause", "stop" or "resume" taking effect at ``now``."""
    return f"{word}:{email}:{now.isoformat()}"[:MAX_KEY]


def _short(inbound_key: str) -> str:
    """An inbound key (a Message-ID, up to 500 characters) in a key's length."""
    return hashlib.sha256(inbound_key.encode()).hexdigest()[:32]


def new_mail_key(inbound_key: str) -> str:
    """The one answer to a participant's new email ("reply to share it")."""
    return f"new-mail:{_short(inbound_key)}"


def new_mail_day_key(email: str, day: date, n: int) -> str:
    """The n-th such answer to one participant on one day: a few a day at most, so that
    no mail system writing new mail back can keep a loop going."""
    return f"new-mail-day:{email}:{day.isoformat()}:{n}"[:MAX_KEY]


def new_mail_shared_key(inbound_key: str) -> str:
    """A participant's new email, published once they confirmed it."""
    return f"new-mail-shared:{_short(inbound_key)}"


def series_uid(cohort_id: str) -> str:
    """The UID of the cohort's recurring check-in series (RFC 5545 3.8.4.7)."""
    return f"{cohort_id}-checkins@circleback"


# --- Message-ID seeds -----------------------------------------------------------------

def invite_seed(email: str, sequence: int) -> str:
    return f"invite:{email}:{sequence}"


def cancel_seed(email: str, sequence: int, occurrence: str | None) -> str:
    return f"cancel:{email}:{sequence}:{occurrence or 'all'}"


def digest_copy_seed(digest_id: int, email: str | None) -> str:
    """One copy of one digest (``email`` None: the facilitator's)."""
    return f"digest:{digest_id}:{email or 'facilitator'}"


def empty_reply_seed(inbound_key: str) -> str:
    """The answer to one reply that had no text we could keep."""
    return f"ack:invalid:{inbound_key}"


def new_mail_seed(inbound_key: str) -> str:
    """The answer to a participant's new email: the reply that confirms it refers to it."""
    return f"new-mail:{inbound_key}"


def preview_seed(kind: str, when: datetime) -> str:
    """``circleback preview``: never queued, never the same as a real message's."""
    return f"preview:{kind}:{when.isoformat()}"


def book_story_seed(story_id: int) -> str:
    """A story's copy in the cohort book's mbox (``circleback export``): the same in every
    export, so a mail client importing two exports can tell the copies are one message."""
    return f"book:story:{story_id}"


def failed_message_key(uidvalidity: int, uid: int) -> str:
    """The inbound key of a message that could not be processed (kept, set aside)."""
    return f"uid:{uidvalidity}:{uid}"


def notice_seed(what: str, inbound_key: str) -> str:
    """A notice to the facilitator caused by one inbound message."""
    return f"notice:{what}:{inbound_key}" if what else f"notice:{inbound_key}"


def message_id(cohort_id: str, seed: str, domain: str) -> str:
    """A Message-ID that is the same every time for the same cohort and seed."""
    digest = hashlib.sha256(f"{cohort_id}:{seed}".encode()).hexdigest()[:24]
    return f"cb.{digest}@{domain}"
