"""`circleback status`: who is engaged, who went quiet, whose address fails; per check-in
the reply rate and attendance. Read (a fixed number of queries, whatever the size of the
cohort), decide in ``service.core.engagement``, and put it in a table or in JSON."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from service.core.engagement import (
    ATTENDANCE,
    CheckinNumbers,
    Member,
    PastCheckin,
    State,
    attendance_word,
    away_periods,
    checkin_numbers,
    gone_quiet,
    participant_state,
    paused_now,
    refused_addresses,
    refused_for_good,
)
from service.core.schedule import checkins
from service.core.series import utc_key
from service.flows.cohort import Cohort
from service.store.reads import CohortFacts, Refused, cohort_facts, schema_version

__all__ = ["Row", "StatusReport", "status_report"]


@dataclass(frozen=True)
class Row:
    name: str
    email: str
    state: State
    bounce: str  # ok | soft | hard
    paused_until: datetime | None
    rsvp: str  # the series' PARTSTAT
    stories: int
    last_reply: datetime | None
    attendance: dict[int, str]  # check-in number -> accepted | declined | tentative | no answer
    answered: tuple[int, ...]  # check-ins they replied to
    skipped: tuple[int, ...]
    gone_quiet: bool

    @property
    def status(self) -> str:
        """The state in words, for the table."""
        if self.state == "paused":
            return f"paused until {self.paused_until:%Y-%m-%d}" if self.paused_until else "paused"
        if self.state == "bouncing":
            return f"bouncing ({self.bounce})"
        if self.state == "refused":
            return "refused by the server"
        return str(self.state)


# The table's groups, in the order a facilitator acts on them.
_GROUPS: tuple[tuple[str, str], ...] = (
    ("fails", "Mail fails (refused by the server, or bouncing)"),
    ("quiet", "Gone quiet (no story for the last two check-ins)"),
    ("engaged", "Taking part"),
    ("away", "Paused"),
    ("left", "Stopped or removed"),
)


def _group(row: Row) -> str:
    if row.state in ("refused", "bouncing"):
        return "fails"
    if row.gone_quiet:
        return "quiet"
    if row.state == "active":
        return "engaged"
    return "away" if row.state == "paused" else "left"


@dataclass(frozen=True)
class StatusReport:
    cohort_id: str
    cohort: str
    schema: int
    rows: list[Row]
    checkins: list[CheckinNumbers]  # every check-in that takes place, in order
    outbox: dict[str, int]
    refused: list[str]  # addresses refused for good, still
    refused_messages: list[Refused]  # messages refused for good (a 5xx)
    gave_up: list[Refused]  # messages given up on after retrying (4xx, network)
    attention: int
    zone: ZoneInfo

    @property
    def checkin_numbers(self) -> list[int]:
        return [c.number for c in self.checkins]

    def count(self, state: State) -> int:
        return sum(1 for r in self.rows if r.state == state)

    def as_json(self) -> dict[str, Any]:
        """The ``status --json`` contract (design.md, README): add keys, never rename."""
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
            "checkins": [
                {"number": c.number, "start": c.start.isoformat(), "took_place": c.took_place,
                 "invited": c.invited, "answered": c.answered, "away": c.away,
                 "reply_rate": None if c.reply_rate is None else round(c.reply_rate, 3),
                 "attendance": dict(c.attendance)}
                for c in self.checkins],
            "outbox": self.outbox,
            "refused": list(self.refused),
            "refused_messages": [_message_json(f) for f in self.refused_messages],
            "gave_up": [_message_json(f) for f in self.gave_up],
            "needs_attention": self.attention,
        }

    def summary(self) -> str:
        """One line: how many in each state, and how many went quiet."""
        present = [r for r in self.rows if r.state != "removed"]
        states = ", ".join(f"{self.count(s)} {s}" for s in
                           ("active", "paused", "stopped", "bouncing", "refused") if self.count(s))
        quiet = sum(1 for r in self.rows if r.gone_quiet)
        return f"{len(present)} participants" + (f": {states}" if states else "") + \
            f"; {quiet} gone quiet"

    def as_text(self) -> str:
        headers = ["participant", "state", "RSVP", "answered", "skipped", "stories", "last reply"]
        # Someone whose mail fails may have gone quiet too: said beside their state.
        cells = {id(r): [f"{r.name} <{r.email}>",
                         r.status + (", gone quiet" if r.gone_quiet and _group(r) != "quiet" else ""),
                         r.rsvp.lower(), _numbers(r.answered),
                         _numbers(r.skipped), str(r.stories), self._when(r.last_reply)]
                 for r in self.rows}
        widths = [max([len(h)] + [len(c[i]) for c in cells.values()]) for i, h in enumerate(headers)]

        def line(values: list[str]) -> str:
            return "  " + "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

        lines = [f"Cohort: {self.cohort} ({self.cohort_id}): {self.summary()}"]
        for key, title in _GROUPS:
            rows = [r for r in self.rows if _group(r) == key]
            if not rows:
                continue
            if key == "engaged":  # the most engaged first
                rows.sort(key=lambda r: (-len(r.answered), -r.stories, r.name))
            lines += ["", f"{title} ({len(rows)}):", line(headers), line(["-" * w for w in widths])]
            lines += [line(cells[id(r)]) for r in rows]
        if self.checkins:
            lines += ["", "Check-ins (replies: stories from those invited then; attendance: "
                          "calendar answers):"]
            for c in self.checkins:
                when = c.start.astimezone(self.zone).strftime("%Y-%m-%d %H:%M")
                if c.took_place:
                    rate = f"{c.reply_rate:.0%}" if c.reply_rate is not None else "-"
                    replies = f"{c.answered} of {c.invited} replied ({rate})"
                else:
                    replies = "still to come"
                if c.away:
                    replies += f", {c.away} away"
                attendance = ", ".join(f"{c.attendance.get(k, 0)} {k}" for k in ATTENDANCE)
                lines.append(f"  #{c.number} {when}: {replies}; {attendance}")
        outbox = ", ".join(f"{v} {k}" for k, v in sorted(self.outbox.items()))
        lines += ["", "Outbox: " + (outbox or "empty")]
        if self.refused:
            lines.append("Refused for good by the mail server: " + ", ".join(self.refused)
                         + ". Check these addresses in the config; a new address gets mail again.")
        for f in self.refused_messages:
            lines.append(f"  refused: the {f.kind} to {f.rcpt} ({self._when(f.at)}): {f.error}")
        for f in self.gave_up:
            lines.append(f"  gave up: the {f.kind} to {f.rcpt} ({self._when(f.at)}): "
                         f"{f.error or 'no reason given'}")
        if self.attention:
            lines.append(f"{self.attention} message(s) need your attention (IMAP folder "
                         "circleback/needs-attention).")
        return "\n".join(lines)

    def _when(self, at: datetime | None) -> str:
        return at.astimezone(self.zone).strftime("%Y-%m-%d %H:%M %Z") if at else "-"


def _numbers(numbers: tuple[int, ...]) -> str:
    return ",".join(str(n) for n in numbers) or "-"


def _pause_runs(status: str, until: datetime | None, now: datetime) -> bool:
    return status == "paused" and until is not None and until > now


def _message_json(f: Refused) -> dict[str, Any]:
    return {"rcpt": f.rcpt, "kind": f.kind, "error": f.error, "queued_at": f.at.isoformat()}


async def status_report(cohort: Cohort) -> StatusReport:
    facts = await cohort_facts(cohort.id)
    return build_report(cohort, facts, await schema_version(), cohort.clock.now())


def build_report(cohort: Cohort, facts: CohortFacts, schema: int, now: datetime) -> StatusReport:
    """Pure: the report from the facts read."""
    series = checkins(cohort.config.checkins)
    occurrence = {c.number: utc_key(c.original_start) for c in series}
    when = [PastCheckin(c.number, c.start.astimezone(UTC)) for c in series]
    past = [c for c in when if c.start <= now]
    failed = facts.delivery.failed
    refused = refused_addresses(((f.id, f.rcpt, f.error) for f in failed),
                                facts.delivery.last_delivered)
    rows: list[Row] = []
    members: list[Member] = []
    for p in facts.participants:
        rsvps = facts.rsvps.get(p.id, {})
        attendance = {n: attendance_word(rsvps, key) for n, key in occurrence.items()}
        state = participant_state(str(p.status), str(p.bounce_state), p.paused_until,
                                  refused=p.email.lower() in refused, now=now)
        member = Member(state=state, joined_at=p.joined_at, removed_at=p.removed_at,
                        answered=frozenset(facts.answered.get(p.id, ())),
                        skipped=frozenset(facts.skipped.get(p.id, ())),
                        away=away_periods(facts.away.get(p.id, ())), attendance=attendance,
                        paused=paused_now(str(p.status), p.paused_until, now))
        members.append(member)
        rows.append(Row(
            name=p.name, email=p.email, state=state, bounce=str(p.bounce_state),
            paused_until=p.paused_until if _pause_runs(str(p.status), p.paused_until, now) else None,
            rsvp=rsvps.get("", "NEEDS-ACTION"), stories=facts.stories.get(p.id, 0),
            last_reply=facts.last_reply.get(p.id), attendance=attendance,
            answered=tuple(sorted(member.answered)), skipped=tuple(sorted(member.skipped)),
            gone_quiet=gone_quiet(member, past)))
    return StatusReport(
        cohort_id=cohort.id, cohort=cohort.config.cohort.name, schema=schema, rows=rows,
        checkins=[checkin_numbers(members, c, now) for c in when], outbox=facts.outbox,
        refused=refused, refused_messages=[f for f in failed if refused_for_good(f.error)],
        gave_up=[f for f in failed if not refused_for_good(f.error)], attention=facts.attention,
        zone=ZoneInfo(cohort.config.cohort.timezone))
