"""One cohort at run time: its config, the database's token secret and the clock, with
the small helpers every flow needs (reply addresses, Message-IDs, recipients). Nothing
here reads or writes the database."""

from __future__ import annotations

from dataclasses import dataclass

from service.compose import Envelope, Recipient, Sender, default_question
from service.config import Config
from service.core import keys, tokens
from service.core.clock import Clock
from service.store.models import Participant

__all__ = ["Cohort"]


@dataclass
class Cohort:
    config: Config
    secret: bytes
    clock: Clock

    @property
    def id(self) -> str:
        return self.config.cohort.id

    @property
    def series_uid(self) -> str:
        return keys.series_uid(self.id)

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

    def message_id(self, seed: str) -> str:
        """A Message-ID that is the same every time for the same seed of this cohort."""
        return keys.message_id(self.id, seed, self.config.mail.domain)

    def list_id(self) -> str:
        return f"{self.id}.{self.config.mail.domain}"

    def envelope(self, seed: str, *, listed: bool = False,
                 participant: Participant | None = None) -> Envelope:
        """Message-ID from the seed; for list mail (prompts, digests) the List-Id, and for
        a participant's copy their own unsubscribe addresses (RFC 2369, 8058)."""
        if not listed:
            return Envelope(message_id=self.message_id(seed))
        return Envelope(
            message_id=self.message_id(seed), list_id=self.list_id(),
            unsubscribe_mailto=f"{self.reply_address(participant)}?subject=stop" if participant else None,
            unsubscribe_url=self.unsubscribe_url(participant) if participant else None)

    def question(self, number: int) -> str:
        """What the prompt before check-in ``number`` asks: the config's [[prompts]] text,
        else the default question of templates/_questions.j2."""
        return self.config.prompt_for(number) or default_question(number)

    def unsubscribe_url(self, participant: Participant) -> str | None:
        base = self.config.mail.base_url
        return f"{base}/unsubscribe/{self.token(participant)}" if base else None
