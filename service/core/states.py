"""Every state machine's states, as enums (stored as their string values).

The transitions live in one module each, as guarded updates:
- ``OutboxState``: ``service.store.outbox`` (queued -> sending -> sent | failed;
  a 4xx puts a row back to queued; a dead daemon's claims go back to queued);
- ``InboundState``: ``service.store.inbound`` (stored -> moved; or left, once);
- ``ParticipantStatus`` and ``BounceState``: ``service.store.participants``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

__all__ = [
    "ActionKind",
    "BounceState",
    "InboundState",
    "MailKind",
    "OutboxState",
    "ParticipantStatus",
]


class OutboxState(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"  # claimed by one live daemon (``claim`` names it)
    SENT = "sent"
    FAILED = "failed"  # refused for good, or out of retries


class InboundState(StrEnum):
    STORED = "stored"  # what it means is on disk; the message is still in the inbox
    MOVED = "moved"  # moved out of the inbox into circleback/processed | needs-attention
    LEFT = "left"  # read and left in the inbox: a stranger's mail in a shared mailbox


class ParticipantStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"  # until ``paused_until`` (None: until they say "resume")
    STOPPED = "stopped"  # said "stop" or unsubscribed
    REMOVED = "removed"  # no longer in the config (kept: their stories stay)


class BounceState(StrEnum):
    OK = "ok"
    SOFT = "soft"  # bounced for now (4.x.x), counted
    HARD = "hard"  # undeliverable (5.x.x, or too many soft bounces): no more mail


# What circleback sends: the outbox row's kind and the first argument of ``may_receive``.
MailKind = Literal["invite", "cancel", "prompt", "reminder", "digest", "ack", "notice"]

# What an Action row records (the unique (cohort, key) is what stops a double send).
# "pause", "stop" and "resume" record a participant's own word (or unsubscribe link) when it
# took effect: what `status` and the facilitator's digest say about who was away when.
ActionKind = Literal["prompt", "reminder", "digest", "calendar", "skip", "round", "ack",
                     "pause", "stop", "resume"]
