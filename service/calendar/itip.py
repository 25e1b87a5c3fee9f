"""Pure iTIP/iMIP calendar building and parsing (RFC 5545, 5546, 6047) with icalendar.

Out: one REQUEST (the recurring check-in series, its moved occurrences alongside)
or CANCEL per participant. In: ``parse_itip`` reduces whatever a participant's
calendar client sends back (REPLY, COUNTER, REFRESH, ...) to an ``ItipMessage``.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr
from icalendar import Calendar, Component, Event, vCalAddress, vRecur

from service.calendar.tz import vtimezone

__all__ = [
    "PRODID",
    "Attendee",
    "ItipMessage",
    "Organizer",
    "Override",
    "SeriesSpec",
    "build_cancel",
    "build_request",
    "occurrence_starts",
    "parse_itip",
    "vtimezone",
]

PRODID = "-//circleback//circleback 0.1//EN"


@dataclass(frozen=True)
class ItipMessage:
    """What an inbound calendar message (REPLY, COUNTER, ...) says, reduced to what we use."""

    method: str  # "REPLY", "COUNTER", "REFRESH", ... upper case
    uid: str
    sequence: int
    attendee_email: str | None  # lower case, without "mailto:"
    partstat: str | None  # "ACCEPTED", "DECLINED", "TENTATIVE", "NEEDS-ACTION", ...
    recurrence_id: datetime | None  # aware, UTC; None = the whole series
    comment: str | None
    proposed_start: datetime | None = None  # COUNTER only, aware UTC


@dataclass(frozen=True)
class Override:
    """One moved occurrence of a series."""

    recurrence_id: datetime  # original start, aware
    start: datetime
    end: datetime
    sequence: int


@dataclass(frozen=True)
class SeriesSpec:
    """A cohort's recurring check-in series, as every participant's invitation shows it."""

    uid: str  # stable per cohort series, e.g. "orlando-2015-checkins@circleback"
    summary: str
    description: str  # plain text
    location: str  # URL or place; an http(s) URL is also written as URL
    timezone: str  # IANA name; DTSTART/DTEND/EXDATE/RECURRENCE-ID use TZID=this
    first_start: datetime  # aware, in that zone
    duration: timedelta
    rrule: str  # bounded: COUNT or UNTIL, e.g. "FREQ=WEEKLY;INTERVAL=2;COUNT=6"
    sequence: int
    exdates: tuple[datetime, ...] = ()  # cancelled occurrences (original starts, aware)
    overrides: tuple[Override, ...] = ()  # moved occurrences


@dataclass(frozen=True)
class Organizer:
    """The organizer as one participant sees it: the circle's tokenised reply address."""

    name: str
    address: str  # circle+TOKEN@example.org


@dataclass(frozen=True)
class Attendee:
    """The one participant an invitation is addressed to."""

    name: str
    email: str


# --- building ---------------------------------------------------------------------------


def build_request(
    series: SeriesSpec, organizer: Organizer, attendee: Attendee, dtstamp: datetime
) -> bytes:
    """The METHOD:REQUEST calendar inviting ``attendee`` to the whole series.

    The master VEVENT carries the RRULE and one EXDATE per cancelled occurrence; every
    moved occurrence is an extra VEVENT with the same UID and a RECURRENCE-ID
    (RFC 5546 3.2.2: master and overrides travel together).
    """
    zone = _zone(series)
    cal = _calendar("REQUEST", series)
    master = _event(series, organizer, attendee, dtstamp, series.sequence, rsvp=True)
    master.add("status", "CONFIRMED")
    start = _in_zone(series.first_start, zone, "first_start")
    master.add("dtstart", start)
    master.add("dtend", start + series.duration)
    master.add("rrule", vRecur.from_ical(_bounded_rrule(series.rrule, zone)))
    for exdate in series.exdates:
        # One EXDATE line each rather than a comma list: every client reads that form.
        master.add("exdate", _in_zone(exdate, zone, "exdates"))
    cal.add_component(master)
    remaining = set(occurrence_starts(series))
    for override in series.overrides:
        recurrence_id = _in_zone(override.recurrence_id, zone, "overrides.recurrence_id")
        if recurrence_id not in remaining:
            raise ValueError(
                f"override {recurrence_id.isoformat()} is not a (non-cancelled) occurrence"
            )
        event = _event(series, organizer, attendee, dtstamp, override.sequence, rsvp=True)
        event.add("status", "CONFIRMED")
        event.add("recurrence-id", recurrence_id)
        event.add("dtstart", _in_zone(override.start, zone, "overrides.start"))
        event.add("dtend", _in_zone(override.end, zone, "overrides.end"))
        cal.add_component(event)
    return bytes(cal.to_ical())


def build_cancel(
    series: SeriesSpec,
    organizer: Organizer,
    attendee: Attendee,
    dtstamp: datetime,
    recurrence_id: datetime | None = None,
) -> bytes:
    """The METHOD:CANCEL calendar for the whole series, or for the one occurrence
    whose original start is ``recurrence_id`` (RFC 5546 3.2.5).

    ``series.sequence`` is written as given: the caller bumps it before cancelling.
    """
    zone = _zone(series)
    cal = _calendar("CANCEL", series)
    event = _event(series, organizer, attendee, dtstamp, series.sequence, rsvp=False)
    event.add("status", "CANCELLED")
    if recurrence_id is None:
        start = _in_zone(series.first_start, zone, "first_start")
        event.add("dtstart", start)
        event.add("dtend", start + series.duration)
        event.add("rrule", vRecur.from_ical(_bounded_rrule(series.rrule, zone)))
    else:
        original = _in_zone(recurrence_id, zone, "recurrence_id")
        if original not in _expand(series):
            raise ValueError(f"recurrence_id {original.isoformat()} is not an occurrence")
        moved = {_in_zone(o.recurrence_id, zone, "overrides"): o for o in series.overrides}
        override = moved.get(original)
        event.add("recurrence-id", original)
        if override is None:
            event.add("dtstart", original)
            event.add("dtend", original + series.duration)
        else:
            event.add("dtstart", _in_zone(override.start, zone, "overrides.start"))
            event.add("dtend", _in_zone(override.end, zone, "overrides.end"))
    cal.add_component(event)
    return bytes(cal.to_ical())


def occurrence_starts(series: SeriesSpec) -> list[datetime]:
    """The original starts of every occurrence, minus the exdates, in the series' zone.

    The wall-clock time is kept across DST changes (12:00 stays 12:00, its UTC instant
    moves). Overrides are not applied: a moved occurrence is listed by its original start.
    """
    zone = _zone(series)
    cancelled = {_in_zone(exdate, zone, "exdates") for exdate in series.exdates}
    return [start for start in _expand(series) if start not in cancelled]


def _expand(series: SeriesSpec) -> list[datetime]:
    zone = _zone(series)
    start = _in_zone(series.first_start, zone, "first_start")
    rule = rrulestr(_bounded_rrule(series.rrule, zone), dtstart=start)
    # dateutil steps in wall-clock time and re-attaches the zone: DST keeps 12:00 at 12:00.
    return [occurrence.replace(tzinfo=zone) for occurrence in rule]


def _zone(series: SeriesSpec) -> ZoneInfo:
    return ZoneInfo(series.timezone)


def _in_zone(value: datetime, zone: tzinfo, name: str) -> datetime:
    """``value`` in ``zone``; a naive value is taken as wall-clock time in ``zone``."""
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=zone)
    return value.astimezone(zone)


def _bounded_rrule(rule: str, zone: ZoneInfo) -> str:
    """``rule`` with an UNTIL in UTC, as RFC 5545 3.3.10 requires with a TZID DTSTART.

    A local UNTIL (as a person would write it in the config) is read in ``zone``; a
    date UNTIL means the end of that day. A rule with neither COUNT nor UNTIL is refused:
    a cohort's check-ins end.
    """
    parts: list[str] = []
    bounded = False
    for part in rule.strip().removeprefix("RRULE:").split(";"):
        key, _, value = part.partition("=")
        key = key.strip().upper()
        value = value.strip()
        if key == "COUNT":
            bounded = True
        elif key == "UNTIL":
            bounded = True
            value = _until_utc(value, zone)
        parts.append(f"{key}={value}")
    if not bounded:
        raise ValueError(f"rrule {rule!r} must end: add COUNT=n or UNTIL=...")
    return ";".join(parts)


def _until_utc(value: str, zone: ZoneInfo) -> str:
    if value.upper().endswith("Z"):
        return value.upper()
    if re.fullmatch(r"\d{8}", value):
        local = datetime.combine(datetime.strptime(value, "%Y%m%d").date(), time(23, 59, 59))
    else:
        local = datetime.strptime(value, "%Y%m%dT%H%M%S")
    return local.replace(tzinfo=zone).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _calendar(method: str, series: SeriesSpec) -> Calendar:
    zone = _zone(series)
    instants = [_in_zone(series.first_start, zone, "first_start"), *_expand(series)]
    for override in series.overrides:
        instants += [_in_zone(override.start, zone, "overrides.start")]
        instants += [_in_zone(override.end, zone, "overrides.end")]
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", method)
    cal.add_component(
        vtimezone(series.timezone, min(instants), max(instants) + series.duration)
    )
    return cal


def _event(
    series: SeriesSpec,
    organizer: Organizer,
    attendee: Attendee,
    dtstamp: datetime,
    sequence: int,
    *,
    rsvp: bool,
) -> Event:
    event = Event()
    event.add("uid", series.uid)
    event.add("dtstamp", _in_zone(dtstamp, UTC, "dtstamp"))
    event.add("sequence", sequence)
    event.add("summary", series.summary)
    if series.description:
        event.add("description", series.description)
    if series.location:
        event.add("location", series.location)
    if re.match(r"https?://", series.location.strip(), re.IGNORECASE):
        event.add("url", series.location.strip())
    event.add("transp", "OPAQUE")
    event.add("organizer", _address(organizer.address, CN=organizer.name))
    params = {"CN": attendee.name, "ROLE": "REQ-PARTICIPANT"}
    if rsvp:
        params |= {"PARTSTAT": "NEEDS-ACTION", "RSVP": "TRUE"}
    event.add("attendee", _address(attendee.email, **params))
    return event


def _address(email: str, **params: str) -> vCalAddress:
    address = vCalAddress(f"mailto:{email}")
    for key, value in params.items():
        address.params[key] = value
    return address


# --- parsing ----------------------------------------------------------------------------


def parse_itip(data: bytes) -> ItipMessage | None:
    """Parse one text/calendar body. None when it is not a usable iTIP message.

    Never raises: this reads whatever arrives in the circle's mailbox.
    """
    try:
        # icalendar warns when it guesses a zone (Evolution's
        # "/freeassociation.sourceforge.net/Europe/London"): the guess is what we
        # want, and a warning must not become an error under ``-W error``. The daemon
        # is one thread, so the process-wide filter change is safe here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _parse(data)
    except Exception:
        return None


def _parse(data: bytes) -> ItipMessage | None:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    calendars = Calendar.from_ical(text.strip(), multiple=True)
    parsed = next((c for c in calendars if c.walk("VEVENT")), None)
    if parsed is None:
        return None
    events = parsed.walk("VEVENT")
    # A REPLY may carry the master and some occurrences; the master speaks for the series.
    event = next((e for e in events if "RECURRENCE-ID" not in e), events[0])
    uid = str(event.get("UID", "")).strip()
    if not uid:
        return None
    recurrence_id = None
    if "RECURRENCE-ID" in event:
        recurrence_id = _utc(_first(event["RECURRENCE-ID"]))
        if recurrence_id is None:
            return None  # an occurrence we cannot place must not count for the series
    method = str(parsed.get("METHOD", "")).strip().upper()
    attendee = _replying_attendee(event)
    return ItipMessage(
        method=method,
        uid=uid,
        sequence=_int(event.get("SEQUENCE")),
        attendee_email=None if attendee is None else _email(attendee),
        partstat=None if attendee is None else _param(attendee, "PARTSTAT", upper=True),
        recurrence_id=recurrence_id,
        comment=_comment(event, attendee),
        proposed_start=_utc(_first(event.get("DTSTART"))) if method == "COUNTER" else None,
    )


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


def _replying_attendee(event: Component) -> Any:
    """The attendee who answered: a REPLY names one; some clients list everyone."""
    attendees = event.get("ATTENDEE", [])
    if not isinstance(attendees, list):
        attendees = [attendees]
    if not attendees:
        return None
    answered = [a for a in attendees if _param(a, "PARTSTAT", upper=True) != "NEEDS-ACTION"]
    return (answered or attendees)[0]


def _param(prop: Any, name: str, *, upper: bool = False) -> str | None:
    value = getattr(prop, "params", {}).get(name)
    if value is None:
        return None
    text = str(value).strip().strip('"').strip()
    return (text.upper() if upper else text) or None


def _email(attendee: Any) -> str | None:
    # iCloud: ATTENDEE;EMAIL=x@y:urn:uuid:... (RFC 7986 EMAIL parameter).
    candidates = [_param(attendee, "EMAIL"), str(attendee).strip()]
    for candidate in candidates:
        if not candidate:
            continue
        if candidate.lower().startswith("mailto:"):
            candidate = candidate[len("mailto:") :]
        candidate = unquote(candidate).strip()
        if "@" in candidate and ":" not in candidate:
            return candidate.lower()
    return None


def _comment(event: Component, attendee: Any) -> str | None:
    comments = event.get("COMMENT", [])
    if not isinstance(comments, list):
        comments = [comments]
    text = "\n".join(str(c).strip() for c in comments if str(c).strip())
    if not text and attendee is not None:
        # Google Calendar puts the note on the attendee instead of a COMMENT.
        text = _param(attendee, "X-RESPONSE-COMMENT") or ""
    return text or None


def _int(value: Any) -> int:
    try:
        return int(str(_first(value)).strip())
    except (TypeError, ValueError):
        return 0


def _utc(prop: Any) -> datetime | None:
    """An aware UTC datetime from a parsed DATE/DATE-TIME property, else None.

    Any TZID icalendar resolves (IANA, Windows names such as "W. Europe Standard Time"
    via the CLDR table, a VTIMEZONE in the same body) arrives aware. A floating time or
    an unknown TZID is read as UTC, the least surprising guess. A DATE is midnight UTC.
    """
    value = getattr(prop, "dt", None)
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(0, 0), tzinfo=UTC)
    return None
