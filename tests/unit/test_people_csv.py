"""Reading people from CSV files as spreadsheets and address books export them."""

from __future__ import annotations

import codecs

import pytest

from service.config.edit import NewParticipant
from service.config.people_csv import CsvRow, read_people, validate_people


def people(raw: bytes) -> list[tuple[int, str, str, str]]:
    rows, problems = read_people(raw)
    assert problems == []
    return [(r.line, r.name, r.email, r.timezone) for r in rows]


PLAIN = "name,email,timezone\nAlice Ä,alice@example.com,Europe/Berlin\nBob,bob@example.com,\n"
EXPECTED = [(2, "Alice Ä", "alice@example.com", "Europe/Berlin"), (3, "Bob", "bob@example.com", "")]


@pytest.mark.parametrize("raw", [
    PLAIN.encode("utf-8"),
    codecs.BOM_UTF8 + PLAIN.encode("utf-8"),
    PLAIN.replace("\n", "\r\n").encode("utf-8"),
    PLAIN.replace(",", ";").encode("utf-8"),  # European Excel
    b"sep=;\r\n" + PLAIN.replace(",", ";").replace("\n", "\r\n").encode("utf-8"),
    PLAIN.replace(",", "\t").replace("\n", "\r\n").encode("utf-16"),  # Excel "Unicode text"
    PLAIN.replace(",", ";").encode("cp1252"),  # Excel's CSV on Western Windows
], ids=["utf8", "bom", "crlf", "semicolon", "sep-line", "utf16-tab", "cp1252"])
def test_encodings_and_separators(raw: bytes) -> None:
    got = people(raw)
    if raw.startswith(b"sep="):
        got = [(line - 1, *rest) for line, *rest in got]  # the sep= line is line 1
    assert got == EXPECTED


@pytest.mark.parametrize("header", [
    "Name,E-mail,Time zone", "Full name,Email address,tz", "NAME, EMAIL ,TimeZone",
    "Display Name,E-mail Address,zone", "name,e_mail,time_zone",
])
def test_header_spellings(header: str) -> None:
    raw = f"{header}\nAlice,alice@example.com,UTC\n".encode()
    assert people(raw) == [(2, "Alice", "alice@example.com", "UTC")]


def test_first_and_last_name_columns_outlook_export() -> None:
    raw = (b"First Name,Middle Name,Last Name,E-mail Address,E-mail Type\r\n"
           b"Alice,,Example,alice@example.com,SMTP\r\n")
    assert people(raw) == [(2, "Alice Example", "alice@example.com", "")]


def test_google_contacts_export() -> None:
    raw = (b"Name,Given Name,Family Name,E-mail 1 - Type,E-mail 1 - Value\n"
           b",Bob,Builder,* Home,bob@example.com\n")
    assert people(raw) == [(2, "Bob Builder", "bob@example.com", "")]


def test_line_numbers_count_quoted_fields_spanning_lines_and_blank_lines() -> None:
    raw = (b'name,email,notes\n'
           b'Alice,alice@example.com,"first line\nsecond line\nthird"\n'
           b'\n'
           b',nameless@example.com,\n'
           b'Carol,,"a\nb"\n'
           b'Dan,dan@example.com,\n')
    rows, problems = read_people(raw)
    assert [(r.line, r.email) for r in rows] == [(2, "alice@example.com"), (9, "dan@example.com")]
    assert [(p.line, p.message) for p in problems] == [
        (6, "no name for nameless@example.com; add one or delete the row"),
        (7, "no email address for Carol; add one or delete the row"),
    ]


def test_a_file_without_an_email_column_says_which_columns_it_has() -> None:
    rows, problems = read_people(b"Name,Phone\nAlice,123\n")
    assert rows == []
    assert problems[0].line == 1 and '"Name", "Phone"' in problems[0].message
    assert "email" in problems[0].message


def test_an_empty_file() -> None:
    rows, problems = read_people(b"\n\n")
    assert rows == [] and "empty" in str(problems[0])


def test_validation_uses_the_configs_checks_and_finds_duplicates() -> None:
    rows = [CsvRow(2, "Alice", "Alice@Example.com", ""),
            CsvRow(3, "Bob", "bob@", ""),
            CsvRow(4, "Carol", "carol@example.com", "Europe/Berln"),
            CsvRow(5, "Alice again", "alice@example.com", ""),
            CsvRow(6, "Dan", "dan@example.com", "America/New_York"),
            CsvRow(7, "Erin", "erin@example.com", ""),
            CsvRow(8, "Circle", "circle@example.org", "")]
    good, problems = validate_people(rows, listed=["erin@example.com"],
                                     own_address="circle@example.org", file="people.csv")
    assert good == [NewParticipant("Alice", "alice@example.com", None),
                    NewParticipant("Dan", "dan@example.com", "America/New_York")]
    by_line = {p.line: p.message for p in problems}
    assert sorted(by_line) == [3, 4, 5, 7, 8]
    assert "is not an email address" in by_line[3]
    assert "Europe/Berlin" in by_line[4]  # did you mean
    assert "also on line 2" in by_line[5]
    assert "participant already" in by_line[7]
    assert "cohort's own address" in by_line[8]


def test_mistyped_addresses_are_refused_with_what_was_meant() -> None:
    # Well-formed, so a config would load them; an import refuses them (`check` would too).
    rows = [CsvRow(2, "Bob", "bob@gmial.com", ""), CsvRow(3, "Ann", "ann@gmail", ""),
            CsvRow(4, "Kim", "kim@bücher.example", "")]
    good, problems = validate_people(rows, listed=[], own_address="circle@example.org",
                                     file="people.csv")
    by_line = {p.line: p.message for p in problems}
    assert sorted(by_line) == [2, 3]
    assert 'did you mean "bob@gmail.com"' in by_line[2]
    assert 'did you mean "ann@gmail.com"' in by_line[3]
    assert [p.email for p in good] == ["kim@xn--bcher-kva.example"]  # IDN: as SMTP needs it
