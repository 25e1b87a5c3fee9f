"""libical's verdict on iCalendar files: its parse errors and its RFC 5546 (iTIP) checks.

Run by Debian's own interpreter, which sees the apt-installed bindings (the test venv
does not): ``/usr/bin/python3 tests/tools/libical_check.py FILE.ics ...``. Needs
``apt-get install gir1.2-ical-3.0 python3-gi`` (``.ci/setup --test`` does it).

Prints one JSON object, ``{path: {"method": "REQUEST", "events": 2, "errors": [...]}}``;
each error is ``"<where>: <X-LIC-ERRORTYPE>: <message>"``, e.g. ``"VEVENT #2:
INVALID-ITIP: Failed iTIP restrictions for ORGANIZER property. ..."``. Exit status 0
when every file was checked (errors or not), 3 when the bindings are missing.

Every error is an X-LIC-ERROR property libical adds: while parsing (a value it cannot
read, a bad line) and in ``icalcomponent_check_restrictions`` (= ``icalrestriction_check``,
the RFC 5546 property tables for the METHOD: which properties a VEVENT must, may or must
not carry, and some values, e.g. STATUS). Two quirks of libical 3.0 are worked around:

* ``icalrestriction_check`` checks the VCALENDAR wrapper, then inner components only
  until one fails (``valid = valid && check(...)``): a wrapper without PRODID hides
  every VEVENT, an invalid master hides an invalid override. So each inner component
  is also checked alone, in a minimal valid wrapper (PRODID, VERSION, our METHOD).
* After one value check fails, its message is repeated for every later property kind
  of that component (a variable not reset in the loop): messages are de-duplicated.

libical does not check VTIMEZONE contents (TZID, TZOFFSETTO, ...) against RFC 5546.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

PACKAGES = "gir1.2-ical-3.0 python3-gi"

try:
    import gi

    gi.require_version("ICalGLib", "3.0")
    from gi.repository import ICalGLib
except (ImportError, ValueError) as error:
    sys.stderr.write(
        f"libical_check: cannot load libical's ICalGLib bindings in {sys.executable} ({error}); "
        f"install them with `apt-get install -y {PACKAGES}` (or run `.ci/setup --test`)\n"
    )
    sys.exit(3)

ANY = ICalGLib.ComponentKind.ANY_COMPONENT
ERROR_KIND = ICalGLib.PropertyKind.XLICERROR_PROPERTY


def check(text: str) -> dict[str, Any]:
    """libical's errors for one iCalendar object, with its METHOD and VEVENT count."""
    calendar = ICalGLib.Component.new_from_string(text)
    if calendar is None:
        return {"method": None, "events": 0, "errors": ["libical parsed no component"]}
    if calendar.isa() != ICalGLib.ComponentKind.VCALENDAR_COMPONENT:
        kind = ICalGLib.Component.kind_to_string(calendar.isa())
        return {"method": None, "events": 0, "errors": [f"top level is {kind}, not one VCALENDAR"]}
    method_prop = calendar.get_first_property(ICalGLib.PropertyKind.METHOD_PROPERTY)
    method = None if method_prop is None else method_prop.get_value_as_string()
    errors: dict[str, None] = {}  # ordered set
    # As libical itself runs it: the VCALENDAR wrapper, then inner components up to the
    # first that fails. Parse errors are already in the tree and are collected too.
    calendar.check_restrictions()
    for where, component in _labelled(calendar, ""):
        errors |= dict.fromkeys(_errors(component, where))
    # Then each inner component alone, so that none hides behind an earlier failure.
    source = ICalGLib.Component.new_from_string(text)  # unchecked, so the copies are too
    for label, child in _children(source):
        isolated = ICalGLib.Component.new_vcalendar()
        isolated.add_property(ICalGLib.Property.new_prodid("-//circleback//libical_check//EN"))
        isolated.add_property(ICalGLib.Property.new_version("2.0"))
        if method_prop is not None:
            isolated.add_property(method_prop.clone())
        copy = child.clone()
        isolated.add_component(copy)
        isolated.check_restrictions()
        for where, component in _labelled(copy, label):
            errors |= dict.fromkeys(_errors(component, where))
    events = sum(1 for label, _ in _children(calendar) if label.startswith("VEVENT "))
    return {"method": method, "events": events, "errors": list(errors)}


def _children(component: Any) -> list[tuple[str, Any]]:
    """Direct subcomponents, each labelled by kind and ordinal: ``VEVENT #2``."""
    found: list[tuple[str, Any]] = []
    counts: dict[str, int] = {}
    child = component.get_first_component(ANY)
    while child is not None:
        kind = ICalGLib.Component.kind_to_string(child.isa())
        counts[kind] = counts.get(kind, 0) + 1
        found.append((f"{kind} #{counts[kind]}", child))
        child = component.get_next_component(ANY)
    return found


def _labelled(component: Any, where: str) -> list[tuple[str, Any]]:
    """``component`` and everything inside it, each with its path (VCALENDAR is "")."""
    found = [(where or "VCALENDAR", component)]
    for label, child in _children(component):
        found += _labelled(child, f"{where}/{label}" if where else label)
    return found


def _errors(component: Any, where: str) -> list[str]:
    found = []
    prop = component.get_first_property(ERROR_KIND)
    while prop is not None:
        param = prop.get_first_parameter(ICalGLib.ParameterKind.XLICERRORTYPE_PARAMETER)
        # as_ical_string() is "X-LIC-ERRORTYPE=INVALID-ITIP"
        kind = "ERROR" if param is None else param.as_ical_string().partition("=")[2].strip()
        found.append(f"{where}: {kind}: {prop.get_xlicerror().strip()}")
        prop = component.get_next_property(ERROR_KIND)
    return found


def main(paths: list[str]) -> int:
    result = {path: check(Path(path).read_text(encoding="utf-8")) for path in paths}
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
