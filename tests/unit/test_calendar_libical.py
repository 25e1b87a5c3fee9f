"""Every kind of calendar message we send, judged by libical's RFC 5546 (iTIP) checks.

libical (Evolution's calendar library) is an independent implementation of the iTIP
property tables: tests/tools/libical_check.py parses each file with it, runs
``icalcomponent_check_restrictions`` for the METHOD and reports every X-LIC-ERROR. It
runs under Debian's /usr/bin/python3, which sees the apt-installed bindings (the venv
does not). Missing bindings fail these tests, not skip them: `.ci/setup --test`
installs them.

The deliberately broken samples below prove the checker can fail.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from service.calendar.itip import (
    Attendee,
    Organizer,
    SeriesSpec,
    build_cancel,
    build_request,
    occurrence_starts,
)
from service.calendar.series import participant_spec
from service.core.schedule import Checkin
from service.core.series import Shape, utc_key

SYSTEM_PYTHON = Path("/usr/bin/python3")
SCRIPT = Path(__file__).parent.parent / "tools" / "libical_check.py"
PACKAGES = "gir1.2-ical-3.0 python3-gi"

ORGANIZER = Organizer(name="Orlando circle", address="circle+k3j9x2@example.org")
ATTENDEE = Attendee(name="Alice Example", email="alice@example.com")
DTSTAMP = datetime(2026, 10, 1, 9, 30, tzinfo=UTC)


@dataclass(frozen=True)
class Cohort:
    """A weekly series of five that crosses its zone's autumn DST change."""

    timezone: str
    first: datetime  # naive wall-clock time in ``timezone``
    joined_at: datetime  # a late joiner's: after check-in 1, before check-in 2

    def base(self, sequence: int) -> SeriesSpec:
        """The series as service.invitations.base_spec builds it: no exdates, no overrides."""
        return SeriesSpec(
            uid=f"{self.timezone.lower().replace('/', '-')}-checkins@circleback",
            summary="Kick-start your social learning journey: check-in",
            description="Our regular check-in call.\nJoin: https://meet.example.org/orlando",
            location="https://meet.example.org/orlando",
            timezone=self.timezone,
            first_start=self.first.replace(tzinfo=ZoneInfo(self.timezone)),
            duration=timedelta(minutes=45),
            rrule="FREQ=WEEKLY;COUNT=5",
            sequence=sequence,
        )

    def checkins(self, base: SeriesSpec) -> list[Checkin]:
        """As service.schedule.series_checkins lists them (original starts)."""
        return [
            Checkin(number=n, start=s, end=s + base.duration, original_start=s)
            for n, s in enumerate(occurrence_starts(base), start=1)
        ]


COHORTS = {
    # US DST ends 2026-11-01: check-ins 1-2 are EDT, 3-5 EST.
    "new_york": Cohort("America/New_York", datetime(2026, 10, 20, 12), datetime(2026, 10, 22, tzinfo=UTC)),
    # UK summer time ends 2026-10-25: check-ins 1-2 are BST, 3-5 GMT.
    "london": Cohort("Europe/London", datetime(2026, 10, 13, 18), datetime(2026, 10, 15, tzinfo=UTC)),
}


def request(base: SeriesSpec, cohort: Cohort, shape: Shape, joined_at: datetime | None = None) -> bytes:
    """A REQUEST as service.invitations.request_message builds it, via participant_spec."""
    spec = participant_spec(base, shape, cohort.checkins(base), joined_at, base.duration)
    assert spec is not None
    return build_request(spec, ORGANIZER, ATTENDEE, DTSTAMP)


def messages(cohort: Cohort) -> dict[str, bytes]:
    """Each kind of message the project sends, for one cohort, as its config evolves:
    every change the participants must see raises SEQUENCE (RFC 5546 2.1.4)."""
    starts = occurrence_starts(cohort.base(0))
    third = starts[2]  # after the DST change
    moved = ((utc_key(third), (third + timedelta(days=1, hours=1)).isoformat()),)
    # New time, length and place; check-in 2 stays cancelled (an EXDATE in the REQUEST).
    updated = replace(cohort.base(3), first_start=cohort.base(3).first_start + timedelta(hours=1),
                      duration=timedelta(hours=1), location="Room 4, Library")
    updated_starts = occurrence_starts(updated)
    # Joined after check-in 1: check-in 1's cancellation is not theirs, check-in 4's is.
    late = Shape(core={}, cancelled=(utc_key(starts[0]), utc_key(starts[3])), moved=moved)
    base = cohort.base(2)
    late_spec = participant_spec(base, late, cohort.checkins(base), cohort.joined_at, base.duration)
    assert late_spec is not None and late_spec.first_start == starts[1]
    assert late_spec.rrule.endswith("COUNT=4") and len(late_spec.exdates) == 1
    return {
        "invite": request(cohort.base(0), cohort, Shape(core={})),
        "moved_occurrence": request(cohort.base(1), cohort, Shape(core={}, moved=moved)),
        "cancelled_occurrence": build_cancel(cohort.base(2), ORGANIZER, ATTENDEE, DTSTAMP,
                                             recurrence_id=starts[1]),
        "updated_series": request(updated, cohort, Shape(core={}, cancelled=(utc_key(updated_starts[1]),))),
        "cancelled_series": build_cancel(replace(updated, sequence=4), ORGANIZER, ATTENDEE, DTSTAMP),
        "late_joiner": build_request(late_spec, ORGANIZER, ATTENDEE, DTSTAMP),
    }


METHODS = {
    "invite": ("REQUEST", 1),
    "moved_occurrence": ("REQUEST", 2),  # master + override
    "cancelled_occurrence": ("CANCEL", 1),
    "updated_series": ("REQUEST", 1),
    "cancelled_series": ("CANCEL", 1),
    "late_joiner": ("REQUEST", 2),  # its moved check-in rides along
}


# --- deliberately broken samples ----------------------------------------------------------


def unfold(data: bytes) -> list[str]:
    return data.decode().replace("\r\n ", "").split("\r\n")


def edit(data: bytes, drop: str, *, event: int | None = None, replace_with: str | None = None) -> bytes:
    """``data`` without (or with ``replace_with`` instead of) the content lines matching
    ``drop`` (a regex) in every VEVENT, or only in the ``event``-th one (1-based), or,
    with ``event=0``, in the VCALENDAR wrapper's own lines."""
    out: list[str] = []
    path: list[str] = []  # open components, outermost first
    events = 0
    for line in unfold(data):
        if line.startswith("BEGIN:"):
            path.append(line[6:])
            events += line == "BEGIN:VEVENT"
        elif line.startswith("END:"):
            path.pop()
        elif (
            (event == 0 and path == ["VCALENDAR"])
            or (event is None and "VEVENT" in path)
            or (event and "VEVENT" in path and events == event)
        ) and re.match(drop, line):
            if replace_with is not None:
                out.append(replace_with)
            continue
        out.append(line)
    return "\r\n".join(out).encode()


def broken(sent: dict[str, bytes]) -> dict[str, tuple[bytes, str]]:
    """Samples libical must reject, each with the start of an error it must report."""
    invite, moved = sent["invite"], sent["moved_occurrence"]
    cancel_one, cancel_all = sent["cancelled_occurrence"], sent["cancelled_series"]
    itip = "INVALID-ITIP: Failed iTIP restrictions for"
    return {
        "request_without_organizer": (edit(invite, "ORGANIZER[;:]"), f"VEVENT #1: {itip} ORGANIZER"),
        "request_without_dtstamp": (edit(invite, "DTSTAMP:"), f"VEVENT #1: {itip} DTSTAMP"),
        "request_without_dtstart": (edit(invite, "DTSTART;"), f"VEVENT #1: {itip} DTSTART"),
        "request_with_status_cancelled": (
            edit(invite, "STATUS:", replace_with="STATUS:CANCELLED"), f"VEVENT #1: {itip} STATUS"
        ),
        "cancel_occurrence_without_sequence": (edit(cancel_one, "SEQUENCE:"), f"VEVENT #1: {itip} SEQUENCE"),
        "cancel_series_without_sequence": (edit(cancel_all, "SEQUENCE:"), f"VEVENT #1: {itip} SEQUENCE"),
        # libical stops at the first failing component: the checker must still see the override.
        "override_without_organizer": (edit(moved, "ORGANIZER[;:]", event=2), f"VEVENT #2: {itip} ORGANIZER"),
        "bad_master_and_override": (edit(moved, "ORGANIZER[;:]"), f"VEVENT #2: {itip} ORGANIZER"),
        # ... and a failing VCALENDAR wrapper hides every component from libical.
        "no_prodid_and_bad_override": (
            edit(edit(moved, "PRODID:", event=0), "ORGANIZER[;:]", event=2), f"VEVENT #2: {itip} ORGANIZER"
        ),
        "no_prodid": (edit(invite, "PRODID:", event=0), f"VCALENDAR: {itip} PRODID"),
        "unreadable_dtstart": (
            edit(invite, "DTSTART;", replace_with="DTSTART;TZID=Europe/London:2026-10-20 noon"),
            "VEVENT #1: VALUE-PARSE-ERROR: Can't parse as DATE-TIME",
        ),
    }


# --- one libical run for everything -------------------------------------------------------

SENT = {(kind, zone): data for zone, cohort in COHORTS.items() for kind, data in messages(cohort).items()}
BROKEN = broken(messages(COHORTS["new_york"]))


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """libical's verdict on every sent message and every broken sample, from one run."""
    folder = tmp_path_factory.mktemp("libical")
    samples = {f"{kind}_{zone}": data for (kind, zone), data in SENT.items()}
    samples |= {f"broken_{name}": data for name, (data, _) in BROKEN.items()}
    paths = {}
    for name, data in samples.items():
        paths[name] = folder / f"{name}.ics"
        paths[name].write_bytes(data)
    install = f"install libical's bindings for it: `apt-get install -y {PACKAGES}` (or `.ci/setup --test`)"
    if not SYSTEM_PYTHON.is_file():
        pytest.fail(f"{SYSTEM_PYTHON} not found; {install}")
    # -I: Debian's own site-packages only, whatever the venv left in the environment.
    run = subprocess.run([str(SYSTEM_PYTHON), "-I", str(SCRIPT), *map(str, paths.values())],
                         capture_output=True, text=True, timeout=120, check=False)
    if run.returncode != 0:
        pytest.fail(f"{SCRIPT.name} under {SYSTEM_PYTHON} failed: {run.stderr.strip()}\n{install}")
    result = json.loads(run.stdout)
    return {name: result[str(path)] for name, path in paths.items()}


def test_system_python_has_libical_bindings() -> None:
    """Fails (not skips) without them: the checks below would otherwise prove nothing."""
    probe = "import gi; gi.require_version('ICalGLib', '3.0'); from gi.repository import ICalGLib"
    run = subprocess.run([str(SYSTEM_PYTHON), "-I", "-c", probe], capture_output=True, text=True,
                         timeout=60, check=False) if SYSTEM_PYTHON.is_file() else None
    assert run is not None and run.returncode == 0, (
        f"{SYSTEM_PYTHON} cannot load libical's ICalGLib: {run and run.stderr.strip()}; "
        f"`apt-get install -y {PACKAGES}` (or `.ci/setup --test`)"
    )


def test_checker_names_the_packages_when_bindings_are_missing() -> None:
    # -S: no site-packages at all, so no gi, whatever this machine has installed.
    run = subprocess.run([sys.executable, "-I", "-S", str(SCRIPT), str(SCRIPT)], capture_output=True,
                         text=True, timeout=60, check=False)
    assert run.returncode == 3 and run.stdout == ""
    assert f"apt-get install -y {PACKAGES}" in run.stderr


@pytest.mark.parametrize(("kind", "zone"), sorted(SENT))
def test_libical_finds_no_error_in_what_we_send(checked: dict[str, Any], kind: str, zone: str) -> None:
    verdict = checked[f"{kind}_{zone}"]
    assert verdict["errors"] == []
    assert (verdict["method"], verdict["events"]) == METHODS[kind]


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_libical_rejects_broken_samples(checked: dict[str, Any], name: str) -> None:
    _, expected = BROKEN[name]
    errors = checked[f"broken_{name}"]["errors"]
    assert any(error.startswith(expected) for error in errors), errors


def test_broken_samples_change_only_what_they_name() -> None:
    """Each edit hits its target and nothing else, or a broken sample would prove little."""
    invite, moved = SENT["invite", "new_york"], SENT["moved_occurrence", "new_york"]
    assert edit(invite, "(?!)") == invite.replace(b"\r\n ", b"")  # only unfolded
    lines = unfold(edit(moved, "ORGANIZER[;:]", event=2))
    assert len(lines) == len(unfold(moved)) - 1
    assert sum(line.startswith("ORGANIZER") for line in lines) == 1
    lines = unfold(edit(invite, "PRODID:", event=0))
    assert len(lines) == len(unfold(invite)) - 1 and not any(line.startswith("PRODID") for line in lines)
    lines = unfold(edit(invite, "DTSTART;"))
    assert [line for line in lines if line.startswith("DTSTART")] == ["DTSTART:20251102T020000",
                                                                       "DTSTART:20250309T020000"]
