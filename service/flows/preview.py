"""`circleback preview`: render a message as a participant would get it, without sending."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

from service.compose import compose_digest
from service.core import keys
from service.core.schedule import checkins
from service.core.states import ParticipantStatus
from service.flows.cohort import Cohort
from service.flows.digest import gather
from service.flows.prompts import prompt_message
from service.store.participants import roster


async def preview(cohort: Cohort, what: str, *, participant: str | None = None,
                  out: Path | None = None) -> tuple[Path, Path]:
    """Write ``what`` (invite | prompt | digest) as .eml and .html; return both paths."""
    now = cohort.clock.now()
    present = [p for p in (await roster(cohort.id)).values() if p.status != ParticipantStatus.REMOVED]
    if participant:
        present = [p for p in present if p.email == participant.strip().lower()]
    p = present[0] if present else None
    if p is None:
        raise LookupError(f"no participant {participant} in this cohort" if participant
                          else "the cohort has no participants")
    message: EmailMessage
    if what == "invite":
        from service.flows.invitations import request_message, series_version

        sequence = await series_version(cohort)
        invite = await request_message(cohort, p, sequence, [], now)
        if invite is None:
            raise LookupError(f"no check-in is left in the series for {p.email}")
        message = invite
    elif what == "prompt":
        series = checkins(cohort.config.checkins)
        upcoming = [c for c in series if c.start > now] or series[-1:]
        number = upcoming[0].number
        message = prompt_message(cohort, p, "prompt", number, keys.preview_seed("prompt", now), now)
    else:
        content = await gather(cohort, now)
        message = compose_digest(sender=cohort.sender(), recipient=cohort.recipient(p),
                                 view=content.view, now=now,
                                 envelope=cohort.envelope(keys.preview_seed("digest", now), listed=True,
                                                          participant=p))
    eml = out or Path(f"preview-{what}.eml")
    eml.write_bytes(message.as_bytes())
    html_path = eml.with_suffix(".html")
    html_path.write_text(html_part(message), encoding="utf-8")
    return eml, html_path


def html_part(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    if part is None:
        return "<p>(this message has no HTML part)</p>"
    return str(part.get_content())
