"""Who may get what now: the one predicate every flow asks before it queues mail.

A participant's standing is their status (active, paused, stopped, removed) and their
bounce state (ok, soft, hard). The rules, in one table:

| kind                         | active | paused (until t) | stopped | removed | hard bounce |
|------------------------------|--------|------------------|---------|---------|-------------|
| prompt, reminder, digest     | yes    | after t          | no      | no      | no          |
| invite, cancel (calendar)    | yes    | yes              | no      | cancel  | no          |
| ack (answer to their mail)   | yes    | yes              | yes     | no      | no          |

A pause silences the programme (prompts, reminders and the digest), not the calendar:
an invitation or a cancellation keeps their calendar right for when they come back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from service.core.states import BounceState, MailKind, ParticipantStatus

__all__ = ["Standing", "may_receive"]


@dataclass(frozen=True)
class Standing:
    status: ParticipantStatus
    bounce_state: BounceState
    paused_until: datetime | None = None


def may_receive(standing: Standing, kind: MailKind, now: datetime) -> bool:
    """May a participant with this standing be sent mail of this kind now?"""
    if standing.bounce_state == BounceState.HARD:
        return False  # mail cannot reach them; the facilitator has been told
    status = standing.status
    if kind == "notice":
        return False  # notices go to the facilitator, never to a participant
    if kind == "ack":
        return status != ParticipantStatus.REMOVED
    if kind == "cancel":
        return status != ParticipantStatus.STOPPED
    if kind == "invite":
        return status in (ParticipantStatus.ACTIVE, ParticipantStatus.PAUSED)
    # prompt, reminder, digest: the programme itself
    if status == ParticipantStatus.PAUSED:
        return standing.paused_until is not None and standing.paused_until <= now
    return status == ParticipantStatus.ACTIVE
