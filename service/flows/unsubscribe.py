"""One-click unsubscribe (RFC 8058) for every cohort the daemon serves: the token in the
link names the participant (participant ids are unique across cohorts) and is verified
against that participant's own cohort."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from service.core import tokens
from service.flows.cohort import Cohort
from service.store.actions import record_away
from service.store.models import Participant
from service.store.participants import participant_by_id, stop

log = logging.getLogger("circleback")

__all__ = ["name_for_token", "participant_for_token", "unsubscribe"]


async def participant_for_token(cohorts: Mapping[str, Cohort], token: str) -> Participant | None:
    pid = tokens.claimed_participant(token)
    p = await participant_by_id(pid) if pid is not None else None
    cohort = cohorts.get(p.cohort_id) if p is not None else None
    if p is None or cohort is None or cohort.participant_id_for_token(token) != p.id:
        return None
    return p


async def unsubscribe(cohorts: Mapping[str, Cohort], token: str) -> str | None:
    """The participant the token names gets no more mail; their name, or None."""
    p = await participant_for_token(cohorts, token)
    if p is None:
        return None
    if await stop(p):
        await record_away(p.cohort_id, p, "stop", cohorts[p.cohort_id].clock.now())
        log.info("%s <%s> unsubscribed from %s with the one-click link.", p.name, p.email,
                 p.cohort_id)
    return p.name


async def name_for_token(cohorts: Mapping[str, Cohort], token: str) -> str | None:
    p = await participant_for_token(cohorts, token)
    return p.name if p else None
