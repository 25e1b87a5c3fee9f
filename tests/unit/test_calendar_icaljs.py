"""Our REQUEST/CANCEL output read by an independent parser: ical.js (Thunderbird's).

Needs Node and ``npm ci --prefix tests/tools`` (done by ``.ci/setup --test``); the tests
fail, not skip, without them: a validator that did not run proves nothing.
ical.js has no zone database of its own: every TZID resolves through the
VTIMEZONE we send, so correct UTC instants here mean our VTIMEZONE is right.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from service.calendar.itip import (
    Attendee,
    Organizer,
    Override,
    SeriesSpec,
    build_cancel,
    build_request,
    occurrence_starts,
)

TOOLS = Path(__file__).parent.parent / "tools"
SCRIPT = TOOLS / "icaljs_validate.mjs"
NODE = shutil.which("node")



@pytest.fixture(scope="module", autouse=True)
def icaljs_installed() -> None:
    if NODE is None or not (TOOLS / "node_modules" / "ical.js").is_dir():
        pytest.fail("ical.js is not installed: run `bash .ci/setup --test` "
                    "(apt-get install -y nodejs npm; npm ci --prefix tests/tools)", pytrace=False)

ORGANIZER = Organizer(name="Orlando circle", address="circle+k3j9x2@example.org")
ATTENDEE = Attendee(name="Alice Example", email="alice@example.com")
DTSTAMP = datetime(2026, 10, 1, 9, 30, tzinfo=UTC)


def spec(tzid: str, first: datetime, rrule: str, **extra: Any) -> SeriesSpec:
    return SeriesSpec(
        uid=f"{tzid.lower().replace('/', '-')}-checkins@circleback",
        summary="Check-in",
        description="Our regular check-in call.",
        location="https://meet.example.org/orlando",
        timezone=tzid,
        first_start=first.replace(tzinfo=ZoneInfo(tzid)),
        duration=timedelta(minutes=45),
        rrule=rrule,
        sequence=2,
        **extra,
    )


NY = ZoneInfo("America/New_York")
MOVED = Override(
    recurrence_id=datetime(2026, 11, 3, 12, tzinfo=NY),
    start=datetime(2026, 11, 4, 13, tzinfo=NY),
    end=datetime(2026, 11, 4, 14, tzinfo=NY),
    sequence=3,
)
NEW_YORK = spec(
    "America/New_York",
    datetime(2026, 10, 20, 12),
    "FREQ=WEEKLY;COUNT=4",
    exdates=(datetime(2026, 10, 27, 12, tzinfo=NY),),
    overrides=(MOVED,),
)
SERIES = {
    "new_york": NEW_YORK,
    "london": spec("Europe/London", datetime(2026, 10, 13, 18), "FREQ=WEEKLY;INTERVAL=2;COUNT=3"),
    "sydney": spec("Australia/Sydney", datetime(2026, 3, 24, 19), "FREQ=WEEKLY;COUNT=3"),
    "tokyo": spec("Asia/Tokyo", datetime(2026, 12, 1, 9), "FREQ=DAILY;UNTIL=20261203T000000Z"),
}


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every generated kind, parsed by one node run."""
    folder = tmp_path_factory.mktemp("icaljs")
    files: dict[str, bytes] = {}
    for name, series in SERIES.items():
        files[f"request_{name}"] = build_request(series, ORGANIZER, ATTENDEE, DTSTAMP)
    files["cancel_series"] = build_cancel(NEW_YORK, ORGANIZER, ATTENDEE, DTSTAMP)
    files["cancel_occurrence"] = build_cancel(
        NEW_YORK, ORGANIZER, ATTENDEE, DTSTAMP, recurrence_id=datetime(2026, 11, 10, 17, tzinfo=UTC)
    )
    paths = {}
    for name, data in files.items():
        paths[name] = folder / f"{name}.ics"
        paths[name].write_bytes(data)
    assert NODE is not None
    run = subprocess.run(
        [NODE, str(SCRIPT), *map(str, paths.values())],
        capture_output=True,
        check=True,
        timeout=60,
        env={**os.environ, "TZ": "UTC"},
    )
    result = json.loads(run.stdout)
    return {name: result[str(path)] for name, path in paths.items()}


@pytest.mark.parametrize("name", sorted(SERIES))
def test_icaljs_expands_each_request_to_our_occurrences(parsed: dict[str, Any], name: str) -> None:
    series = SERIES[name]
    calendar = parsed[f"request_{name}"]
    assert "error" not in calendar, calendar.get("error")
    assert (calendar["name"], calendar["method"], calendar["version"]) == ("vcalendar", "REQUEST", "2.0")
    (zone,) = calendar["vtimezones"]
    assert zone["tzid"] == series.timezone
    assert all(not part["rdate"] for part in zone["parts"])
    master = calendar["events"][0]
    assert (master["startZone"], master["recurring"], master["status"]) == (
        series.timezone,
        True,
        "CONFIRMED",
    )
    assert master["attendees"] == [
        {"value": "mailto:alice@example.com", "partstat": "NEEDS-ACTION", "rsvp": "TRUE"}
    ]
    moved = {iso(o.recurrence_id): o for o in series.overrides}
    expected = []
    for start in occurrence_starts(series):
        override = moved.get(iso(start))
        begin, end = (start, start + series.duration) if override is None else (override.start, override.end)
        expected.append({"recurrenceId": iso(start), "start": iso(begin), "end": iso(end)})
    assert calendar["occurrences"] == expected


def test_icaljs_sees_wall_clock_kept_across_us_dst(parsed: dict[str, Any]) -> None:
    occurrences = parsed["request_new_york"]["occurrences"]
    assert [o["recurrenceId"] for o in occurrences] == [
        "2026-10-20T16:00:00.000Z",  # 12:00 EDT
        "2026-11-03T17:00:00.000Z",  # 12:00 EST; moved to 2026-11-04 13:00 EST
        "2026-11-10T17:00:00.000Z",
    ]
    assert occurrences[1]["start"] == "2026-11-04T18:00:00.000Z"
    assert parsed["request_new_york"]["events"][0]["exdates"] == ["2026-10-27T16:00:00.000Z"]


def test_icaljs_sees_the_override_as_an_exception(parsed: dict[str, Any]) -> None:
    master, override = parsed["request_new_york"]["events"]
    assert override["uid"] == master["uid"]
    assert (override["recurrenceId"], override["recurrenceIdZone"]) == (
        "2026-11-03T17:00:00.000Z",
        "America/New_York",
    )
    assert (override["start"], override["end"], override["sequence"]) == (
        "2026-11-04T18:00:00.000Z",
        "2026-11-04T19:00:00.000Z",
        3,
    )


def test_icaljs_reads_cancel_of_one_occurrence(parsed: dict[str, Any]) -> None:
    calendar = parsed["cancel_occurrence"]
    assert calendar["method"] == "CANCEL"
    (event,) = calendar["events"]
    assert (event["status"], event["sequence"]) == ("CANCELLED", 2)
    assert (event["recurrenceId"], event["recurrenceIdZone"]) == (
        "2026-11-10T17:00:00.000Z",
        "America/New_York",
    )
    assert event["start"] == "2026-11-10T17:00:00.000Z"
    assert calendar["occurrences"] == []


def test_icaljs_reads_cancel_of_the_series(parsed: dict[str, Any]) -> None:
    calendar = parsed["cancel_series"]
    assert calendar["method"] == "CANCEL"
    (event,) = calendar["events"]
    assert (event["status"], event["recurring"], event["recurrenceId"]) == ("CANCELLED", True, None)
    assert event["start"] == "2026-10-20T16:00:00.000Z"
