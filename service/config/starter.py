"""`circleback init`: the answers a new facilitator gives, checked one by one, and the
starter config they make, written over the commented example so its comments stay.

Pure: the command asks the questions (in a terminal) or reads its flags; this module
checks each answer and edits the example's TOML with tomlkit."""

from __future__ import annotations

import email.utils
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import tomlkit
from tomlkit.items import Item, Table

from service.config.addresses import check_address
from service.config.durations import parse_duration

__all__ = ["FIELDS", "Field", "collect_answers", "machine_timezone", "next_week", "parse_people",
           "starter_config"]

_SECURITY = {"smtp": ("starttls", "tls", "none"), "imap": ("tls", "starttls", "none")}
_PORTS = {("smtp", "starttls"): 587, ("smtp", "tls"): 465, ("smtp", "none"): 25,
          ("imap", "tls"): 993, ("imap", "starttls"): 143, ("imap", "none"): 143}


def _text(value: str) -> str:
    if not value.strip():
        raise ValueError("say something here")
    return value.strip()


def _zone(value: str) -> str:
    try:
        ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not a time zone name; write it as Region/City, e.g. "
                         "Europe/London or America/New_York") from None
    return value.strip()


def _first(value: str) -> str:
    text = value.strip().replace(" ", "T", 1)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{value!r} is not a date and time; write it as 2027-01-12 15:00") from None
    if when.tzinfo is not None:
        raise ValueError("give the local time without a zone (the cohort's zone applies)")
    return when.replace(second=0, microsecond=0).isoformat()


def _every(value: str) -> str:
    parse_duration(value.strip())  # ValueError says what it accepts
    return value.strip().lower()


def _count(value: str) -> str:
    if not value.strip().isdigit() or not 1 <= int(value) <= 200:
        raise ValueError(f"{value!r} is not a number of check-ins (1 to 200)")
    return str(int(value))


def _email(value: str) -> str:
    found = check_address(value)
    if found.normalized is None or found.problem:
        raise ValueError((found.problem or f"{value.strip()!r} is not an email address")
                         + (f": {found.fix}" if found.fix else " (name@example.org)"))
    return found.normalized


def _port(value: str) -> str:
    if not value.strip().isdigit() or not 1 <= int(value) <= 65535:
        raise ValueError(f"{value!r} is not a port number (1 to 65535)")
    return str(int(value))


def _security(server: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value.strip().lower() not in _SECURITY[server]:
            raise ValueError(f"say one of {', '.join(_SECURITY[server])}")
        return value.strip().lower()
    return check


@dataclass(frozen=True)
class Field:
    """One answer: its flag (``--smtp-host``), the question, how it is checked, and the
    default offered (from the answers so far; None: the example's value)."""

    name: str  # the flag without dashes, and the key of the answers
    question: str
    check: Callable[[str], str]
    default: Callable[[dict[str, str]], str | None]
    help: str

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def _ask_default(server: str, what: str) -> Callable[[dict[str, str]], str | None]:
    def default(answers: dict[str, str]) -> str | None:
        if what == "port":
            security = answers.get(f"{server}_security", _SECURITY[server][0])
            return str(_PORTS[(server, security)])
        if what == "username":
            return answers.get("address")
        domain = answers.get("address", "").rpartition("@")[2]
        return f"{server}.{domain}" if domain else None
    return default


FIELDS: tuple[Field, ...] = (
    Field("name", "Cohort name", _text, lambda a: None, "the cohort's name, as emails show it"),
    Field("timezone", "Time zone of the cohort (Region/City)", _zone,
          lambda a: machine_timezone(), "the cohort's IANA time zone (default: this machine's)"),
    Field("first", "First check-in, local date and time (YYYY-MM-DD HH:MM)", _first,
          lambda a: next_week().replace("T", " ")[:16],
          "the first check-in call, local time: 2027-01-12T15:00 (default: next week's Tuesday noon)"),
    Field("every", "Every (1w, 2w ...)", _every, lambda a: "2w",
          "time between check-ins: 1w, 2w ..."),
    Field("count", "How many check-ins", _count, lambda a: "6", "how many check-ins"),
    Field("location", "Where the calls happen (a link or a place)", _text, lambda a: None,
          "the calls' link or place"),
    Field("facilitator_name", "Your name (the facilitator)", _text, lambda a: None,
          "the facilitator's name"),
    Field("facilitator_email", "Your email (you get the facilitator's copy of each digest)",
          _email, lambda a: None, "the facilitator's own address"),
    Field("address", "The cohort's mail address (best one only circleback reads)", _email,
          lambda a: None, "the address circleback sends from and reads replies at"),
    Field("smtp_host", "SMTP server", _text, _ask_default("smtp", "host"), "the SMTP server's host"),
    Field("smtp_security", "SMTP security (starttls, tls, none)", _security("smtp"),
          lambda a: "starttls", "starttls | tls | none"),
    Field("smtp_port", "SMTP port", _port, _ask_default("smtp", "port"),
          "the SMTP port (default: from the security)"),
    Field("smtp_username", "SMTP username", _text, _ask_default("smtp", "username"),
          "the SMTP login (default: the cohort's address)"),
    Field("imap_host", "IMAP server", _text, _ask_default("imap", "host"), "the IMAP server's host"),
    Field("imap_security", "IMAP security (tls, starttls, none)", _security("imap"),
          lambda a: "tls", "tls | starttls | none"),
    Field("imap_port", "IMAP port", _port, _ask_default("imap", "port"),
          "the IMAP port (default: from the security)"),
    Field("imap_username", "IMAP username", _text, _ask_default("imap", "username"),
          "the IMAP login (default: the cohort's address)"),
)


# Fields whose default follows from an answer given: used without a terminal too.
_FOLLOWS = {"smtp_port": "smtp_security", "imap_port": "imap_security",
            "smtp_username": "address", "imap_username": "address"}

_WHERE = {
    "name": ("cohort", "name"), "timezone": ("cohort", "timezone"),
    "first": ("checkins", "first"), "every": ("checkins", "every"),
    "count": ("checkins", "count"), "location": ("checkins", "location"),
    "facilitator_name": ("facilitator", "name"), "facilitator_email": ("facilitator", "email"),
    "address": ("mail", "address"),
    "smtp_host": ("smtp", "host"), "smtp_security": ("smtp", "security"),
    "smtp_port": ("smtp", "port"), "smtp_username": ("smtp", "username"),
    "imap_host": ("imap", "host"), "imap_security": ("imap", "security"),
    "imap_port": ("imap", "port"), "imap_username": ("imap", "username"),
}


def collect_answers(example: str, given: dict[str, str | None],
                    ask: Callable[[str, str], str] | None,
                    say: Callable[[str], None] = print) -> dict[str, str]:
    """Every answer, checked: ``given`` (the flags) as they are, the others asked with
    ``ask(question, default)`` until they pass (an empty reply takes the default: the
    example's value when nothing better is known). Without ``ask`` (no terminal) only the
    flags and what follows from them. ValueError names the flag of a bad one."""
    doc = tomlkit.parse(example)
    answers: dict[str, str] = {}
    for f in FIELDS:
        value = given.get(f.name)
        if value is not None:
            try:
                answers[f.name] = f.check(value)
            except ValueError as exc:
                raise ValueError(f"{f.flag}: {exc}") from None
            continue
        if ask is None:
            follows = _FOLLOWS.get(f.name)
            if follows in answers:
                default = f.default(answers)
                if default is not None:
                    answers[f.name] = default
            continue
        section, key = _WHERE[f.name]
        default = f.default(answers) or str(doc[section][key])
        while True:
            reply = ask(f.question, default).strip() or default
            try:
                answers[f.name] = f.check(reply)
                break
            except ValueError as exc:
                say(f"  {exc}")
    return answers


def parse_people(text: str) -> list[tuple[str, str]]:
    """``Ada Lovelace <ada@example.org>, bob@example.org``: (name, email) pairs (a bare
    address gets its local part as the name). ValueError for one that is no address."""
    people = []
    for name, address in email.utils.getaddresses([text]):
        if not address and not name:
            continue
        people.append((name.strip() or address.split("@")[0], _email(address)))
    return people


def machine_timezone() -> str:
    """This machine's zone name ($TZ, /etc/timezone or /etc/localtime's link), else UTC."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    try:
        candidates.append(Path("/etc/timezone").read_text(encoding="utf-8").strip())
    except OSError:
        pass
    link = Path("/etc/localtime")
    if link.is_symlink():
        candidates.append(str(link.resolve()).partition("zoneinfo/")[2])
    for name in candidates:
        try:
            if name and "/" in name:
                return _zone(name)
        except ValueError:
            continue
    return "UTC"


def next_week(today: date | None = None) -> str:
    """Next week's Tuesday at noon, where the example's series starts when not told."""
    today = today or date.today()
    tuesday = today + timedelta(days=(1 - today.weekday()) % 7 + 7)
    return f"{tuesday.isoformat()}T12:00:00"


def _slug(name: str, first: str) -> str:
    words = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return f"{words[:40].rstrip('-') or 'cohort'}-{first[:4]}"


def starter_config(example: str, answers: dict[str, str],
                   participants: list[tuple[str, str]] | None = None) -> str:
    """The example config with ``answers`` (checked values, by `Field` name) put in;
    what is not answered keeps the example's value, and every comment stays."""
    doc = tomlkit.parse(example)

    def table(name: str) -> Table:
        item = doc[name]
        assert isinstance(item, Table)
        return item

    def item(section: str, key: str) -> Item:
        found = table(section).item(key)
        assert isinstance(found, Item)
        return found

    def put(section: str, key: str, value: object) -> None:
        # The example's comments line up in a column: keep them there.
        old = item(section, key)
        width = len(old.as_string()) + len(old.trivia.comment_ws)
        table(section)[key] = value
        new = item(section, key)
        if new.trivia.comment:
            new.trivia.comment_ws = " " * max(1, width - len(new.as_string()))

    first = answers.get("first") or next_week()
    put("checkins", "first", datetime.fromisoformat(first))
    for field, value in answers.items():
        section, key = _WHERE[field]
        if field in ("count", "smtp_port", "imap_port"):
            put(section, key, int(value))
        elif field != "first":
            put(section, key, value)
    if "name" in answers:
        put("cohort", "id", _slug(answers["name"], first))
        put("mail", "display_name", answers["name"][:60])
    if participants:
        people = tomlkit.aot()
        for name, email in participants:
            person = tomlkit.table()
            person["name"] = name
            person["email"] = _email(email)
            people.append(person)
        people[-1].add(tomlkit.nl())
        doc["participants"] = people
    return tomlkit.dumps(doc)
