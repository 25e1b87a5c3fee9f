"""Schedule changes made by editing the config reach every calendar exactly once, through
the real servers: a cancelled check-in, a moved one, a late joiner, a leaver, a changed
series, a cancelled series; and RSVPs to old versions change nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage, Message
from email.utils import make_msgid
from pathlib import Path

import icalendar
import pytest
from cohort_kit import PASSWORD, People, cohort_config, inbox, new_people, send

from service.compose import calendar_event_text, default_question
from service.config import Config
from service.core.clock import ManualClock
from service.dev.devmail import DevMailServer
from service.flows.status import status_report
from service.runtime.passes import run_once
from service.runtime.service import opened
from service.store.models import Rsvp

pytestmark = pytest.mark.integration


class Seen:
    """Each participant's mailbox, read incrementally: what arrived since last time."""

    def __init__(self, mail: DevMailServer) -> None:
        self.mail = mail
        self.counts: dict[str, int] = {}

    async def new(self, user: str) -> list[Message]:
        messages = await inbox(self.mail, user)
        start = self.counts.get(user, 0)
        self.counts[user] = len(messages)
        return messages[start:]


def calendar_of(message: Message) -> icalendar.Calendar:
    part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    cal = icalendar.Calendar.from_ical(part.get_payload(decode=True))
    # Outlook shows no buttons unless the Content-Type's method equals the METHOD inside.
    assert part.get_param("method") == str(cal["METHOD"])
    return cal


def summary(message: Message) -> tuple[str, int, list[str]]:
    """(METHOD, SEQUENCE of the master, RECURRENCE-IDs in UTC) of an invitation email."""
    cal = calendar_of(message)
    events = list(cal.walk("VEVENT"))
    ids = sorted(e["RECURRENCE-ID"].dt.astimezone(UTC).strftime("%Y%m%dT%H%MZ")
                 for e in events if "RECURRENCE-ID" in e)
    return str(cal["METHOD"]), int(events[0]["SEQUENCE"]), ids


def plain(message: Message) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    return " ".join(part.get_payload(decode=True).decode("utf-8").split())


def reply(people: People, alice_invite: Message, sequence: int, partstat: str,
          recurrence_id: str | None = None) -> EmailMessage:
    cal = calendar_of(alice_invite)
    event = next(iter(cal.walk("VEVENT")))
    organizer = str(event["ORGANIZER"]).split(":", 1)[1]
    rid = f"RECURRENCE-ID:{recurrence_id}\r\n" if recurrence_id else ""
    body = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Google Inc//Google Calendar 70.9054//EN\r\n"
            f"METHOD:REPLY\r\nBEGIN:VEVENT\r\nUID:{event['UID']}\r\n{rid}SEQUENCE:{sequence}\r\n"
            "DTSTAMP:20261201T100000Z\r\n"
            f"ATTENDEE;CN=Alice;PARTSTAT={partstat}:mailto:{people.alice}\r\n"
            f"ORGANIZER:mailto:{organizer}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    msg = EmailMessage()
    msg["From"] = people.alice
    msg["To"] = organizer
    msg["Subject"] = f"{partstat.title()}: check-in"
    msg["Message-ID"] = make_msgid(domain="example.test")
    msg.set_content(body, subtype="calendar", params={"method": "REPLY"})
    return msg


async def test_changes_reach_each_calendar_once(
    mailserver: DevMailServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    people = new_people(mailserver, monkeypatch)
    carol = f"carol-{people.tag}@example.test"
    mailserver.add_user(carol, PASSWORD)
    start = datetime(2030, 3, 1, 9, tzinfo=UTC)
    clock = ManualClock(start)
    seen = Seen(mailserver)

    def config(members: list[str], extra: str = "", duration: str = "45m") -> Config:
        return cohort_config(tmp_path, mailserver, None, people.cohort, members, start,
                             first_in=timedelta(days=10), checkins_extra=extra, duration=duration)

    async def once(cfg: Config) -> None:
        async with opened(cfg, clock) as runtime:
            report = await run_once(runtime)
            assert report.problems == [] and report.failed == 0

    # First check-in 2030-03-11 09:00 UTC, weekly, three of them.
    await once(config([people.alice, people.bob]))
    cfg = config([people.alice, people.bob])
    question = cfg.prompt_for(2) or default_question(2)
    event_text = calendar_event_text(cfg.cohort.name, "", cfg.checkins.location, question)
    for user in (people.alice, people.bob):
        first = await seen.new(user)
        assert [summary(m) for m in first] == [("REQUEST", 0, [])]
        # What the calendar shows of the event is the templates' wording.
        event = next(iter(calendar_of(first[0]).walk("VEVENT")))
        assert (str(event["SUMMARY"]), str(event["DESCRIPTION"])) == event_text
        assert str(event["SUMMARY"]) == "Flow cohort: check-in"
        assert "Join: https://meet.example.org/flow" in str(event["DESCRIPTION"])
        assert "Flow cohort: every week, 3 in all." in plain(first[0])
        assert "replaces" not in plain(first[0])

    # Cancel check-in 2: one CANCEL naming its original start, SEQUENCE up by one.
    cancelled = "cancelled = [2]"
    await once(config([people.alice, people.bob], cancelled))
    await once(config([people.alice, people.bob], cancelled))  # a restart sends nothing more
    for user in (people.alice, people.bob):
        assert [summary(m) for m in await seen.new(user)] == [("CANCEL", 1, ["20300318T0900Z"])]

    # Move check-in 3 by two hours: master and override together in one REQUEST.
    moved = cancelled + "\n[[checkins.moved]]\ncheckin = 3\nstart = 2030-03-25T11:00:00"
    await once(config([people.alice, people.bob], moved))
    alice_mail = await seen.new(people.alice)
    assert [summary(m) for m in alice_mail] == [("REQUEST", 2, ["20300325T0900Z"])]
    assert "This invitation replaces the one you had: a check-in moved." in plain(alice_mail[0])
    override = next(e for e in calendar_of(alice_mail[0]).walk("VEVENT") if "RECURRENCE-ID" in e)
    assert override["DTSTART"].dt.astimezone(UTC) == datetime(2030, 3, 25, 11, tzinfo=UTC)
    master = next(e for e in calendar_of(alice_mail[0]).walk("VEVENT") if "RECURRENCE-ID" not in e)
    assert [d.dt.astimezone(UTC) for d in master["EXDATE"].dts] == [datetime(2030, 3, 18, 9, tzinfo=UTC)]
    assert len(await seen.new(people.bob)) == 1

    # Carol joins after check-in 1; Bob leaves. Alice's calendar is already right.
    clock.set(datetime(2030, 3, 12, 9, tzinfo=UTC))
    await once(config([people.alice, carol], moved))
    assert [(m["X-Circleback-Kind"], m["Subject"]) for m in await seen.new(people.alice)] == []
    assert [summary(m) for m in await seen.new(people.bob)] == [("CANCEL", 3, [])]
    carol_mail = [m for m in await seen.new(carol) if m["X-Circleback-Kind"] == "invite"]
    assert [summary(m) for m in carol_mail] == [("REQUEST", 2, ["20300325T0900Z"])]
    carol_master = next(e for e in calendar_of(carol_mail[0]).walk("VEVENT") if "RECURRENCE-ID" not in e)
    assert carol_master["DTSTART"].dt.astimezone(UTC) == datetime(2030, 3, 18, 9, tzinfo=UTC)
    assert "COUNT=2" in carol_master["RRULE"].to_ical().decode()

    # An RSVP to an older version changes nothing; one to the current version counts, and
    # one for a single occurrence is matched by its UTC instant.
    alice_invite = next(m for m in await inbox(mailserver, people.alice)
                        if m["X-Circleback-Kind"] == "invite" and summary(m)[1] == 2)
    organizer = str(next(iter(calendar_of(alice_invite).walk("VEVENT")))["ORGANIZER"]).split(":", 1)[1]
    await send(mailserver, reply(people, alice_invite, 0, "DECLINED"), organizer)
    await once(config([people.alice, carol], moved))
    async with opened(config([people.alice, carol], moved), clock) as runtime:
        assert await Rsvp.filter(participant__email=people.alice).count() == 0
    await send(mailserver, reply(people, alice_invite, 2, "ACCEPTED"), organizer)
    await send(mailserver, reply(people, alice_invite, 2, "DECLINED", "20300325T090000Z"), organizer)
    await once(config([people.alice, carol], moved))
    async with opened(config([people.alice, carol], moved), clock) as runtime:
        answers = {r.recurrence_key: r.partstat
                   for r in await Rsvp.filter(participant__email=people.alice)}
        assert answers == {"": "ACCEPTED", "20300325T090000Z": "DECLINED"}
        status = await status_report(runtime.cohort())
        row = next(r for r in status.rows if r.email == people.alice)
        assert row.attendance == {1: "accepted", 3: "declined"}

    # The series gets longer calls: one updated REQUEST to each current participant.
    await once(config([people.alice, carol], moved, duration="1h"))
    for user in (people.alice, carol):
        updates = [m for m in await seen.new(user) if m["X-Circleback-Kind"] == "invite"]
        assert [summary(m)[:2] for m in updates] == [("REQUEST", 3)]
        assert str(updates[0]["Subject"]).startswith("Updated invitation")
        assert "This invitation replaces the one you had: the length." in plain(updates[0])
    assert await seen.new(people.bob) == []

    # The whole series is called off.
    off = moved.replace("cancelled = [2]", "cancelled = [2]\ncancel_series = true")
    await once(config([people.alice, carol], off, duration="1h"))
    await once(config([people.alice, carol], off, duration="1h"))
    for user in (people.alice, carol):
        assert [summary(m) for m in await seen.new(user)] == [("CANCEL", 4, [])]

    # A counter-proposal changes nothing by itself; the facilitator is told.
    counter = reply(people, alice_invite, 4, "TENTATIVE")
    body = counter.get_content().replace("METHOD:REPLY", "METHOD:COUNTER").replace(
        "DTSTAMP:", "DTSTART:20300325T150000Z\r\nDTEND:20300325T160000Z\r\nDTSTAMP:")
    counter.set_content(body, subtype="calendar", params={"method": "COUNTER"})
    await send(mailserver, counter, organizer)
    await once(config([people.alice, carol], off, duration="1h"))
    notices = [m for m in await inbox(mailserver, people.facilitator)
               if m["X-Circleback-Kind"] == "notice"]
    assert len(notices) == 1
    assert "proposes another time" in str(notices[0]["Subject"])
    text = str(notices[0].get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]
    assert "Nothing was changed" in text and "Monday 25 March 2030, 15:00 (UTC)" in text
