"""The digests that were composed (or skipped because nothing happened): each stands for
one window of the cohort's stories, and the next one starts where it ended."""

from __future__ import annotations

from datetime import datetime

from service.store.models import Digest

__all__ = ["record_digest", "sent_digests"]


async def record_digest(cohort_id: str, *, slot: datetime, period_start: datetime,
                        period_end: datetime, stories: int, resources: int, sent: bool,
                        now: datetime) -> Digest:
    """Call in the transaction that queues its copies (unique per cohort and slot)."""
    return await Digest.create(cohort_id=cohort_id, slot=slot, period_start=period_start,
                               period_end=period_end, stories=stories, resources=resources,
                               sent=sent, created_at=now)


async def sent_digests(cohort_id: str) -> int:
    return await Digest.filter(cohort_id=cohort_id, sent=True).count()
