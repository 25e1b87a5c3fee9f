"""`circleback status`: who is invited, attending, replying, quiet or bouncing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from service.calendar.series import utc_key
from service.core.schedule import checkins
from service.flows.cohort import Cohort
from service.store.models import InboundMessage, OutboxMessage, Participant, Rsvp, Story


@dataclass(frozen=True)
class Row:
    name: str
    email: str
    status: str
    rsvp: str
    stories: int
    last_reply: datetime | None
    attendance: dict[int, str]


@dataclass(frozen=True)
class StatusReport:
    cohort: str
    rows: list[Row]
    checkin_numbers: list[int]
    outbox: dict[str, int]
    attention: int
    zone: ZoneInfo

    def as_json(self) -> dict[str, Any]:
        return {
            "cohort": self.cohort,
            "participants": [
                {"name": r.name, "email": r.email, "status": r.status, "rsvp": r.rsvp,
                 "stories": r.stories,
                 "last_reply": r.last_reply.isoformat() if r.last_reply else None,
                 "attendance": {str(k): v for k, v in r.attendance.items()}}
                for r in self.rows],
            "outbox": self.outbox,
            "needs_attention": self.attention,
        }

    def as_text(self) -> str:
        headers = ["participant", "status", "RSVP", "stories", "last reply"]
        table = [[f"{r.name} <{r.email}>", r.status, r.rsvp.lower(), str(r.stories),
                  r.last_reply.astimezone(self.zone).strftime("%Y-%m-%d %H:%M %Z") if r.last_reply
                  else "-"] for r in self.rows]
        widths = [max(len(h), *(len(row[i]) for row in table)) if table else len(h)
                  for i, h in enumerate(headers)]
        lines = [f"Cohort: {self.cohort}", "",
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
        if self.attention:
            lines.append(f"{self.attention} message(s) need your attention (IMAP folder "
                         "circleback/needs-attention).")
        return "\n".join(lines)


_WORDS = {"ACCEPTED": "accepted", "DECLINED": "declined", "TENTATIVE": "tentative"}


async def status_report(cohort: Cohort) -> StatusReport:
    series = checkins(cohort.config.checkins)
    keys = {c.number: utc_key(c.original_start) for c in series}
    rows = []
    for p in await Participant.filter(cohort_id=cohort.id).order_by("id"):
        rsvps = {r.recurrence_key: r.partstat for r in await Rsvp.filter(participant=p)}
        stories = await Story.filter(participant=p).order_by("-received_at")
        last = stories[0].received_at if stories else None
        status = p.status if p.bounce_state == "ok" else f"{p.status}, {p.bounce_state} bounce"
        if p.status == "paused" and p.paused_until:
            status += f" until {p.paused_until:%Y-%m-%d}"
        attendance = {n: _WORDS.get(rsvps.get(k, rsvps.get("", "")), "no answer")
                      for n, k in keys.items()}
        rows.append(Row(p.name, p.email, status, rsvps.get("", "NEEDS-ACTION"), len(stories),
                        last, attendance))
    outbox: dict[str, int] = {}
    for state in await OutboxMessage.filter(cohort_id=cohort.id).values_list("state", flat=True):
        outbox[str(state)] = outbox.get(str(state), 0) + 1
    attention = await InboundMessage.filter(
        cohort_id=cohort.id, kind__in=["unknown_sender", "invalid", "counter"]).count()
    return StatusReport(cohort.config.cohort.name, rows, [c.number for c in series], outbox, attention,
                        ZoneInfo(cohort.config.cohort.timezone))
