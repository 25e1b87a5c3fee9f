"""One cohort at run time: its config, secret, participants in the database, and the
small helpers every flow needs (reply addresses, Message-IDs, recipients)."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from tortoise.transactions import in_transaction

from service.compose import Envelope, Recipient, Sender
from service.config import Config
from service.core import tokens
from service.core.clock import Clock
from service.core.schedule import ParticipantState
from service.store.models import Action, Participant, Story

log = logging.getLogger("circleback")


@dataclass
class Cohort:
    config: Config
    secret: bytes
    clock: Clock

    @property
    def id(self) -> str:
        return self.config.cohort.id

    def token(self, participant: Participant) -> str:
        return tokens.make_token(self.secret, self.id, participant.id)

    def participant_id_for_token(self, token: str) -> int | None:
        return tokens.verify_token(self.secret, self.id, token)

    def reply_address(self, participant: Participant) -> str:
        return self.config.mail.reply_address(self.token(participant))

    def sender(self) -> Sender:
        return Sender(address=self.config.mail.address, display_name=self.config.mail.display_name)

    def recipient(self, participant: Participant) -> Recipient:
        return Recipient(name=participant.name, email=participant.email,
                         timezone=participant.timezone, reply_address=self.reply_address(participant))

    def facilitator_recipient(self) -> Recipient:
        f = self.config.facilitator
        return Recipient(name=f.name, email=f.email, timezone=f.timezone,
                         reply_address=self.config.mail.address)

    def message_id(self, key: str) -> str:
        """A Message-ID that is the same every time for the same action key."""
        digest = hashlib.sha256(f"{self.id}:{key}".encode()).hexdigest()[:24]
        return f"cb.{digest}@{self.config.mail.domain}"

    def list_id(self) -> str:
        return f"{self.id}.{self.config.mail.domain}"

    def envelope(self, key: str, *, listed: bool = False,
                 participant: Participant | None = None) -> Envelope:
        """Message-ID from the action's key; for list mail (prompts, digests) the List-Id,
        and for a participant's copy their own unsubscribe addresses (RFC 2369, 8058)."""
        if not listed:
            return Envelope(message_id=self.message_id(key))
        return Envelope(
            message_id=self.message_id(key), list_id=self.list_id(),
            unsubscribe_mailto=f"{self.reply_address(participant)}?subject=stop" if participant else None,
            unsubscribe_url=self.unsubscribe_url(participant) if participant else None)

    def unsubscribe_url(self, participant: Participant) -> str | None:
        base = self.config.mail.base_url
        return f"{base}/unsubscribe/{self.token(participant)}" if base else None


async def sync_participants(cohort: Cohort) -> list[str]:
    """Bring the participants table in line with the config; returns what changed, in words.

    New entries are added, entries that left the config are marked removed (never
    deleted: their stories stay), and names and zones follow the config.
    """
    now = cohort.clock.now()
    changes: list[str] = []
    async with in_transaction():
        existing = {p.email: p for p in await Participant.filter(cohort_id=cohort.id)}
        listed = set()
        for pc in cohort.config.participants:
            listed.add(pc.email)
            p = existing.get(pc.email)
            if p is None:
                await Participant.create(cohort_id=cohort.id, email=pc.email, name=pc.name,
                                         timezone=pc.timezone, joined_at=now)
                changes.append(f"{pc.name} <{pc.email}> joined the cohort")
                continue
            updates: dict[str, object] = {}
            if p.name != pc.name:
                updates["name"] = pc.name
            if p.timezone != pc.timezone:
                updates["timezone"] = pc.timezone
            if p.status == "removed":
                updates["status"] = "active"
                updates["removed_at"] = None
                changes.append(f"{pc.name} <{pc.email}> is back in the cohort")
            if updates:
                await Participant.filter(id=p.id).update(**updates)
        for email, p in existing.items():
            if email not in listed and p.status != "removed":
                await Participant.filter(id=p.id).update(status="removed", removed_at=now)
                changes.append(f"{p.name} <{email}> left the cohort (no longer in the config)")
    for line in changes:
        log.info("%s.", line)
    return changes


async def participant_states(cohort: Cohort) -> list[ParticipantState]:
    """The scheduler's view of every participant."""
    replied: dict[int, set[int]] = {}
    rows = await Story.filter(cohort_id=cohort.id, checkin_number__isnull=False).values_list(
        "participant_id", "checkin_number")
    for pid, number in rows:
        replied.setdefault(int(pid), set()).add(int(number))
    skips = await Action.filter(cohort_id=cohort.id, kind="skip").values_list("key", flat=True)
    people = await Participant.filter(cohort_id=cohort.id)
    by_email = {p.email: p.id for p in people}
    for key in skips:  # skip:N:email
        _, number, email = str(key).split(":", 2)
        if email in by_email:
            replied.setdefault(by_email[email], set()).add(int(number))
    return [
        ParticipantState(email=p.email, status=p.status, paused_until=p.paused_until,
                         bounce_state=p.bounce_state, joined_at=p.joined_at,
                         replied=frozenset(replied.get(p.id, ())), timezone=p.timezone)
        for p in people
    ]


async def done_keys(cohort: Cohort) -> set[str]:
    keys = await Action.filter(cohort_id=cohort.id).values_list("key", flat=True)
    return {str(k) for k in keys}



async def unsubscribe(cohort: Cohort, token: str) -> str | None:
    """One-click unsubscribe: the participant the token names gets no more mail."""
    p = await _by_token(cohort, token)
    if p is None:
        return None
    if p.status != "stopped":
        await Participant.filter(id=p.id).update(status="stopped")
        log.info("%s <%s> unsubscribed with the one-click link.", p.name, p.email)
    return p.name


async def name_for_token(cohort: Cohort, token: str) -> str | None:
    p = await _by_token(cohort, token)
    return p.name if p else None


async def _by_token(cohort: Cohort, token: str) -> Participant | None:
    pid = cohort.participant_id_for_token(token)
    if pid is None:
        return None
    return await Participant.get_or_none(id=pid, cohort_id=cohort.id)
