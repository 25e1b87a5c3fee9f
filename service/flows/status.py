"""`circleback status`: who is invited, attending, replying, quiet or bouncing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from service.core.schedule import checkins
from service.core.series import utc_key
from service.flows.cohort import Cohort
from service.store.reads import Refused, cohort_facts, schema_version


@dataclass(frozen=True)
class Row:
    name: str
    email: str
    state: str  # active | paused | stopped | removed
    bounce: str  # ok | soft | hard
    paused_until: datetime | None
    rsvp: str
    stories: int
    last_reply: datetime | None
    attendance: dict[int, str]
    answered: tuple[int, ...]  # check-ins they replied to
    skipped: tuple[int, ...]
    gone_quiet: bool  # no reply to either of the last two check-ins that took place

    @property
    def status(self) -> str:
        """In words, for the table."""
        words = self.state if self.bounce == "ok" else f"{self.state}, {self.bounce} bounce"
        if self.state == "paused" and self.paused_until:
            words += f" until {self.paused_until:%Y-%m-%d}"
        return words


@dataclass(frozen=True)
class StatusReport:
    cohort_id: str
    cohort: str
    schema: int
    rows: list[Row]
    checkin_numbers: list[int]
    outbox: dict[str, int]
    refused: list[Refused]
    attention: int
    zone: ZoneInfo

    def as_json(self) -> dict[str, Any]:
        """The ``status --json`` contract (design.md)."""
        return {
            "cohort_id": self.cohort_id,
            "cohort": self.cohort,
            "schema": self.schema,
            "participants": [
                {"name": r.name, "email": r.email, "state": r.state, "status": r.status,
                 "bounce": r.bounce,
                 "paused_until": r.paused_until.isoformat() if r.paused_until else None,
                 "rsvp": r.rsvp, "stories": r.stories,
                 "last_reply": r.last_reply.isoformat() if r.last_reply else None,
                 "answered": list(r.answered), "skipped": list(r.skipped),
                 "gone_quiet": r.gone_quiet,
                 "attendance": {str(k): v for k, v in r.attendance.items()}}
                for r in self.rows],
            "outbox": self.outbox,
            "refused": [{"rcpt": f.rcpt, "kind": f.kind, "error": f.error,
                         "queued_at": f.at.isoformat()} for f in self.refused],
            "needs_attention": self.attention,
        }

    def as_text(self) -> str:
        headers = ["participant", "status", "RSVP", "stories", "last reply"]
        table = [[f"{r.name} <{r.email}>", r.status, r.rsvp.lower(), str(r.stories),
                  r.last_reply.astimezone(self.zone).strftime("%Y-%m-%d %H:%M %Z") if r.last_reply
                  else "-"] for r in self.rows]
        widths = [max(len(h), *(len(row[i]) for row in table)) if table else len(h)
                  for i, h in enumerate(headers)]
        lines = [f"Cohort: {self.cohort} ({self.cohort_id})", "",
                 "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)),
                 "  ".join("-" * w for w in widths)]
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in table]
        if self.checkin_numbers:
            lines += ["", "Attendance per check-in (from calendar replies):"]
            for n in self.checkin_numbers:
                answers = [r.attendance.get(n, "no answer") for r in self.rows]
                parts = [f"{answers.count(k)} {k}"
                         for k in ("accepted", "declined", "tentative", "no answer")]
                lines.append(f"  #{n}: " + ", ".join(parts))
        outbox = ", ".join(f"{v} {k}" for k, v in sorted(self.outbox.items()))
        lines += ["", "Outbox: " + (outbox or "empty")]
        for f in self.refused:
            lines.append(f"  refused: the {f.kind} to {f.rcpt}: {f.error or 'no reason given'}")
        if self.attention:
            lines.append(f"{self.attention} message(s) need your attention (IMAP folder "
                         "circleback/needs-attention).")
        return "\n".join(lines)


_WORDS = {"ACCEPTED": "accepted", "DECLINED": "declined", "TENTATIVE": "tentative"}


async def status_report(cohort: Cohort) -> StatusReport:
    series = checkins(cohort.config.checkins)
    keys = {c.number: utc_key(c.original_start) for c in series}
    now = cohort.clock.now()
    past = [c.number for c in series if c.start.astimezone(UTC) <= now][-2:]
    facts = await cohort_facts(cohort.id)
    rows = []
    for p in facts.participants:
        rsvps = facts.rsvps.get(p.id, {})
        answered = facts.answered.get(p.id, set())
        attendance = {n: _WORDS.get(rsvps.get(k, rsvps.get("", "")), "no answer")
                      for n, k in keys.items()}
        rows.append(Row(
            name=p.name, email=p.email, state=str(p.status), bounce=str(p.bounce_state),
            paused_until=p.paused_until, rsvp=rsvps.get("", "NEEDS-ACTION"),
            stories=facts.stories.get(p.id, 0), last_reply=facts.last_reply.get(p.id),
            attendance=attendance, answered=tuple(sorted(answered)),
            skipped=tuple(sorted(facts.skipped.get(p.id, set()))),
            gone_quiet=bool(past) and p.status != "removed"
            and not answered & set(past) and not facts.skipped.get(p.id, set()) & set(past)))
    return StatusReport(cohort.id, cohort.config.cohort.name, await schema_version(), rows,
                        [c.number for c in series], facts.outbox, facts.refused, facts.attention,
                        ZoneInfo(cohort.config.cohort.timezone))
