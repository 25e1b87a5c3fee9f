"""VTIMEZONE components whose onsets recur by RRULE, derived from zoneinfo.

icalendar's own ``Timezone.from_tzid`` lists every onset as an RDATE. Outlook
misplaces events when a VTIMEZONE carries long RDATE lists, and every client
understands the ``FREQ=YEARLY;BYMONTH=..;BYDAY=..`` form that Outlook itself
writes, so we rebuild the yearly rules from the transitions zoneinfo reports.
"""

from __future__ import annotations

import calendar as _stdcalendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Timezone, TimezoneDaylight, TimezoneStandard, vRecur

__all__ = ["vtimezone"]

_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_SCAN_STEP = timedelta(hours=6)  # no zone has two transitions within 6 hours


@dataclass(frozen=True)
class _Transition:
    onset: datetime  # naive local wall time, in the offset in force *before* it (RFC 5545 3.6.5)
    utc: datetime  # the instant the new offset starts
    offset_from: timedelta
    offset_to: timedelta
    tzname: str
    daylight: bool


def vtimezone(tzid: str, start: datetime, end: datetime) -> Timezone:
    """Build the VTIMEZONE for ``tzid`` covering the years from ``start`` to ``end``.

    The scan starts a year before ``start`` so that the first event falls after an
    onset. Zones without DST in that span get a single STANDARD sub-component.
    Raises ``zoneinfo.ZoneInfoNotFoundError`` for an unknown ``tzid``.
    """
    zone = ZoneInfo(tzid)
    first_year, last_year = start.year - 1, end.year
    transitions = _transitions(
        zone, datetime(first_year, 1, 1, tzinfo=UTC), datetime(last_year + 1, 1, 1, tzinfo=UTC)
    )
    component = Timezone()
    component.add("tzid", tzid)
    if not transitions:
        component.add_component(_fixed_offset(zone, start))
        return component
    seasonal = sum(1 for t in transitions if t.utc.year == last_year) >= 2
    for kind in (False, True):
        runs = _runs([t for t in transitions if t.daylight is kind])
        for index, run in enumerate(runs):
            open_ended = seasonal and index == len(runs) - 1 and run[-1].utc.year == last_year
            component.add_component(_subcomponent(run, open_ended))
    return component


def _fixed_offset(zone: ZoneInfo, when: datetime) -> TimezoneStandard:
    local = when.astimezone(zone)
    offset = local.utcoffset() or timedelta(0)
    standard = TimezoneStandard()
    standard.add("dtstart", datetime(1970, 1, 1))
    standard.add("tzoffsetfrom", offset)
    standard.add("tzoffsetto", offset)
    standard.add("tzname", local.tzname() or _offset_name(offset))
    return standard


def _transitions(zone: ZoneInfo, begin: datetime, end: datetime) -> list[_Transition]:
    """Every offset change between ``begin`` and ``end`` (aware UTC), to the second."""
    found: list[_Transition] = []
    before = begin
    before_offset = _offset(zone, before)
    while before < end:
        after = before + _SCAN_STEP
        after_offset = _offset(zone, after)
        if after_offset != before_offset:
            low, high = before, after  # offset(low) == before_offset != offset(high)
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                middle = middle.replace(microsecond=0)
                if _offset(zone, middle) == before_offset:
                    low = middle
                else:
                    high = middle
            found.append(_make_transition(zone, high, before_offset, after_offset))
        before, before_offset = after, after_offset
    return found


def _make_transition(
    zone: ZoneInfo, utc: datetime, offset_from: timedelta, offset_to: timedelta
) -> _Transition:
    local_after = utc.astimezone(zone)
    dst_after = local_after.dst() or timedelta(0)
    if dst_after == timedelta(0):
        # Europe/Dublin has negative DST in winter: its summer time (dst == 0) is the
        # "daylight" half of the pair, which is how Outlook describes it too.
        dst_before = (utc - timedelta(seconds=1)).astimezone(zone).dst() or timedelta(0)
        daylight = dst_before < timedelta(0)
    else:
        daylight = dst_after > timedelta(0)
    return _Transition(
        onset=(utc + offset_from).replace(tzinfo=None),
        utc=utc,
        offset_from=offset_from,
        offset_to=offset_to,
        tzname=local_after.tzname() or _offset_name(offset_to),
        daylight=daylight,
    )


def _offset(zone: ZoneInfo, instant: datetime) -> timedelta:
    return instant.astimezone(zone).utcoffset() or timedelta(0)


def _offset_name(offset: timedelta) -> str:
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"


def _rule_candidates(onset: datetime) -> list[str]:
    """The yearly rules (BYDAY/BYMONTHDAY parts) that ``onset`` satisfies, best first."""
    weekday = _WEEKDAYS[onset.weekday()]
    day = onset.day
    month_length = _stdcalendar.monthrange(onset.year, onset.month)[1]
    candidates: list[str] = []
    if day + 7 > month_length:
        candidates.append(f"BYDAY=-1{weekday}")
    if day <= 28:
        candidates.append(f"BYDAY={(day - 1) // 7 + 1}{weekday}")
    candidates.append(f"BYMONTHDAY={day}")
    # "weekday on or after day D" (tzdata's "Sun>=8", Israel's "Fri>=23", ...)
    for first in range(max(1, day - 6), day + 1):
        if first + 6 <= month_length:
            days = ",".join(str(d) for d in range(first, first + 7))
            candidates.append(f"BYMONTHDAY={days};BYDAY={weekday}")
    return candidates


def _runs(transitions: list[_Transition]) -> list[list[_Transition]]:
    """Split one kind's transitions into runs that a single yearly RRULE describes."""
    runs: list[list[_Transition]] = []
    rules: list[str] = []
    for transition in transitions:
        candidates = _rule_candidates(transition.onset)
        if runs:
            last = runs[-1][-1]
            common = [rule for rule in rules if rule in candidates]
            same_shape = (
                last.offset_from == transition.offset_from
                and last.offset_to == transition.offset_to
                and last.tzname == transition.tzname
                and last.onset.month == transition.onset.month
                and last.onset.time() == transition.onset.time()
                and last.onset.year + 1 == transition.onset.year
            )
            if same_shape and common:
                runs[-1].append(transition)
                rules[:] = common
                continue
        runs.append([transition])
        rules[:] = candidates
    return runs


def _subcomponent(run: list[_Transition], open_ended: bool) -> TimezoneStandard | TimezoneDaylight:
    first = run[0]
    sub: TimezoneStandard | TimezoneDaylight = (
        TimezoneDaylight() if first.daylight else TimezoneStandard()
    )
    sub.add("dtstart", first.onset)
    sub.add("tzoffsetfrom", first.offset_from)
    sub.add("tzoffsetto", first.offset_to)
    sub.add("tzname", first.tzname)
    if len(run) > 1 or open_ended:
        rule = _common_rule(run)
        text = f"FREQ=YEARLY;BYMONTH={first.onset.month};{rule}"
        if not open_ended:
            # RFC 5545 3.3.10: inside STANDARD/DAYLIGHT, UNTIL is a UTC date-time.
            text += f";UNTIL={run[-1].utc.strftime('%Y%m%dT%H%M%SZ')}"
        sub.add("rrule", vRecur.from_ical(text))
    return sub


def _common_rule(run: list[_Transition]) -> str:
    rules = _rule_candidates(run[0].onset)
    for transition in run[1:]:
        candidates = _rule_candidates(transition.onset)
        rules = [rule for rule in rules if rule in candidates]
    return rules[0]
