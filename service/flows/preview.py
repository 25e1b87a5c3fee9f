"""`circleback preview`: render any message as its reader would get it, without sending
it or writing to the database; and the harmless test copy that `--send-test` mails.

Everything here only reads (the looking commands open the database read-only)."""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Literal, get_args

from service.compose import Ack, AckWord, compose_control_ack, compose_digest, test_copy_subject
from service.core import keys
from service.core.schedule import Checkin, checkins, series_checkins
from service.core.series import desired_shape, utc_key
from service.core.states import ParticipantStatus
from service.flows.cohort import Cohort
from service.flows.digest import gather, reader_view
from service.flows.invitations import cancel_message, request_message
from service.flows.prompts import prompt_message
from service.store.calendars import planned_series_sequence
from service.store.models import Participant
from service.store.participants import roster

__all__ = ["ACK_WORDS", "KINDS", "Kind", "PreviewError", "UnknownParticipant", "html_part",
           "render", "test_copy", "throwaway", "write"]

Kind = Literal["invite", "prompt", "reminder", "cancel", "cancel-series", "ack", "digest",
               "facilitator-digest"]
KINDS: tuple[str, ...] = get_args(Kind)
ACK_WORDS: tuple[str, ...] = get_args(AckWord)


class PreviewError(LookupError):
    """What was asked for is not in the cohort (a participant, a check-in); says what is."""


class UnknownParticipant(PreviewError):
    def __init__(self, email: str, known: list[str], pending: bool) -> None:
        self.email, self.known, self.pending = email, known, pending
        super().__init__(email)


async def render(cohort: Cohort, kind: Kind, *, participant: str | None = None,
                 checkin: int | None = None, word: AckWord = "skip") -> EmailMessage:
    """The message ``kind`` as it would go out now: to ``participant`` (default: the first
    on the roster), about check-in ``checkin`` (default: the next one)."""
    now = cohort.clock.now()
    if kind == "facilitator-digest":
        content = await gather(cohort, now)
        return compose_digest(
            sender=cohort.sender(), recipient=cohort.facilitator_recipient(),
            view=content.facilitator_view or content.view,
            envelope=cohort.envelope(keys.preview_seed(kind, now), listed=True),
            now=now, facilitator_section=content.facilitator)
    p = await _participant(cohort, participant)
    if kind == "invite":
        sequence = await planned_series_sequence(cohort.id, desired_shape(cohort.config))
        invite = await request_message(cohort, p, sequence, [], now)
        if invite is None:
            raise PreviewError(f"no check-in is left in the series for {p.email}")
        return invite
    if kind in ("cancel", "cancel-series"):
        sequence = await planned_series_sequence(cohort.id, desired_shape(cohort.config))
        if kind == "cancel-series":
            return cancel_message(cohort, p, sequence, now)
        one = _checkin(series_checkins(cohort.config.checkins), checkin, now)
        return cancel_message(cohort, p, sequence, now, recurrence_key=utc_key(one.original_start))
    if kind in ("prompt", "reminder"):
        number = _checkin(checkins(cohort.config.checkins), checkin, now).number
        return prompt_message(cohort, p, kind, number, keys.preview_seed(kind, now), now)
    if kind == "ack":
        number = _checkin(checkins(cohort.config.checkins), checkin, now).number
        ack = Ack(word, checkin=number if word == "skip" else None,
                  until=(now + timedelta(days=14)).date() if word == "pause" else None)
        return compose_control_ack(sender=cohort.sender(), recipient=cohort.recipient(p),
                                   envelope=cohort.envelope(keys.preview_seed(kind, now)),
                                   now=now, ack=ack)
    content = await gather(cohort, now)
    return compose_digest(sender=cohort.sender(), recipient=cohort.recipient(p),
                          view=reader_view(cohort, content, p), now=now,
                          envelope=cohort.envelope(keys.preview_seed(kind, now), listed=True,
                                                   participant=p))


async def _participant(cohort: Cohort, email: str | None) -> Participant:
    present = [p for p in (await roster(cohort.id)).values()
               if p.status != ParticipantStatus.REMOVED]
    if email is None:
        if not present:
            raise PreviewError("the cohort has no participants in the database yet")
        return present[0]
    wanted = email.strip().lower()
    for p in present:
        if p.email == wanted:
            return p
    # In the config but not in the database: added since the last `run` (which adds them).
    pending = any(pc.email == wanted for pc in cohort.config.participants)
    raise UnknownParticipant(wanted, [p.email for p in present], pending)


def _checkin(series: list[Checkin], number: int | None, now: datetime) -> Checkin:
    if not series:
        raise PreviewError("the cohort has no check-in left (the series is cancelled)")
    if number is None:
        upcoming = [c for c in series if c.start.astimezone(UTC) > now]
        return upcoming[0] if upcoming else series[-1]
    for c in series:
        if c.number == number:
            return c
    raise PreviewError(f"there is no check-in {number}; the check-ins are "
                       f"{', '.join(str(c.number) for c in series)}")


def throwaway(cohort: Cohort) -> Cohort:
    """The cohort with a key of its own, for a test copy: its reply tokens, +1 and
    unsubscribe links and calendar ORGANIZER verify against no database, so a reply to
    the test copy (or a click) can act as no participant: it is set aside as a stranger's
    mail to a tokenised address, never published, and changes nothing."""
    return replace(cohort, secret=secrets.token_bytes(32))


def test_copy(message: EmailMessage, address: str, domain: str) -> EmailMessage:
    """``message`` re-addressed to ``address`` alone (a reply-all reaches no participant),
    its subject marked as a test, under a fresh Message-ID that no mail circleback sent
    has (so a reply to it is a reply to nothing of ours). Render it from `throwaway`."""
    subject = str(message["Subject"])
    for name, value in (("To", address), ("Subject", test_copy_subject(subject)),
                        ("Message-ID", make_msgid("test-copy", domain=domain))):
        del message[name]
        message[name] = value
    for name in ("Cc", "Bcc"):
        del message[name]
    return message


def write(message: EmailMessage, out: Path) -> tuple[Path, Path]:
    """``out`` (.eml) and its HTML part beside it (.html); both paths."""
    out.write_bytes(message.as_bytes())
    html_path = out.with_suffix(".html")
    html_path.write_text(html_part(message), encoding="utf-8")
    return out, html_path


def html_part(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    if part is None:
        return "<p>(this message has no HTML part)</p>"
    return str(part.get_content())
