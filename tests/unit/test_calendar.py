"""Tests for service/calendar.py (and the VTIMEZONE builder in service/tz.py)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr
from icalendar import Calendar

from service.calendar.itip import (
    PRODID,
    Attendee,
    ItipMessage,
    Organizer,
    Override,
    SeriesSpec,
    build_cancel,
    build_request,
    occurrence_starts,
    parse_itip,
    vtimezone,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "calendar"
NEW_YORK = ZoneInfo("America/New_York")
UID = "orlando-2015-checkins@circleback"
ORGANIZER = Organizer(name="Orlando circle", address="circle+k3j9x2@example.org")
ATTENDEE = Attendee(name="Alice Example", email="alice@example.com")
DTSTAMP = datetime(2026, 10, 1, 9, 30, tzinfo=UTC)


def series(**changes: object) -> SeriesSpec:
    """Weekly, four times, across the US DST change of 2026-11-01."""
    spec = SeriesSpec(
        uid=UID,
        summary="Kick-start your social learning journey: check-in",
        description="Our regular check-in call.\nJoin: https://meet.example.org/orlando",
        location="https://meet.example.org/orlando",
        timezone="America/New_York",
        first_start=datetime(2026, 10, 20, 12, 0, tzinfo=NEW_YORK),
        duration=timedelta(minutes=45),
        rrule="FREQ=WEEKLY;COUNT=4",
        sequence=0,
    )
    return replace(spec, **changes)  # type: ignore[arg-type]


def ny(month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=NEW_YORK)


# --- an independent content-line reader and the RFC 5546 restriction tables ---------------


@dataclass
class Prop:
    name: str
    params: dict[str, str]
    value: str


@dataclass
class Node:
    name: str
    props: list[Prop] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)

    def all(self, name: str) -> list[Prop]:
        return [p for p in self.props if p.name == name]

    def one(self, name: str) -> Prop:
        found = self.all(name)
        assert len(found) == 1, f"{self.name}: expected one {name}, found {len(found)}"
        return found[0]

    def walk(self, name: str) -> list[Node]:
        found = [self] if self.name == name else []
        for child in self.children:
            found += child.walk(name)
        return found


def split_content_line(line: str) -> Prop:
    """RFC 5545 3.1: name *(";" param) ":" value, with DQUOTE-quoted parameter values."""
    parts: list[str] = []
    current, quoted = "", False
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char in ";:" and not quoted:
            parts.append(current)
            current = ""
            if char == ":":
                value = line[index + 1 :]
                break
            continue
        current += char
    else:
        raise AssertionError(f"no value in content line {line!r}")
    params = {}
    for param in parts[1:]:
        key, _, raw = param.partition("=")
        params[key.upper()] = raw.strip('"')
    return Prop(parts[0].upper(), params, value)


def read_ical(data: bytes) -> Node:
    """Check the wire format (RFC 5545 3.1) and read the component tree."""
    text = data.decode("utf-8")
    assert text.endswith("\r\n")
    physical = text[:-2].split("\r\n")
    assert all("\n" not in line and "\r" not in line for line in physical), "bare CR or LF"
    assert all(len(line.encode()) <= 75 for line in physical), "line longer than 75 octets"
    logical: list[str] = []
    for line in physical:
        if line[:1] in (" ", "\t"):
            logical[-1] += line[1:]
        else:
            logical.append(line)
    stack: list[Node] = [Node("ROOT")]
    for line in logical:
        prop = split_content_line(line)
        if prop.name == "BEGIN":
            node = Node(prop.value.upper())
            stack[-1].children.append(node)
            stack.append(node)
        elif prop.name == "END":
            assert stack.pop().name == prop.value.upper()
        else:
            stack[-1].props.append(prop)
    assert len(stack) == 1 and len(stack[0].children) == 1
    return stack[0].children[0]


MANY = None
VEVENT_COMMON = {
    "UID": (1, 1),
    "DTSTAMP": (1, 1),
    "ORGANIZER": (1, 1),
    "RECURRENCE-ID": (0, 1),
    "DTEND": (0, 1),
    "DURATION": (0, 1),
    "DESCRIPTION": (0, 1),
    "LOCATION": (0, 1),
    "URL": (0, 1),
    "TRANSP": (0, 1),
    "STATUS": (0, 1),
    "RRULE": (0, MANY),
    "EXDATE": (0, MANY),
}
# RFC 5546 3.2.2 (REQUEST) and 3.2.5 (CANCEL): properties allowed in VEVENT, (min, max).
RESTRICTIONS: dict[str, dict[str, tuple[int, int | None]]] = {
    "REQUEST": VEVENT_COMMON
    | {"ATTENDEE": (1, MANY), "DTSTART": (1, 1), "SUMMARY": (1, 1), "SEQUENCE": (0, 1)},
    "CANCEL": VEVENT_COMMON
    | {"ATTENDEE": (0, MANY), "DTSTART": (0, 1), "SUMMARY": (0, 1), "SEQUENCE": (1, 1)},
}
STATUSES = {"REQUEST": {"TENTATIVE", "CONFIRMED"}, "CANCEL": {"CANCELLED"}}


def assert_valid_itip(data: bytes, method: str) -> Node:
    """A strict structural check of what we send, per RFC 5545/5546/6047."""
    cal = read_ical(data)
    assert cal.name == "VCALENDAR"
    assert cal.one("PRODID").value == PRODID
    assert cal.one("VERSION").value == "2.0"
    assert cal.one("CALSCALE").value == "GREGORIAN"
    assert cal.one("METHOD").value == method
    events = [c for c in cal.children if c.name == "VEVENT"]
    assert {c.name for c in cal.children} <= {"VEVENT", "VTIMEZONE"}
    assert len({e.one("UID").value for e in events}) == 1, "all VEVENTs share one UID"
    masters = [e for e in events if not e.all("RECURRENCE-ID")]
    if method == "REQUEST":
        assert len(masters) == 1
    else:
        assert len(events) == 1
    table = RESTRICTIONS[method]
    for event in events:
        for name in {p.name for p in event.props}:
            assert name in table or name.startswith("X-"), f"{method} VEVENT must not have {name}"
        for name, (low, high) in table.items():
            count = len(event.all(name))
            assert count >= low and (high is None or count <= high), f"{name} x{count}"
        assert not (event.all("DTEND") and event.all("DURATION"))
        assert event.one("DTSTAMP").value.endswith("Z")
        assert event.all("SEQUENCE"), "we always write SEQUENCE (required when > 0)"
        for status in event.all("STATUS"):
            assert status.value in STATUSES[method]
        for address in event.all("ORGANIZER") + event.all("ATTENDEE"):
            assert address.value.startswith("mailto:")
        if event.all("RECURRENCE-ID"):
            assert not event.all("RRULE") and not event.all("EXDATE")
            if event.all("DTSTART"):
                assert event.one("RECURRENCE-ID").params["TZID"] == (
                    event.one("DTSTART").params["TZID"]
                )
    # RFC 5546 3.1: a VTIMEZONE for every TZID used; onsets are local times.
    zones = {z.one("TZID").value: z for z in cal.walk("VTIMEZONE")}
    used = {p.params["TZID"] for e in events for p in e.props if "TZID" in p.params}
    assert used and used <= set(zones)
    for zone in zones.values():
        subs = zone.children
        assert subs and {s.name for s in subs} <= {"STANDARD", "DAYLIGHT"}
        for sub in subs:
            assert len(sub.one("DTSTART").value) == 15  # local, no "Z"
            sub.one("TZOFFSETFROM")
            sub.one("TZOFFSETTO")
            assert not sub.all("RDATE"), "Outlook misplaces events with RDATE onsets"
    return cal


# --- REQUEST ------------------------------------------------------------------------------


def test_request_has_the_properties_clients_need() -> None:
    cal = assert_valid_itip(build_request(series(sequence=2), ORGANIZER, ATTENDEE, DTSTAMP), "REQUEST")
    (event,) = cal.walk("VEVENT")
    assert event.one("UID").value == UID
    assert event.one("DTSTAMP").value == "20261001T093000Z"
    assert event.one("SEQUENCE").value == "2"
    assert event.one("STATUS").value == "CONFIRMED"
    assert event.one("TRANSP").value == "OPAQUE"
    assert event.one("SUMMARY").value == "Kick-start your social learning journey: check-in"
    assert event.one("DESCRIPTION").value == (
        "Our regular check-in call.\\nJoin: https://meet.example.org/orlando"
    )
    assert event.one("LOCATION").value == "https://meet.example.org/orlando"
    assert event.one("URL").value == "https://meet.example.org/orlando"
    organizer = event.one("ORGANIZER")
    assert (organizer.params, organizer.value) == (
        {"CN": "Orlando circle"},
        "mailto:circle+k3j9x2@example.org",
    )
    attendee = event.one("ATTENDEE")
    assert attendee.value == "mailto:alice@example.com"
    assert attendee.params == {
        "CN": "Alice Example",
        "ROLE": "REQ-PARTICIPANT",
        "PARTSTAT": "NEEDS-ACTION",
        "RSVP": "TRUE",
    }
    assert (event.one("DTSTART").params, event.one("DTSTART").value) == (
        {"TZID": "America/New_York"},
        "20261020T120000",
    )
    assert (event.one("DTEND").params, event.one("DTEND").value) == (
        {"TZID": "America/New_York"},
        "20261020T124500",
    )
    assert event.one("RRULE").value == "FREQ=WEEKLY;COUNT=4"
    assert event.all("EXDATE") == []


def test_request_round_trips_through_parse_itip() -> None:
    data = build_request(series(sequence=3), ORGANIZER, ATTENDEE, DTSTAMP)
    assert parse_itip(data) == ItipMessage(
        method="REQUEST",
        uid=UID,
        sequence=3,
        attendee_email="alice@example.com",
        partstat="NEEDS-ACTION",
        recurrence_id=None,
        comment=None,
    )
    parsed = Calendar.from_ical(data)
    (event,) = parsed.walk("VEVENT")
    assert event.decoded("DTSTART") == ny(10, 20)
    assert event.decoded("DTSTART").tzinfo.key == "America/New_York"
    assert event.decoded("DTEND") - event.decoded("DTSTART") == timedelta(minutes=45)


def test_output_is_crlf_folded_utf8_even_for_long_non_ascii_text() -> None:
    long_text = "Grüße aus Köln – " * 20 + "\nZweite Zeile; mit, Sonderzeichen"
    data = build_request(series(description=long_text), ORGANIZER, ATTENDEE, DTSTAMP)
    read_ical(data)  # CRLF only, <= 75 octets a line, valid UTF-8
    (event,) = Calendar.from_ical(data).walk("VEVENT")
    assert str(event["DESCRIPTION"]) == long_text


def test_place_location_has_no_url() -> None:
    data = build_request(series(location="Room 4, Orlando library"), ORGANIZER, ATTENDEE, DTSTAMP)
    (event,) = assert_valid_itip(data, "REQUEST").walk("VEVENT")
    assert event.one("LOCATION").value == "Room 4\\, Orlando library"
    assert event.all("URL") == []


def test_dtstamp_is_written_in_utc() -> None:
    local_stamp = datetime(2026, 10, 1, 5, 30, tzinfo=NEW_YORK)
    (event,) = read_ical(build_request(series(), ORGANIZER, ATTENDEE, local_stamp)).walk("VEVENT")
    assert event.one("DTSTAMP").value == "20261001T093000Z"


# --- occurrences, DST, exdates, overrides -------------------------------------------------


def test_weekly_series_across_us_dst_change_keeps_local_time() -> None:
    starts = occurrence_starts(series())
    assert starts == [ny(10, 20), ny(10, 27), ny(11, 3), ny(11, 10)]
    assert all(s.tzinfo == NEW_YORK and (s.hour, s.minute) == (12, 0) for s in starts)
    assert [s.astimezone(UTC).hour for s in starts] == [16, 16, 17, 17]


def test_generated_request_expands_to_the_same_instants() -> None:
    spec = series(exdates=(ny(10, 27),))
    (event,) = Calendar.from_ical(build_request(spec, ORGANIZER, ATTENDEE, DTSTAMP)).walk("VEVENT")
    rrule: Any = event["RRULE"]
    exdate: Any = event["EXDATE"]
    rule = rrulestr(rrule.to_ical().decode(), dtstart=event.decoded("DTSTART"))
    exdates = {d.dt for d in exdate.dts}
    expanded = [d.astimezone(UTC) for d in rule if d not in exdates]
    assert expanded == [s.astimezone(UTC) for s in occurrence_starts(spec)]
    assert [d.hour for d in expanded] == [16, 17, 17]


def test_until_bounded_series_and_local_until_is_normalised_to_utc() -> None:
    spec = series(rrule="FREQ=WEEKLY;UNTIL=20261103T120000")
    assert occurrence_starts(spec) == [ny(10, 20), ny(10, 27), ny(11, 3)]
    (event,) = read_ical(build_request(spec, ORGANIZER, ATTENDEE, DTSTAMP)).walk("VEVENT")
    assert event.one("RRULE").value == "FREQ=WEEKLY;UNTIL=20261103T170000Z"
    date_until = series(rrule="FREQ=WEEKLY;UNTIL=20261027")
    assert occurrence_starts(date_until) == [ny(10, 20), ny(10, 27)]


def test_unbounded_rrule_is_refused() -> None:
    with pytest.raises(ValueError, match="COUNT"):
        occurrence_starts(series(rrule="FREQ=WEEKLY"))


def test_exdates_are_removed_and_written_one_per_line_with_tzid() -> None:
    spec = series(exdates=(ny(10, 27), ny(11, 10).astimezone(UTC)))
    assert occurrence_starts(spec) == [ny(10, 20), ny(11, 3)]
    cal = assert_valid_itip(build_request(spec, ORGANIZER, ATTENDEE, DTSTAMP), "REQUEST")
    (event,) = cal.walk("VEVENT")
    assert [(e.params, e.value) for e in event.all("EXDATE")] == [
        ({"TZID": "America/New_York"}, "20261027T120000"),
        ({"TZID": "America/New_York"}, "20261110T120000"),
    ]


def test_overrides_travel_as_extra_vevents_with_recurrence_id() -> None:
    moved = Override(recurrence_id=ny(11, 3), start=ny(11, 4, 13), end=ny(11, 4, 14), sequence=4)
    spec = series(sequence=3, overrides=(moved,), exdates=(ny(10, 27),))
    cal = assert_valid_itip(build_request(spec, ORGANIZER, ATTENDEE, DTSTAMP), "REQUEST")
    master, override = cal.walk("VEVENT")
    assert master.all("RECURRENCE-ID") == [] and master.one("SEQUENCE").value == "3"
    assert override.one("UID").value == UID
    assert override.one("SEQUENCE").value == "4"
    tz = {"TZID": "America/New_York"}
    assert (override.one("RECURRENCE-ID").params, override.one("RECURRENCE-ID").value) == (
        tz,
        "20261103T120000",
    )
    assert (override.one("DTSTART").params, override.one("DTSTART").value) == (
        tz,
        "20261104T130000",
    )
    assert override.one("DTEND").value == "20261104T140000"
    assert override.one("ATTENDEE").params["RSVP"] == "TRUE"
    # The master still lists the moved occurrence by its original start.
    assert occurrence_starts(spec) == [ny(10, 20), ny(11, 3), ny(11, 10)]


def test_override_of_a_non_occurrence_is_refused() -> None:
    stray = Override(recurrence_id=ny(10, 21), start=ny(10, 22), end=ny(10, 22, 13), sequence=1)
    with pytest.raises(ValueError, match="not a"):
        build_request(series(overrides=(stray,)), ORGANIZER, ATTENDEE, DTSTAMP)
    cancelled = Override(recurrence_id=ny(10, 27), start=ny(10, 28), end=ny(10, 28, 13), sequence=1)
    with pytest.raises(ValueError, match="not a"):
        build_request(
            series(overrides=(cancelled,), exdates=(ny(10, 27),)), ORGANIZER, ATTENDEE, DTSTAMP
        )


# --- CANCEL -------------------------------------------------------------------------------


def test_cancel_one_occurrence_carries_recurrence_id_with_tzid() -> None:
    spec = series(sequence=5)
    data = build_cancel(spec, ORGANIZER, ATTENDEE, DTSTAMP, recurrence_id=ny(11, 10).astimezone(UTC))
    cal = assert_valid_itip(data, "CANCEL")
    (event,) = cal.walk("VEVENT")
    assert (event.one("RECURRENCE-ID").params, event.one("RECURRENCE-ID").value) == (
        {"TZID": "America/New_York"},
        "20261110T120000",
    )
    assert event.one("STATUS").value == "CANCELLED"
    assert event.one("SEQUENCE").value == "5"
    assert event.one("DTSTART").value == "20261110T120000"
    assert event.all("RRULE") == []
    assert event.one("ATTENDEE").params == {"CN": "Alice Example", "ROLE": "REQ-PARTICIPANT"}
    message = parse_itip(data)
    assert message is not None
    assert (message.method, message.recurrence_id) == ("CANCEL", datetime(2026, 11, 10, 17, tzinfo=UTC))


def test_cancel_of_a_moved_occurrence_names_its_new_time() -> None:
    moved = Override(recurrence_id=ny(11, 3), start=ny(11, 4, 13), end=ny(11, 4, 14), sequence=1)
    data = build_cancel(series(overrides=(moved,)), ORGANIZER, ATTENDEE, DTSTAMP, ny(11, 3))
    (event,) = assert_valid_itip(data, "CANCEL").walk("VEVENT")
    assert event.one("RECURRENCE-ID").value == "20261103T120000"
    assert event.one("DTSTART").value == "20261104T130000"


def test_cancel_whole_series() -> None:
    data = build_cancel(series(sequence=7), ORGANIZER, ATTENDEE, DTSTAMP)
    (event,) = assert_valid_itip(data, "CANCEL").walk("VEVENT")
    assert event.all("RECURRENCE-ID") == []
    assert event.one("STATUS").value == "CANCELLED"
    assert event.one("SEQUENCE").value == "7"
    assert event.one("RRULE").value == "FREQ=WEEKLY;COUNT=4"
    assert event.one("DTSTART").value == "20261020T120000"


def test_cancel_of_a_non_occurrence_is_refused() -> None:
    with pytest.raises(ValueError, match="not an occurrence"):
        build_cancel(series(), ORGANIZER, ATTENDEE, DTSTAMP, recurrence_id=ny(10, 21))


# --- VTIMEZONE ----------------------------------------------------------------------------


def _subs(tzid: str) -> dict[str, Node]:
    data = vtimezone(tzid, datetime(2026, 10, 20), datetime(2027, 2, 1)).to_ical()
    zone = read_ical(data)
    assert zone.one("TZID").value == tzid
    assert len({s.name for s in zone.children}) == len(zone.children)
    return {s.name: s for s in zone.children}


def test_vtimezone_new_york_recurs_by_rrule() -> None:
    subs = _subs("America/New_York")
    assert set(subs) == {"STANDARD", "DAYLIGHT"}
    standard, daylight = subs["STANDARD"], subs["DAYLIGHT"]
    assert standard.one("RRULE").value == "FREQ=YEARLY;BYDAY=1SU;BYMONTH=11"
    assert (standard.one("TZOFFSETFROM").value, standard.one("TZOFFSETTO").value) == ("-0400", "-0500")
    assert standard.one("DTSTART").value == "20251102T020000"
    assert standard.one("TZNAME").value == "EST"
    assert daylight.one("RRULE").value == "FREQ=YEARLY;BYDAY=2SU;BYMONTH=3"
    assert (daylight.one("TZOFFSETFROM").value, daylight.one("TZOFFSETTO").value) == ("-0500", "-0400")
    assert daylight.one("DTSTART").value == "20250309T020000"
    assert all(not s.all("RDATE") for s in subs.values())


def test_vtimezone_london_recurs_by_rrule() -> None:
    subs = _subs("Europe/London")
    assert set(subs) == {"STANDARD", "DAYLIGHT"}
    assert subs["STANDARD"].one("RRULE").value == "FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10"
    assert subs["STANDARD"].one("DTSTART").value == "20251026T020000"
    assert subs["STANDARD"].one("TZOFFSETTO").value == "+0000"
    assert subs["DAYLIGHT"].one("RRULE").value == "FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3"
    assert subs["DAYLIGHT"].one("DTSTART").value == "20250330T010000"
    assert subs["DAYLIGHT"].one("TZOFFSETTO").value == "+0100"


def test_vtimezone_without_dst_is_one_standard() -> None:
    subs = _subs("Asia/Tokyo")
    assert set(subs) == {"STANDARD"}
    tokyo = subs["STANDARD"]
    assert (tokyo.one("TZOFFSETFROM").value, tokyo.one("TZOFFSETTO").value) == ("+0900", "+0900")
    assert tokyo.one("TZNAME").value == "JST"
    assert tokyo.all("RRULE") == []


@pytest.mark.parametrize(
    "tzid",
    [
        "America/New_York",
        "Europe/London",
        "Europe/Dublin",  # negative DST in tzdata
        "Australia/Sydney",  # southern hemisphere
        "Australia/Lord_Howe",  # 30-minute DST
        "Asia/Jerusalem",  # "Friday before the last Sunday"
        "America/Sao_Paulo",  # DST abolished in 2019
    ],
)
def test_vtimezone_agrees_with_zoneinfo_at_every_instant(tzid: str) -> None:
    """Read our VTIMEZONE back as a tzinfo (not looked up by name) and compare offsets."""
    zone = ZoneInfo(tzid)
    ours = vtimezone(tzid, datetime(2026, 3, 1), datetime(2027, 6, 1)).to_tz(lookup_tzid=False)
    instant, end = datetime(2026, 3, 1, tzinfo=UTC), datetime(2027, 6, 1, tzinfo=UTC)
    step = timedelta(hours=4)
    while instant < end:
        following = instant + step
        checks = [instant]
        if following.astimezone(zone).utcoffset() != instant.astimezone(zone).utcoffset():
            low, high = instant, following  # bisect to the transition second
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                same = middle.astimezone(zone).utcoffset() == low.astimezone(zone).utcoffset()
                low, high = (middle, high) if same else (low, middle)
            checks += [low, high]
        for check in checks:
            assert check.astimezone(ours).utcoffset() == check.astimezone(zone).utcoffset(), check
        instant = following


# --- parse_itip: what real clients send ---------------------------------------------------


def reply(**fields: object) -> ItipMessage:
    base = ItipMessage(
        method="REPLY",
        uid=UID,
        sequence=0,
        attendee_email=None,
        partstat=None,
        recurrence_id=None,
        comment=None,
    )
    return replace(base, **fields)  # type: ignore[arg-type]


DEC_1_NOON_NY = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
DEC_15_NOON_NY = datetime(2026, 12, 15, 17, 0, tzinfo=UTC)

FIXTURE_EXPECTATIONS = {
    "google_reply_accepted_series.ics": reply(
        attendee_email="alice@example.com", partstat="ACCEPTED"
    ),
    "google_reply_declined_occurrence_utc.ics": reply(
        sequence=1,
        attendee_email="alice@example.com",
        partstat="DECLINED",
        recurrence_id=DEC_15_NOON_NY,
        comment="Travelling that week, sorry!",
    ),
    "outlook_reply_german_accepted.ics": reply(
        attendee_email="bernd.beispiel@example.de", partstat="ACCEPTED"
    ),
    "outlook_reply_german_declined_occurrence.ics": reply(
        sequence=1,
        attendee_email="bernd.beispiel@example.de",
        partstat="DECLINED",
        recurrence_id=DEC_15_NOON_NY,  # 18:00 "W. Europe Standard Time"
        comment="Leider bin ich an dem Tag im Urlaub. Grüße, Bernd",
    ),
    "apple_reply_tentative_occurrence.ics": reply(
        attendee_email="chris@example.net", partstat="TENTATIVE", recurrence_id=DEC_1_NOON_NY
    ),
    "icloud_reply_email_param.ics": reply(
        attendee_email="dana.muster@icloud.com", partstat="ACCEPTED"
    ),
    "thunderbird_reply_accepted.ics": reply(
        sequence=1, attendee_email="carol@example.net", partstat="ACCEPTED"
    ),
    "evolution_reply_tentative_occurrence.ics": reply(
        sequence=1,
        attendee_email="erin@example.org",
        partstat="TENTATIVE",
        recurrence_id=DEC_15_NOON_NY,  # 17:00 /freeassociation.sourceforge.net/Europe/London
    ),
    "outlook_counter_new_time.ics": reply(
        method="COUNTER",
        attendee_email="frank@example.com",
        partstat="TENTATIVE",
        recurrence_id=DEC_1_NOON_NY,
        comment="Could we start an hour later that day?",
        proposed_start=datetime(2026, 12, 1, 18, 0, tzinfo=UTC),
    ),
}


def test_every_fixture_has_an_expectation() -> None:
    assert {p.name for p in FIXTURES.glob("*.ics")} == set(FIXTURE_EXPECTATIONS)


@pytest.mark.parametrize("name", sorted(FIXTURE_EXPECTATIONS))
def test_parse_client_fixture(name: str) -> None:
    message = parse_itip((FIXTURES / name).read_bytes())
    assert message == FIXTURE_EXPECTATIONS[name]
    assert message is not None
    if message.recurrence_id is not None:
        assert message.recurrence_id.tzinfo is UTC


@pytest.mark.parametrize("name", sorted(FIXTURE_EXPECTATIONS))
def test_parse_tolerates_bare_lf_line_endings(name: str) -> None:
    data = (FIXTURES / name).read_bytes().replace(b"\r\n", b"\n")
    assert parse_itip(data) == FIXTURE_EXPECTATIONS[name]


def body(event_lines: str, method: str | None = "REPLY") -> bytes:
    head = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
    if method is not None:
        head += f"METHOD:{method}\r\n"
    lines = "".join(f"{line}\r\n" for line in event_lines.strip().splitlines())
    return f"{head}BEGIN:VEVENT\r\n{lines}END:VEVENT\r\nEND:VCALENDAR\r\n".encode()


@pytest.mark.parametrize(
    ("tzid", "local", "utc"),
    [
        ("W. Europe Standard Time", "20261215T180000", datetime(2026, 12, 15, 17, tzinfo=UTC)),
        ("Romance Standard Time", "20260701T180000", datetime(2026, 7, 1, 16, tzinfo=UTC)),
        ("GMT Standard Time", "20260701T180000", datetime(2026, 7, 1, 17, tzinfo=UTC)),
        ("Eastern Standard Time", "20261215T120000", datetime(2026, 12, 15, 17, tzinfo=UTC)),
        ("Pacific Standard Time", "20260701T090000", datetime(2026, 7, 1, 16, tzinfo=UTC)),
        ("Tokyo Standard Time", "20260701T090000", datetime(2026, 7, 1, 0, tzinfo=UTC)),
        ("Europe/Berlin", "20260701T180000", datetime(2026, 7, 1, 16, tzinfo=UTC)),
    ],
)
def test_recurrence_id_in_windows_or_iana_zone_without_vtimezone(
    tzid: str, local: str, utc: datetime
) -> None:
    message = parse_itip(
        body(
            f"""UID:{UID}
ATTENDEE;PARTSTAT=ACCEPTED:mailto:a@example.com
RECURRENCE-ID;TZID="{tzid}":{local}"""
        )
    )
    assert message is not None and message.recurrence_id == utc


def test_recurrence_id_as_date_is_midnight_utc() -> None:
    message = parse_itip(
        body(f"UID:{UID}\nATTENDEE;PARTSTAT=DECLINED:mailto:a@example.com\nRECURRENCE-ID;VALUE=DATE:20261215")
    )
    assert message is not None
    assert message.recurrence_id == datetime(2026, 12, 15, 0, 0, tzinfo=UTC)


def test_missing_method_is_empty_string() -> None:
    message = parse_itip(body(f"UID:{UID}\nATTENDEE;PARTSTAT=ACCEPTED:mailto:a@example.com", method=None))
    assert message == reply(method="", attendee_email="a@example.com", partstat="ACCEPTED")


@pytest.mark.parametrize("method", ["REFRESH", "CANCEL", "reply"])
def test_other_methods_are_reported_upper_case(method: str) -> None:
    message = parse_itip(body(f"UID:{UID}\nATTENDEE:mailto:a@example.com", method=method))
    assert message == reply(method=method.upper(), attendee_email="a@example.com")


@pytest.mark.parametrize(
    ("line", "email"),
    [
        ("ATTENDEE;PARTSTAT=ACCEPTED:mailto:a@example.com", "a@example.com"),
        ("ATTENDEE;PARTSTAT=ACCEPTED:MAILTO:A.B@EXAMPLE.COM", "a.b@example.com"),
        ('ATTENDEE;EMAIL="X@Example.com";PARTSTAT=ACCEPTED:urn:uuid:1234', "x@example.com"),
        ("ATTENDEE;PARTSTAT=ACCEPTED:mailto:circle%2Bx@example.com", "circle+x@example.com"),
        ("ATTENDEE;PARTSTAT=ACCEPTED:urn:uuid:1234", None),
    ],
)
def test_attendee_address_forms(line: str, email: str | None) -> None:
    message = parse_itip(body(f"UID:{UID}\n{line}"))
    assert message is not None
    assert (message.attendee_email, message.partstat) == (email, "ACCEPTED")


def test_the_attendee_who_answered_is_chosen_among_several() -> None:
    message = parse_itip(
        body(
            f"""UID:{UID}
ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:other@example.com
ATTENDEE;PARTSTAT=declined:mailto:me@example.com"""
        )
    )
    assert message is not None
    assert (message.attendee_email, message.partstat) == ("me@example.com", "DECLINED")


def test_master_speaks_for_the_series_when_a_reply_carries_occurrences_too() -> None:
    data = body(
        f"""UID:{UID}
RECURRENCE-ID:20261215T170000Z
ATTENDEE;PARTSTAT=DECLINED:mailto:a@example.com
END:VEVENT
BEGIN:VEVENT
UID:{UID}
ATTENDEE;PARTSTAT=ACCEPTED:mailto:a@example.com"""
    )
    assert parse_itip(data) == reply(attendee_email="a@example.com", partstat="ACCEPTED")


def test_latin1_body_and_broken_sequence_still_parse() -> None:
    data = body(f"UID:{UID}\nSEQUENCE:x\nCOMMENT:Grüße\nATTENDEE:mailto:a@example.com").decode()
    message = parse_itip(data.encode("latin-1"))
    assert message == reply(attendee_email="a@example.com", comment="Grüße")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello",
        b"\xff\xfe\x00garbage\x00",
        b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
        b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\n",
        body("ATTENDEE;PARTSTAT=ACCEPTED:mailto:a@example.com"),  # no UID
        body(f"UID:{UID}\nRECURRENCE-ID:2026\nATTENDEE:mailto:a@example.com"),  # unplaceable
        "BEGIN:VCALENDAR\r\nX:\u2028\r\nEND:VCALENDAR".encode(),
    ],
)
def test_garbage_is_none(data: bytes) -> None:
    assert parse_itip(data) is None


def test_the_first_calendar_with_an_event_is_read_when_a_body_holds_several() -> None:
    empty = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n"
    data = empty + (FIXTURES / "thunderbird_reply_accepted.ics").read_bytes()
    assert parse_itip(data) == FIXTURE_EXPECTATIONS["thunderbird_reply_accepted.ics"]


def test_empty_description_and_location_are_left_out() -> None:
    data = build_request(series(description="", location=""), ORGANIZER, ATTENDEE, DTSTAMP)
    (event,) = assert_valid_itip(data, "REQUEST").walk("VEVENT")
    assert (event.all("DESCRIPTION"), event.all("LOCATION"), event.all("URL")) == ([], [], [])


def test_naive_times_are_wall_clock_in_the_series_zone() -> None:
    spec = series(first_start=datetime(2026, 10, 20, 12, 0), exdates=(datetime(2026, 10, 27, 12),))
    assert occurrence_starts(spec) == [ny(10, 20), ny(11, 3), ny(11, 10)]
