"""Poll votes: one per participant and poll (the check-in whose prompt carries it); the
latest answer wins."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from service.store.models import Participant, PollVote

__all__ = ["poll_votes", "record_vote"]


async def record_vote(cohort_id: str, poll_checkin: int, participant: Participant, option: int,
                      now: datetime) -> None:
    """The participant's answer; replaces their earlier one. One statement (INSERT ... ON
    CONFLICT DO UPDATE on the unique (cohort, poll, participant)), so two answers handled
    at the same moment leave one row, never an error."""
    await PollVote.bulk_create(
        [PollVote(cohort_id=cohort_id, poll_checkin=poll_checkin, participant_id=participant.id,
                  option=option, voted_at=now)],
        on_conflict=["cohort_id", "poll_checkin", "participant_id"],
        update_fields=["option", "voted_at"])


async def poll_votes(cohort_id: str, polls: Collection[int]) -> dict[int, dict[int, int]]:
    """Poll (its check-in) -> participant id -> option, for ``polls``, in one query."""
    out: dict[int, dict[int, int]] = {number: {} for number in polls}
    if not polls:
        return out
    for number, pid, option in await PollVote.filter(
            cohort_id=cohort_id, poll_checkin__in=list(polls)).values_list(
            "poll_checkin", "participant_id", "option"):
        out.setdefault(int(number), {})[int(pid)] = int(option)
    return out
