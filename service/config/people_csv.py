"""Pure: a list of people as spreadsheets and address books export it, read into
participants for `circleback participants import`.

What it accepts: a header row naming a name (or first and last name) column, an email
column and optionally a time zone column, in the spellings those exports use ("Name",
"Full name", "First Name" + "Last Name", "E-mail Address" from Outlook, "E-mail 1 - Value"
from Google Contacts, "Time zone", "tz", ...: compared without case, spaces or
punctuation); UTF-8 with or without a BOM, UTF-16 ("Unicode text" from Excel, tab
separated), else Windows-1252 (Excel's "CSV" on Western Windows); commas, semicolons
(Excel where the decimal mark is a comma) or tabs; an Excel ``sep=;`` first line; CRLF.

Every problem names the line of the file it is on (a quoted field may span lines: a row
is named by the line it starts on) and what to fix. The address and zone checks are the
config's own (``service.config.parse``), so a row accepted here is accepted by `check`.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from service.config.addresses import check_address
from service.config.edit import NewParticipant
from service.config.parse import _Reader

__all__ = ["CsvProblem", "CsvRow", "decode", "read_people", "validate_people"]

_KEY = re.compile(r"[^a-z0-9]")


def _norm(header: str) -> str:
    return _KEY.sub("", header.casefold())


# Header spellings, normalised (lower case, letters and digits only).
EMAIL_HEADERS = {
    "email", "emailaddress", "mail", "emailadresse", "mailadresse", "courriel",
    "adressecourriel", "correo", "correoelectronico", "primaryemail", "email1",
    "email1value", "emailaddress1", "emails", "workemail", "personalemail",
}
NAME_HEADERS = {
    "name", "fullname", "displayname", "participant", "participantname", "nom",
    "nomcomplet", "nombre", "vollername", "contactname", "person",
}
FIRST_HEADERS = {"firstname", "givenname", "first", "forename", "vorname", "prenom",
                 "prnom"}
LAST_HEADERS = {"lastname", "surname", "familyname", "last", "nachname", "nomdefamille"}
ZONE_HEADERS = {"timezone", "tz", "zone", "timezonename", "iana", "tzname", "zeitzone",
                "fuseauhoraire"}


@dataclass(frozen=True)
class CsvRow:
    """One person as the file gives them, with the line their row starts on."""

    line: int
    name: str
    email: str
    timezone: str  # "" when the file gives none


@dataclass(frozen=True)
class CsvProblem:
    line: int  # 1 is the header row (0: the file as a whole)
    message: str  # what is wrong and what to do, one sentence
    already: bool = False  # the row is a participant already: importing a file again skips it

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "the file"
        return f"{where}: {self.message}"


def decode(raw: bytes) -> str:
    """The file's text: UTF-16 or UTF-8 by their BOM, else UTF-8 when it is, else
    Windows-1252 (which maps every byte but five, and those become U+FFFD)."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw.decode("utf-16")
    if raw.startswith(codecs.BOM_UTF8):
        return raw[len(codecs.BOM_UTF8):].decode("utf-8", errors="replace")
    # Excel's "Unicode text" without a BOM is rare, but a NUL in every other byte says so.
    if len(raw) >= 4 and raw[1] == 0 and raw[3] == 0:
        return raw.decode("utf-16-le", errors="replace")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def _delimiter(header_line: str) -> str:
    """The separator the header row uses most (outside quotes)."""
    bare = re.sub(r'"[^"]*"', "", header_line)
    counts = {d: bare.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


@dataclass(frozen=True)
class _Columns:
    email: int
    name: int | None
    first: int | None
    last: int | None
    zone: int | None


def _columns(header: list[str]) -> _Columns | str:
    """Which column holds what; a sentence saying what is missing otherwise."""
    found: dict[str, int] = {}
    for n, cell in enumerate(header):
        key = _norm(cell)
        for what, names in (("email", EMAIL_HEADERS), ("name", NAME_HEADERS),
                            ("first", FIRST_HEADERS), ("last", LAST_HEADERS),
                            ("zone", ZONE_HEADERS)):
            if key in names and what not in found:
                found[what] = n
        if "email" not in found and ("email" in key or "mail" in key) and "type" not in key:
            found["email"] = n  # "E-mail Address 1", "Primary e-mail"...
    shown = ", ".join(f'"{c.strip()}"' for c in header if c.strip()) or "none"
    if "email" not in found:
        return (f"no email column (the columns are: {shown}); name the column of addresses "
                "\"email\"")
    if not {"name", "first", "last"} & found.keys():
        return (f"no name column (the columns are: {shown}); add a \"name\" column, or "
                "\"first name\" and \"last name\"")
    return _Columns(found["email"], found.get("name"), found.get("first"), found.get("last"),
                    found.get("zone"))


def _cell(row: list[str], index: int | None) -> str:
    if index is None or index >= len(row):
        return ""
    return " ".join(row[index].split())  # no line breaks or runs of blanks in a name


def read_people(raw: bytes) -> tuple[list[CsvRow], list[CsvProblem]]:
    """The people of a CSV file, each with their line, and the rows that cannot be read
    (a missing name or address). Addresses and zones are checked by ``validate_people``."""
    text = decode(raw)
    lines = text.splitlines()
    offset = 0
    delimiter: str | None = None
    if lines and re.fullmatch(r"\s*sep=(.)\s*", lines[0]):
        delimiter = lines[0].strip()[4]
        text = text.split("\n", 1)[1] if "\n" in text else ""
        offset = 1
    first = next((line for line in text.splitlines() if line.strip()), "")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter or _delimiter(first))
    rows: list[CsvRow] = []
    problems: list[CsvProblem] = []
    columns: _Columns | None = None
    last_line = 0
    try:
        for record in reader:
            line, last_line = last_line + 1 + offset, reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if columns is None:
                found = _columns(record)
                if isinstance(found, str):
                    return [], [CsvProblem(line, found)]
                columns = found
                continue
            email = _cell(record, columns.email)
            name = _cell(record, columns.name) or " ".join(
                x for x in (_cell(record, columns.first), _cell(record, columns.last)) if x)
            if not email:
                problems.append(CsvProblem(line, f"no email address{' for ' + name if name else ''}; "
                                                 "add one or delete the row"))
            elif not name:
                problems.append(CsvProblem(line, f"no name for {email}; add one or delete the row"))
            else:
                rows.append(CsvRow(line, name, email, _cell(record, columns.zone)))
    except csv.Error as exc:
        problems.append(CsvProblem(last_line + 1 + offset,
                                   f"cannot be read as CSV ({exc}); check its quotes"))
    if columns is None:
        return [], [CsvProblem(0, "is empty; the first row should name the columns: name,email")]
    return rows, problems


def validate_people(rows: Iterable[CsvRow], *, listed: Collection[str], own_address: str,
                    file: str) -> tuple[list[NewParticipant], list[CsvProblem]]:
    """The rows that can join the cohort, and what is wrong with the others: addresses and
    zones as the config checks them, and duplicates (in the file, or already listed)."""
    good: list[NewParticipant] = []
    problems: list[CsvProblem] = []
    seen: dict[str, int] = {}
    taken = {e.lower() for e in listed}
    for row in rows:
        reader = _Reader(file)
        email = reader.email(row.email, "email")
        zone = reader.timezone(row.timezone, "timezone") if row.timezone else None
        if reader.problems:
            problems.append(CsvProblem(row.line, "; ".join(
                f"{p.message}: {p.fix}" for p in reader.problems)))
            continue
        assert email is not None
        typo = check_address(row.email)
        if typo.problem:  # well-formed but almost surely mistyped ("gmial.com", "alice@gmail")
            problems.append(CsvProblem(row.line, typo.problem
                                       + (f": {typo.fix}" if typo.fix else "")))
            continue
        if email in seen:
            problems.append(CsvProblem(row.line, f"{email} is also on line {seen[email]}; keep one"))
        elif email in taken:
            problems.append(CsvProblem(row.line, f"{email} is a participant already; delete the row",
                                       already=True))
        elif email == own_address.lower():
            problems.append(CsvProblem(row.line, f"{email} is the cohort's own address; "
                                                 "participants need their own"))
        else:
            seen[email] = row.line
            good.append(NewParticipant(row.name, email, zone))
    return good, problems
