"""Time zone names as a facilitator writes them: the closest real name for a misspelt one,
and advice on a real one that is an old alias or a fixed offset.

A cohort's zone is written into every calendar invitation (the TZID of its VTIMEZONE), so
its name matters beyond Python: calendar clients map the current IANA names to their own
zones (Outlook to Windows zones), and old aliases such as ``US/Eastern`` or
``Asia/Calcutta`` live in the tz database's ``backward`` file, which some systems ship
only in an optional package (Debian's tzdata-legacy). A fixed-offset name (``EST``,
``MST``) ignores daylight saving time, so a cohort "in EST" meets an hour off for half
the year.

Which names are old aliases is read from the tz database itself (``tzdata.zi``: its ``L``
lines are the links, each "L TARGET NAME"), from the system's zoneinfo or else from the
``tzdata`` package, so that it follows each release. A link is an old alias only when the
name is not also a country's zone in ``zone.tab``/``zone1970.tab``: since 2022 the tz
database links zones that agree since 1970 (``Europe/Amsterdam`` to ``Europe/Brussels``),
and those names are still the right ones for the people who live there. The small table
below is the fallback when neither source is on the machine.
"""

from __future__ import annotations

import difflib
import functools
import importlib.resources
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ZoneAdvice", "canonical_zone", "suggest_zone", "zone_advice"]

# The usual spellings of UTC itself: fine as they are.
UTC_NAMES = frozenset({"UTC", "Etc/UTC", "GMT", "Etc/GMT"})

# Used only when no tzdata.zi is found (see the module's docstring): the old aliases a
# facilitator is most likely to copy from an older config or a web page.
FALLBACK_LINKS: dict[str, str] = {
    "US/Eastern": "America/New_York", "US/Central": "America/Chicago",
    "US/Mountain": "America/Denver", "US/Pacific": "America/Los_Angeles",
    "US/Alaska": "America/Anchorage", "US/Hawaii": "Pacific/Honolulu",
    "US/Arizona": "America/Phoenix", "Canada/Eastern": "America/Toronto",
    "Canada/Pacific": "America/Vancouver", "Canada/Central": "America/Winnipeg",
    "America/Buenos_Aires": "America/Argentina/Buenos_Aires",
    "America/Indianapolis": "America/Indiana/Indianapolis", "America/Montreal": "America/Toronto",
    "Asia/Calcutta": "Asia/Kolkata", "Asia/Saigon": "Asia/Ho_Chi_Minh",
    "Asia/Katmandu": "Asia/Kathmandu", "Asia/Rangoon": "Asia/Yangon",
    "Asia/Istanbul": "Europe/Istanbul", "Asia/Tel_Aviv": "Asia/Jerusalem",
    "Europe/Kiev": "Europe/Kyiv", "Europe/Belfast": "Europe/London",
    "Australia/NSW": "Australia/Sydney", "Australia/Victoria": "Australia/Melbourne",
    "Brazil/East": "America/Sao_Paulo", "Mexico/General": "America/Mexico_City",
    "GB": "Europe/London", "Eire": "Europe/Dublin", "Japan": "Asia/Tokyo",
    "PRC": "Asia/Shanghai", "Hongkong": "Asia/Hong_Kong", "Singapore": "Asia/Singapore",
    "Turkey": "Europe/Istanbul", "Israel": "Asia/Jerusalem", "Iran": "Asia/Tehran",
    "NZ": "Pacific/Auckland", "Universal": "Etc/UTC", "Zulu": "Etc/UTC", "UCT": "Etc/UTC",
}

# Names of the 1970s US and European rule sets, kept by the tz database for POSIX. In
# newer releases some are links (EST to America/Panama), which is true but no help: say
# what they mean instead. True: the name ignores daylight saving time (a problem).
LEGACY: dict[str, tuple[bool, str]] = {
    "EST": (True, "a fixed UTC-5 all year, without daylight saving time; use "
                  "\"America/New_York\" for Eastern time (or \"America/Panama\" for UTC-5 all year)"),
    "MST": (True, "a fixed UTC-7 all year, without daylight saving time; use "
                  "\"America/Denver\" for Mountain time (or \"America/Phoenix\", which keeps UTC-7)"),
    "HST": (False, "a fixed UTC-10; use the city zone \"Pacific/Honolulu\""),
    "EST5EDT": (False, "the US Eastern rules without a place; use \"America/New_York\""),
    "CST6CDT": (False, "the US Central rules without a place; use \"America/Chicago\""),
    "MST7MDT": (False, "the US Mountain rules without a place; use \"America/Denver\""),
    "PST8PDT": (False, "the US Pacific rules without a place; use \"America/Los_Angeles\""),
    "CET": (False, "the EU's central rules without a place; use your city's zone, e.g. "
                   "\"Europe/Berlin\" or \"Europe/Paris\""),
    "MET": (False, "the EU's central rules without a place; use your city's zone, e.g. "
                   "\"Europe/Brussels\""),
    "EET": (False, "the EU's eastern rules without a place; use your city's zone, e.g. "
                   "\"Europe/Athens\" or \"Europe/Helsinki\""),
    "WET": (False, "the EU's western rules without a place; use your city's zone, e.g. "
                   "\"Europe/Lisbon\""),
    "Factory": (True, "a placeholder with no offset at all; use your city's zone, e.g. "
                      "\"Europe/London\""),
}

# Abbreviations people write that are no zone names at all.
ABBREVIATIONS: dict[str, str] = {
    "PST": "America/Los_Angeles", "PDT": "America/Los_Angeles", "PT": "America/Los_Angeles",
    "CST": "America/Chicago", "CDT": "America/Chicago", "CT": "America/Chicago",
    "EDT": "America/New_York", "ET": "America/New_York", "MDT": "America/Denver",
    "BST": "Europe/London", "CEST": "Europe/Berlin", "EEST": "Europe/Athens",
    "IST": "Asia/Kolkata", "JST": "Asia/Tokyo", "SGT": "Asia/Singapore",
    "AEST": "Australia/Sydney", "AEDT": "Australia/Sydney", "NZST": "Pacific/Auckland",
}


@dataclass(frozen=True)
class ZoneAdvice:
    """What to say about a real zone name: ``serious`` ones make `check` fail."""

    message: str
    fix: str
    serious: bool = False


@dataclass(frozen=True)
class _Data:
    links: dict[str, str]  # old alias -> the current name
    zones: frozenset[str]  # every name that loads


def _tz_files() -> Iterable[tuple[str, str]]:
    """(tzdata.zi, zone.tab + zone1970.tab) texts: the system's first, then the tzdata
    package's (what zoneinfo itself falls back to)."""
    for folder in map(Path, zoneinfo.TZPATH):
        try:
            zi = (folder / "tzdata.zi").read_text(encoding="utf-8")
        except OSError:
            continue
        tabs = "".join(_read(folder / name) for name in ("zone.tab", "zone1970.tab"))
        yield zi, tabs
    try:
        package = importlib.resources.files("tzdata").joinpath("zoneinfo")
        zi = package.joinpath("tzdata.zi").read_text(encoding="utf-8")
        tabs = "".join(package.joinpath(name).read_text(encoding="utf-8")
                       for name in ("zone.tab", "zone1970.tab"))
        yield zi, tabs
    except (ModuleNotFoundError, OSError):
        return


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


def links_from(zi: str, tabs: str) -> dict[str, str]:
    """The old aliases in a tzdata.zi text: its links whose names are no country's zone in
    the zone.tab texts ``tabs`` (see the module's docstring)."""
    located = {cols[2] for line in tabs.splitlines()
               if line and not line.startswith("#") and len(cols := line.split("\t")) > 2}
    links = {}
    for line in zi.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "L" and parts[2] not in located:
            links[parts[2]] = parts[1]
    return links


@functools.lru_cache(maxsize=1)
def _data() -> _Data:
    zones = frozenset(zoneinfo.available_timezones())
    for zi, tabs in _tz_files():
        links = links_from(zi, tabs)
        if links:
            return _Data(links, zones)
    return _Data(dict(FALLBACK_LINKS), zones)


def canonical_zone(name: str) -> str | None:
    """The current name for an old alias (``US/Eastern`` -> ``America/New_York``); None when
    ``name`` is a current name (or no zone)."""
    if name in UTC_NAMES or name in LEGACY:
        return None
    target = _data().links.get(name)
    if target in ("Etc/UTC", "Etc/GMT"):
        return "UTC"
    return target


def zone_advice(name: str) -> ZoneAdvice | None:
    """Advice on a zone name that loads: a fixed offset or an old alias. None: it is fine."""
    if name in LEGACY:
        serious, what = LEGACY[name]
        return ZoneAdvice(f"\"{name}\" is {what.split('; ')[0]}", what.split("; ", 1)[1], serious)
    if name.startswith("Etc/GMT") and name not in UTC_NAMES and name[7:8] in ("+", "-") \
            and name[8:] != "0":
        # POSIX signs: Etc/GMT+5 is five hours *behind* UTC.
        return ZoneAdvice(f"\"{name}\" is a fixed offset without daylight saving time (and its "
                          f"sign is inverted: it is UTC{'-' if name[7] == '+' else '+'}{name[8:]})",
                          "use a city zone, e.g. \"America/New_York\", unless a fixed offset is meant")
    current = canonical_zone(name)
    if current:
        return ZoneAdvice(f"\"{name}\" is an old name for \"{current}\"",
                          f"write \"{current}\" (calendar clients know the current names)")
    return None


def suggest_zone(text: str) -> str | None:
    """The zone a name that does not load most likely means: ``Europe/Londn`` ->
    ``Europe/London``, ``new york`` -> ``America/New_York``, ``PST`` -> ``America/Los_Angeles``.
    Always a current name, never an old alias."""
    data = _data()
    current = sorted(z for z in data.zones if z not in data.links and z not in LEGACY)
    wanted = text.strip()
    if wanted.upper() in ABBREVIATIONS:
        return ABBREVIATIONS[wanted.upper()]
    folded = {z.lower(): z for z in data.zones}
    if wanted.lower() in folded:  # europe/london
        found = folded[wanted.lower()]
        return canonical_zone(found) or found
    city = wanted.replace(" ", "_").lower()
    by_city = {z.rsplit("/", 1)[-1].lower(): z for z in current if "/" in z}
    if city in by_city:  # "New York", "kolkata"
        return by_city[city]
    # Old aliases are candidates too ("Asia/Calcuta"), answered with their current name.
    names = sorted(z for z in data.zones if z not in LEGACY)
    close = difflib.get_close_matches(wanted, names, n=1, cutoff=0.7)
    if close:
        return canonical_zone(close[0]) or close[0]
    close = difflib.get_close_matches(city, list(by_city), n=1, cutoff=0.8)
    return by_city[close[0]] if close else None
