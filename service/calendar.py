"""Pure iTIP/iMIP calendar building and parsing (RFC 5545, 5546, 6047) with icalendar.

Placeholder for the interface; the implementation is being written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ItipMessage:
    """What an inbound calendar message (REPLY, COUNTER, ...) says, reduced to what we use."""

    method: str  # "REPLY", "COUNTER", "REFRESH", ... upper case
    uid: str
    sequence: int
    attendee_email: str | None  # lower case, without "mailto:"
    partstat: str | None  # "ACCEPTED", "DECLINED", "TENTATIVE", "NEEDS-ACTION", ...
    recurrence_id: datetime | None  # aware, UTC; None = the whole series
    comment: str | None
    proposed_start: datetime | None = None  # COUNTER only, aware UTC


def parse_itip(data: bytes) -> ItipMessage | None:
    """Parse one text/calendar body. None when it is not a usable iTIP message."""
    raise NotImplementedError
