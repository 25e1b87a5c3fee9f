"""`circleback status` on the real servers and both databases: each participant's state
(active, bouncing, refused, paused, stopped), who went quiet, the addresses the SMTP
server refused for good, the per-check-in numbers; and a fixed number of queries however
many participants and stories there are."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from away_kit import Week, new_week, play_first_week
from cohort_kit import cohort_config, new_people

from service.cli import main
from service.core.clock import ManualClock
from service.dev.devmail import DevMailServer
from service.flows.status import status_report
from service.runtime.passes import run_once
from service.runtime.service import opened
from service.store.models import Action, OutboxMessage, Participant, Rsvp, Story

pytestmark = pytest.mark.integration


async def test_each_state_quiet_and_refused(mailserver: DevMailServer, tmp_path: Path, db_url: str,
                                           monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    week = await new_week(mailserver, tmp_path, db_url, monkeypatch)
    async with opened(week.config, week.clock) as runtime:
        await play_first_week(week, runtime, mailserver)
        report = await status_report(runtime.cohort())
        # A refused address gets nothing more queued (it is a hard bounce until the
        # facilitator fixes it and says `participants reset-bounce`); others go on.
        carol_rows = await OutboxMessage.filter(rcpt=week.carol).count()
        alice_rows = await OutboxMessage.filter(rcpt=week.alice).count()
        assert (await Participant.get(email=week.carol)).bounce_state == "hard"
        week.clock.advance(timedelta(days=7))
        await run_once(runtime)
        assert await OutboxMessage.filter(rcpt=week.carol).count() == carol_rows
        assert await OutboxMessage.filter(rcpt=week.alice).count() > alice_rows
    data = json.loads(json.dumps(report.as_json(), default=str))
    _check_contract(week, data)
    people = {p["email"]: p for p in data["participants"]}
    # Those mail cannot reach count as quiet (the facilitator should reach them another way);
    # those who said they are away, or left, never do.
    assert {e for e, p in people.items() if p["gone_quiet"]} == {week.bob, week.carol}
    assert people[week.alice]["answered"] == [1] and people[week.alice]["stories"] == 1
    assert people[week.alice]["last_reply"] is not None
    assert people[week.erin]["skipped"] == [1] and people[week.erin]["rsvp"] == "DECLINED"
    first = data["checkins"][0]
    # Check-in 1: Dana was paused, Erin skipped, Frank had stopped: 1 of 3 replied.
    assert (first["number"], first["took_place"], first["invited"], first["answered"],
            first["away"]) == (1, True, 3, 1, 3)
    assert first["reply_rate"] == pytest.approx(1 / 3, abs=0.001)
    assert first["attendance"] == {"accepted": 0, "declined": 1, "tentative": 0, "no answer": 5}
    assert not data["checkins"][1]["took_place"]
    text = report.as_text()
    groups = text.split("\n\n")
    fails = next(g for g in groups if g.startswith("Mail fails (refused by the server, or bouncing) (2):"))
    assert week.bob in fails and week.carol in fails and "refused by the server" in fails
    assert "bouncing (hard), gone quiet" in fails and "refused by the server, gone quiet" in fails
    quiet = [g for g in groups if g.startswith("Gone quiet")]
    assert quiet == []  # both quiet ones are listed where their mail fails
    assert week.alice in next(g for g in groups if g.startswith("Taking part (2):"))
    assert week.dana in next(g for g in groups if g.startswith("Paused (1):"))
    assert week.frank in next(g for g in groups if g.startswith("Stopped or removed (1):"))
    assert "#1 " in text and "1 of 3 replied (33%), 3 away" in text
    # The stranger's mail was left where it was: nothing claims it is in needs-attention.
    assert "need your attention" not in text
    assert f"Refused for good by the mail server: {week.carol}." in text

    # The command, with its own (real) clock and connection: the same states and names.
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["status", str(week.config.path), "--json"]) == 0
    _check_contract(week, json.loads(capsys.readouterr().out))
    assert await asyncio.to_thread(main, ["status", str(week.config.path)]) == 0
    out = capsys.readouterr().out
    assert "6 participants: 2 active, 1 paused, 1 stopped, 1 bouncing, 1 refused" in out


def _check_contract(week: Week, data: dict[str, object]) -> None:
    assert data["cohort_id"] == "flow" and isinstance(data["schema"], int)
    participants = data["participants"]
    assert isinstance(participants, list)
    states = {p["email"]: p["state"] for p in participants}
    assert states == {week.alice: "active", week.bob: "bouncing", week.carol: "refused",
                      week.dana: "paused", week.erin: "active", week.frank: "stopped"}
    for p in participants:
        assert set(p) >= {"email", "state", "paused_until", "rsvp", "stories", "last_reply",
                          "answered", "skipped", "gone_quiet"}
        assert isinstance(p["answered"], list) and isinstance(p["skipped"], list)
        assert isinstance(p["gone_quiet"], bool)
        assert (p["paused_until"] is not None) == (p["email"] == week.dana)
    # Only Carol's address was refused; the detail of each message is beside it.
    assert data["refused"] == [week.carol]
    refused = data["refused_messages"]
    assert isinstance(refused, list) and {r["rcpt"] for r in refused} == {week.carol}
    assert all(r["error"].startswith("550 ") and "5.1.1" in r["error"] for r in refused)
    assert {r["kind"] for r in refused} >= {"invite", "prompt"}


# --- a fixed number of queries ------------------------------------------------------------

class _Queries(logging.Handler):
    """Counts the statements tortoise's database client logs (every query it runs)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage().lstrip()
        if message.split(" ", 1)[0].upper() in ("SELECT", "WITH"):
            self.statements.append(message)


@contextmanager
def _counting() -> Iterator[_Queries]:
    logger = logging.getLogger("tortoise.db_client")
    handler, level = _Queries(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def _add_people(cohort_id: str, start: int, count: int, now: datetime) -> None:
    """Participants with stories, RSVPs, skips, pauses and outbox rows, written directly
    (the point is the size of the tables, not how they got there)."""
    people = [await Participant.create(cohort_id=cohort_id, email=f"p{n}@example.test",
                                       name=f"P {n}", timezone="UTC", joined_at=now)
              for n in range(start, start + count)]
    await Story.bulk_create([
        Story(cohort_id=cohort_id, participant=p, checkin_number=k % 3 + 1, message_id=f"{p.id}-{k}",
              text="A story.", shared_at=now, received_at=now + timedelta(minutes=k))
        for p in people for k in range(4)])
    await Rsvp.bulk_create([Rsvp(participant=p, uid="u", recurrence_key="", partstat="ACCEPTED",
                                 updated_at=now) for p in people[::2]])
    await Action.bulk_create([
        Action(cohort_id=cohort_id, key=f"skip:2:{p.email}", kind="skip", participant=p,
               checkin_number=2, done_at=now) for p in people[::5]] + [
        Action(cohort_id=cohort_id, key=f"pause:{p.email}", kind="pause", participant=p,
               done_at=now, note=(now + timedelta(days=14)).isoformat()) for p in people[1::7]])
    await OutboxMessage.bulk_create([
        OutboxMessage(cohort_id=cohort_id, kind="prompt", message_id=f"m-{p.id}-{state}",
                      participant=p, mail_from="circle@example.test", rcpt=p.email, raw_message=b"x",
                      state=state, next_attempt_at=now, created_at=now,
                      last_error=f"550 <{p.email}>: 5.1.1 no such user" if state == "failed" else "")
        for p in people for state in (["sent", "failed"] if p.id % 9 == 0 else ["sent"])])


async def test_status_makes_the_same_queries_for_50_and_500_participants(
        mailserver: DevMailServer, tmp_path: Path, db_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    people = new_people(mailserver, monkeypatch)
    clock = ManualClock(datetime.now(UTC))
    config = cohort_config(tmp_path, mailserver, db_url, people.cohort, [people.alice],
                           clock.now() - timedelta(days=20))
    async with opened(config, clock) as runtime:
        cohort = runtime.cohort()
        await _add_people(cohort.id, 0, 49, clock.now() - timedelta(days=30))
        counts = []
        for size in (50, 500):
            if size == 500:
                await _add_people(cohort.id, 49, 450, clock.now() - timedelta(days=30))
            with _counting() as handler:
                report = await status_report(cohort)
            counts.append(len(handler.statements))
            assert len(report.rows) == size
            assert sum(r.stories for r in report.rows) == (size - 1) * 4
            assert report.refused  # every ninth address was refused for good
    assert counts[0] == counts[1], counts
    assert 0 < counts[0] <= 12
