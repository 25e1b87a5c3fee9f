"""Pure: edits of a cohort file's text that keep everything else in it byte for byte (its
comments, blank lines and alignment), for the commands that change a cohort
(`participants add|remove|import`, `reschedule`, `cancel`).

Tables of an array (``[[participants]]``, ``[[checkins.moved]]``) are added and removed as
whole lines: the entry is its header and its keys, up to the last key line; the comments
and blank lines after it belong to what follows (they usually introduce the next section)
and stay. Keys of ``[checkins]`` are changed through tomlkit, which keeps a key's own
comment. Every edit is checked: the edited text must parse to exactly the tree the edit
meant, or ``EditError`` says to edit the file by hand. ``edited_config`` validates the
result in memory, as ``load_deployment`` would, before anything is written.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import tomlkit
import tomlkit.items

from service.config.deployment import (
    DEPLOYMENT_FILE,
    DEPLOYMENT_ONLY,
    _check_deployment_file,
    _merge,
)
from service.config.model import Config, ConfigError, Problem
from service.config.parse import parse_config

__all__ = [
    "EditError",
    "NewParticipant",
    "add_participants",
    "cancel_checkin",
    "cancel_series",
    "edited_config",
    "move_checkin",
    "remove_participant",
]


class EditError(Exception):
    """The file could not be edited safely; the message says what to do instead."""


@dataclass(frozen=True)
class NewParticipant:
    name: str
    email: str
    timezone: str | None = None  # None: the cohort's zone (no key written)


_HEADER = re.compile(r"^\s*\[\[?\s*([A-Za-z0-9_.\-\s\"']+?)\s*\]\]?\s*(#.*)?$")


def _header(line: str) -> tuple[str, bool] | None:
    """(table name, is an array entry) of a table header line, else None."""
    m = _HEADER.match(line.rstrip("\r\n"))
    if not m:
        return None
    name = re.sub(r"\s*\.\s*", ".", m.group(1).replace('"', "").replace("'", ""))
    return name, line.lstrip().startswith("[[")


def _headers(lines: list[str]) -> list[tuple[int, str, bool]]:
    """(line index, name, is array) of every table header, outside multi-line strings."""
    out: list[tuple[int, str, bool]] = []
    quote: str | None = None
    for n, line in enumerate(lines):
        if quote is None:
            found = _header(line)
            if found is not None:
                out.append((n, *found))
                continue
        for q in re.findall(r'"""|\'\'\'', line.split("#", 1)[0] if quote is None else line):
            if quote is None:
                quote = q
            elif q == quote:
                quote = None
    return out


def _is_content(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


@dataclass(frozen=True)
class _Span:
    start: int  # the header line
    last: int  # the last key line (inclusive)
    end: int  # where the next table starts


def _spans(lines: list[str], name: str, *, array: bool) -> list[_Span]:
    """The line spans of each table called ``name`` (each entry when ``array``)."""
    heads = _headers(lines)
    out = []
    for i, (n, head, is_array) in enumerate(heads):
        if head != name or is_array != array:
            continue
        end = heads[i + 1][0] if i + 1 < len(heads) else len(lines)
        last = n
        for k in range(n + 1, end):
            if _is_content(lines[k]):
                last = k
        out.append(_Span(n, last, end))
    return out


def _lines(text: str) -> list[str]:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += _newline(text)
    return lines


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _value(v: Any) -> str:
    """A value as TOML writes it (strings quoted and escaped)."""
    return str(tomlkit.item(v).as_string())


def _entry(name: str, items: Sequence[tuple[str, Any]], nl: str) -> list[str]:
    return [f"[[{name}]]{nl}", *(f"{k} = {_value(v)}{nl}" for k, v in items)]


def _insert_entries(text: str, name: str, entries: Sequence[Sequence[tuple[str, Any]]],
                    after_table: str | None = None) -> str:
    """New ``[[name]]`` entries after the last existing one (or after the table
    ``after_table``, or at the end of the file), each after a blank line."""
    nl = _newline(text)
    lines = _lines(text)
    spans = _spans(lines, name, array=True)
    if not spans and after_table is not None:
        spans = _spans(lines, after_table, array=False)
    at = len(lines)
    if spans:
        # After the last key and the comments right below it (commented-out keys of that
        # table); a blank line ends the table: what comes after it introduces the next one.
        at = spans[-1].last + 1
        while at < spans[-1].end and lines[at].strip().startswith("#"):
            at += 1
    block: list[str] = []
    for items in entries:
        block += [nl, *_entry(name, items, nl)]
    if at < len(lines) and lines[at].strip():
        block.append(nl)  # a header (or comment) right below: keep them apart
    return "".join(lines[:at] + block + lines[at:])


def _remove_entry(text: str, name: str, index: int) -> str:
    """Remove the ``index``-th ``[[name]]`` entry: its header and keys, and the blank
    lines after it (comments after it stay: they introduce what follows)."""
    lines = _lines(text)
    spans = _spans(lines, name, array=True)
    if index >= len(spans):
        raise EditError(f"could not find [[{name}]] entry {index + 1} in the file")
    span = spans[index]
    stop = span.last + 1
    while stop < span.end and not lines[stop].strip():
        stop += 1
    return "".join(lines[:span.start] + lines[stop:])


def _checked(old: str, new: str, expect: dict[str, Any]) -> str:
    """``new`` when it parses to ``expect``; EditError otherwise (the file is left alone)."""
    try:
        got = tomllib.loads(new)
    except tomllib.TOMLDecodeError as exc:
        raise EditError(f"the edit would break the file ({exc}); make the change by hand") from exc
    if got != expect:
        raise EditError("the file's layout is unusual here; make the change by hand")
    return new


def _parsed(text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise EditError(f"the file is not valid TOML ({exc}); fix that first "
                        "(`circleback check CONFIG` says where)") from exc


# --- participants ------------------------------------------------------------------------

def add_participants(text: str, people: Sequence[NewParticipant]) -> str:
    """``[[participants]]`` entries for ``people``, after the last one there is."""
    data = _parsed(text)
    if not people:
        return text
    rows = []
    for p in people:
        items: list[tuple[str, Any]] = [("name", p.name), ("email", p.email)]
        if p.timezone:
            items.append(("timezone", p.timezone))
        rows.append(items)
    current = data.get("participants", [])
    if not isinstance(current, list):
        raise EditError("`participants` is not a list of [[participants]] tables; fix that first")
    if current and _spans(_lines(text), "participants", array=True) == []:
        raise EditError("the participants are written inline (participants = [...]); add the "
                        "new ones there by hand")
    expect = dict(data)
    expect["participants"] = [*current, *({k: v for k, v in r} for r in rows)]
    return _checked(text, _insert_entries(text, "participants", rows), expect)


def remove_participant(text: str, email: str) -> str:
    """The ``[[participants]]`` entry whose email is ``email`` (any case), removed."""
    data = _parsed(text)
    current = data.get("participants", [])
    index = _index_of(current, email)
    if index is None:
        raise EditError(f"{email} is not listed under [[participants]]")
    if len(_spans(_lines(text), "participants", array=True)) != len(current):
        raise EditError("the participants are written inline (participants = [...]); remove "
                        "the entry there by hand")
    expect = dict(data)
    expect["participants"] = [p for n, p in enumerate(current) if n != index]
    if not expect["participants"]:
        del expect["participants"]
    return _checked(text, _remove_entry(text, "participants", index), expect)


def _index_of(entries: Any, email: str) -> int | None:
    if not isinstance(entries, list):
        return None
    for n, entry in enumerate(entries):
        if isinstance(entry, dict) and str(entry.get("email", "")).strip().lower() == email.lower():
            return n
    return None


# --- check-ins ---------------------------------------------------------------------------

def _moved_index(data: dict[str, Any], number: int) -> tuple[list[Any], int | None]:
    moved = data.get("checkins", {}).get("moved", [])
    if not isinstance(moved, list):
        raise EditError("[checkins] moved is not a list of [[checkins.moved]] tables; fix that first")
    for n, entry in enumerate(moved):
        if isinstance(entry, dict) and entry.get("checkin") == number:
            return moved, n
    return moved, None


def _set_checkins_key(text: str, key: str, value: Any) -> str:
    """Set (or, with None, remove) one key of [checkins], through tomlkit: the key's own
    line is rewritten, the rest of the file stays as it was."""
    doc = tomlkit.parse(text)
    table = doc.get("checkins")
    if not isinstance(table, tomlkit.items.Table):
        raise EditError("the file has no [checkins] table")
    if value is None:
        if key in table:
            del table[key]
    elif key in table and isinstance(table[key], tomlkit.items.Array) and isinstance(value, list):
        array = table[key]
        keep = [x for x in array if x in value]
        for x in list(array):
            if x not in keep:
                array.remove(x)
        for x in value:
            if x not in keep:
                array.append(x)
    else:
        table[key] = value
    out = tomlkit.dumps(doc)
    if _newline(text) == "\r\n":  # tomlkit ends a new key's line with LF alone
        out = re.sub(r"(?<!\r)\n", "\r\n", out)
    return out


def _without_moved(text: str, data: dict[str, Any], number: int) -> tuple[str, dict[str, Any]]:
    moved, index = _moved_index(data, number)
    if index is None:
        return text, data
    if len(_spans(_lines(text), "checkins.moved", array=True)) != len(moved):
        raise EditError("the moved check-ins are written inline (moved = [...]); edit them by hand")
    expect = _copy(data)
    rest = [m for n, m in enumerate(moved) if n != index]
    if rest:
        expect["checkins"]["moved"] = rest
    else:
        del expect["checkins"]["moved"]
    return _checked(text, _remove_entry(text, "checkins.moved", index), expect), expect


def _copy(data: dict[str, Any]) -> dict[str, Any]:
    out = dict(data)
    out["checkins"] = dict(data.get("checkins", {}))
    return out


def _cancelled(data: dict[str, Any]) -> list[Any]:
    value = data.get("checkins", {}).get("cancelled", [])
    if not isinstance(value, list):
        raise EditError("[checkins] cancelled is not a list of check-in numbers; fix that first")
    return list(value)


def _with_cancelled(text: str, data: dict[str, Any], numbers: list[int]) -> tuple[str, dict[str, Any]]:
    expect = _copy(data)
    if numbers:
        expect["checkins"]["cancelled"] = numbers
    else:
        expect["checkins"].pop("cancelled", None)
    new = _set_checkins_key(text, "cancelled", numbers or None)
    return _checked(text, new, expect), expect


def cancel_checkin(text: str, number: int) -> str:
    """Check-in ``number`` added to ``[checkins] cancelled`` (and a ``[[checkins.moved]]``
    entry for it dropped: a check-in is either moved or cancelled)."""
    data = _parsed(text)
    text, data = _without_moved(text, data, number)
    cancelled = _cancelled(data)
    if number in cancelled:
        return text
    text, _ = _with_cancelled(text, data, [*cancelled, number])
    return text


def move_checkin(text: str, number: int, start: datetime | None) -> str:
    """Check-in ``number`` held at ``start`` (a local time, no zone): its
    ``[[checkins.moved]]`` entry written or changed; None moves it back to where the
    series has it (the entry is dropped). A cancelled check-in that is moved is back on."""
    if start is not None and start.tzinfo is not None:
        raise EditError("give the new start as a local time, without a zone")
    data = _parsed(text)
    cancelled = _cancelled(data)
    if number in cancelled:
        text, data = _with_cancelled(text, data, [n for n in cancelled if n != number])
    moved, index = _moved_index(data, number)
    if index is not None and start is not None and _as_local(moved[index].get("start")) == start:
        return text
    text, data = _without_moved(text, data, number)
    if start is None:
        return text
    expect = _copy(data)
    expect["checkins"]["moved"] = [*data["checkins"].get("moved", []),
                                   {"checkin": number, "start": start}]
    new = _insert_entries(text, "checkins.moved", [[("checkin", number), ("start", start)]],
                          after_table="checkins")
    return _checked(text, new, expect)


def _as_local(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def cancel_series(text: str) -> str:
    """``[checkins] cancel_series = true``."""
    data = _parsed(text)
    if data.get("checkins", {}).get("cancel_series") is True:
        return text
    expect = _copy(data)
    expect["checkins"]["cancel_series"] = True
    return _checked(text, _set_checkins_key(text, "cancel_series", True), expect)


# --- validating an edit before it is written -------------------------------------------

def edited_config(config: Config, text: str) -> Config:
    """The cohort's config as it would be with its file's text replaced by ``text``,
    validated as ``load_deployment`` validates it (merged with the deployment's
    circleback.toml when the cohort is one of a folder). ConfigError lists the problems."""
    path = config.path
    try:
        own = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([Problem(str(path), "-", f"would not be valid TOML: {exc}",
                                   "edit the file by hand")]) from exc
    folder = config.deployment_path
    if folder is None:
        return parse_config(own, path)
    shared_path = folder / DEPLOYMENT_FILE
    shared_file = str(shared_path)
    try:
        shared_data = tomllib.loads(shared_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError([Problem(shared_file, "-", f"cannot be read ({exc})",
                                   "run `circleback check` on the folder")]) from exc
    shared, problems = _check_deployment_file(shared_data, shared_file, folder)
    if problems:
        raise ConfigError(problems)
    for key in DEPLOYMENT_ONLY:
        if key in own:
            raise ConfigError([Problem(str(path), key, "is a deployment-only key",
                                       f"move it to {shared_file}")])
    tree, origins = _merge(shared, own, shared_file, str(path))
    parsed = parse_config(tree, path, origins=origins, base_dir=folder)
    return dataclasses.replace(parsed, deployment_path=folder)
