"""Validation of the TOML tree into a ``Config``: every key read, typed and checked here,
every problem collected with its file, key and fix (see service/config.py for the shape)."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrulestr

from service.config.addresses import check_address
from service.config.durations import parse_duration
from service.config.model import (
    CheckinsConfig,
    CohortConfig,
    Config,
    ConfigError,
    DigestConfig,
    FacilitatorConfig,
    ImapConfig,
    MailConfig,
    MovedCheckin,
    ParticipantConfig,
    Problem,
    PromptConfig,
    ServerConfig,
)
from service.config.polls import POLL_KEYS, read_polls
from service.config.zones import suggest_zone

T = TypeVar("T")

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


# --- the schema: which keys exist where -------------------------------------------------

SECTIONS: dict[str, tuple[str, ...]] = {
    "cohort": ("id", "name", "timezone", "stories_need_consent"),
    "facilitator": ("name", "email", "timezone"),
    "mail": ("address", "display_name", "base_url", "max_attachment_size", "message_gap"),
    "checkins": (
        "first", "every", "rrule", "count", "duration", "location",
        "prompt_before", "remind_before", "title", "cancelled", "moved", "cancel_series",
    ),
    "checkins.moved": ("checkin", "start"),
    "digest": ("weekday", "time", "quiet_week_note", "local_time"),
    "prompts": ("checkin", "text"),
    "polls": POLL_KEYS,
    "participants": ("name", "email", "timezone"),
    "smtp": ("host", "port", "security", "username", "password_env", "timeout", "ca_file",
             "tls_verify"),
    "imap": (
        "host", "port", "security", "username", "password_env", "mailbox", "timeout",
        "poll_interval", "ca_file", "tls_verify",
    ),
    "database": ("url",),
    "http": ("listen",),
    "daemon": ("lease",),
}
REQUIRED_SECTIONS = ("cohort", "facilitator", "mail", "checkins", "smtp", "imap")
ARRAY_SECTIONS = ("prompts", "participants", "polls")


class _Reader:
    """Reads typed values out of the TOML tree, collecting problems instead of raising."""

    def __init__(self, file: str, origins: Mapping[str, str] | None = None) -> None:
        self.file = file
        self.origins: Mapping[str, str] = origins or {}
        self.problems: list[Problem] = []

    def origin(self, key: str) -> str:
        """The file the key came from: the longest prefix of ``key`` (whole segments: ``smtp``
        covers ``smtp.port``, ``participants`` covers ``participants[2].email``) that
        ``origins`` names, else the file being read."""
        best, length = self.file, -1
        for prefix, file in self.origins.items():
            if len(prefix) > length and (key == prefix or key.startswith((f"{prefix}.", f"{prefix}["))):
                best, length = file, len(prefix)
        return best

    def problem(self, key: str, message: str, fix: str) -> None:
        self.problems.append(Problem(self.origin(key), key, message, fix))

    def get(
        self,
        table: Mapping[str, Any],
        section: str,
        key: str,
        kind: type[T] | tuple[type, ...],
        *,
        default: Any = None,
        required: bool = True,
        example: str = "",
    ) -> Any:
        path = f"{section}.{key}" if section else key
        if key not in table:
            if required:
                self.problem(path, "is missing", f"add `{key} = {example}` under [{section}]")
            return default
        value = table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # TOML booleans are ints in Python; never accept one where a number is meant.
        if isinstance(value, bool) and bool not in kinds:
            ok = False
        else:
            ok = isinstance(value, kinds)
        if not ok:
            names = " or ".join(_type_name(k) for k in kinds)
            self.problem(
                path,
                f"should be {names}, not {_type_name(type(value))} ({value!r})",
                f"write it like `{key} = {example}`",
            )
            return default
        return value

    def unknown_keys(self, table: Mapping[str, Any], section: str, known: tuple[str, ...]) -> None:
        for key in table:
            if key in known:
                continue
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            hint = f"did you mean `{close[0]}`?" if close else f"known keys: {', '.join(known)}"
            where = f"{section}.{key}" if section else key
            self.problem(where, "is not a known key", hint)

    def timezone(self, value: str | None, path: str) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            close = suggest_zone(value)
            hint = f"did you mean \"{close}\"?" if close else "use an IANA name like \"Europe/Berlin\""
            self.problem(path, f"\"{value}\" is not a time zone", hint)
            return None
        return value  # an old alias or a fixed offset loads; `check` advises (zone_advice)

    def email(self, value: str | None, path: str) -> str | None:
        """The address as circleback mails it, or None (and a problem) when ``value`` is not
        one. A well-formed address that looks mistyped loads; `check` refuses it."""
        if value is None:
            return None
        checked = check_address(value)
        if checked.normalized is None:
            self.problem(path, checked.problem or f"\"{value}\" is not an email address",
                         checked.fix or "write a bare address like \"alice@example.com\"")
        return checked.normalized

    def duration(self, value: str | None, path: str) -> timedelta | None:
        if value is None:
            return None
        try:
            delta = parse_duration(value)
        except ValueError as exc:
            self.problem(path, str(exc).split(";")[0], 'write e.g. "2d" for two days, "1w" for a week')
            return None
        return delta


def _type_name(kind: type) -> str:
    return {
        str: "a string", int: "a whole number", float: "a number", bool: "true or false",
        datetime: "a date-time", date: "a date", time: "a time", list: "a list", dict: "a table",
    }.get(kind, kind.__name__)


LEASE_MIN, LEASE_MAX, LEASE_DEFAULT = timedelta(seconds=5), timedelta(minutes=10), timedelta(seconds=30)


def parse_config(
    data: Mapping[str, Any],
    path: Path,
    *,
    require_secrets: bool = False,
    origins: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
) -> Config:
    """Validate an already-parsed TOML tree (see load_config).

    ``origins`` maps key paths (``"smtp"``, ``"mail.address"``) to the file they were
    written in, when the tree was merged from several files (see service.config.deployment);
    a problem names the file of the longest matching key path, else ``path``. Relative
    SQLite paths resolve against ``base_dir`` (default: the folder of ``path``).
    """
    r = _Reader(str(path), origins)
    r.unknown_keys(data, "", tuple(SECTIONS))
    for name in REQUIRED_SECTIONS:
        if name not in data:
            r.problem(name, "section is missing", f"add a [{name}] table (see config/example.toml)")

    def table(name: str) -> Mapping[str, Any]:
        value = data.get(name, {})
        if name in ARRAY_SECTIONS:
            return {}
        if not isinstance(value, dict):
            r.problem(name, "should be a table", f"write it as [{name}] with keys below it")
            return {}
        r.unknown_keys(value, name, SECTIONS[name])
        return value

    c = table("cohort")
    cohort_tz = r.timezone(r.get(c, "cohort", "timezone", str, example='"America/New_York"'),
                           "cohort.timezone")
    cohort_id = r.get(c, "cohort", "id", str, example='"orlando-2026"')
    if cohort_id is not None and not _SLUG.match(cohort_id):
        r.problem("cohort.id", f"\"{cohort_id}\" is not a slug",
                  "use lower-case letters, digits and dashes, e.g. \"orlando-2026\"")
    cohort = CohortConfig(
        id=cohort_id or "",
        name=r.get(c, "cohort", "name", str, example='"Kick-start your learning journey"') or "",
        timezone=cohort_tz or "UTC",
        stories_need_consent=r.get(c, "cohort", "stories_need_consent", bool, required=False,
                                   default=False),
    )

    f = table("facilitator")
    facilitator = FacilitatorConfig(
        name=r.get(f, "facilitator", "name", str, example='"Helen"') or "",
        email=r.email(r.get(f, "facilitator", "email", str, example='"helen@example.org"'),
                      "facilitator.email") or "",
        timezone=r.timezone(r.get(f, "facilitator", "timezone", str, required=False),
                            "facilitator.timezone") or cohort.timezone,
    )

    m = table("mail")
    address = r.email(r.get(m, "mail", "address", str, example='"circle@example.org"'), "mail.address")
    if address and "+" in address.split("@")[0]:
        r.problem("mail.address", "must not contain '+'",
                  "circleback adds +TOKEN itself; give the plain address, e.g. circle@example.org")
    base_url = r.get(m, "mail", "base_url", str, required=False)
    if base_url is not None and not base_url.startswith("https://"):
        r.problem("mail.base_url", f"\"{base_url}\" is not an https URL",
                  "write it like \"https://circle.example.org\" or remove it")
        base_url = None
    max_att = r.get(m, "mail", "max_attachment_size", str, required=False, example='"10MB"')
    gap = r.duration(r.get(m, "mail", "message_gap", str, required=False, example='"15m"'),
                     "mail.message_gap")
    if gap is not None and gap > timedelta(hours=6):
        r.problem("mail.message_gap", "is longer than six hours",
                  "keep it short, e.g. \"15m\": prompts and reminders wait for it")
        gap = None
    mail = MailConfig(
        address=address or "",
        display_name=r.get(m, "mail", "display_name", str, required=False) or cohort.name,
        base_url=base_url.rstrip("/") if base_url else None,
        max_attachment_bytes=_parse_size(r, max_att) if max_att else 10 * 1024 * 1024,
        message_gap=gap if gap is not None else MailConfig.message_gap,
    )

    checkins = _read_checkins(r, table("checkins"), cohort.timezone)
    digest = _read_digest(r, table("digest"))
    prompts = _read_prompts(r, data.get("prompts", []), checkins)
    polls = read_polls(r, _each_table(r, data.get("polls", []), "polls"), checkins, cohort.timezone)
    participants = _read_participants(r, data.get("participants", []), cohort.timezone, mail.address)
    smtp = _read_server(r, table("smtp"), "smtp", require_secrets, ("starttls", "tls", "none"), 587)
    imap_base = _read_server(r, table("imap"), "imap", require_secrets, ("tls", "starttls", "none"), 993)
    i = data.get("imap", {}) if isinstance(data.get("imap"), dict) else {}
    poll = r.get(i, "imap", "poll_interval", (int, float), required=False, default=60.0)
    imap = ImapConfig(
        **{k: getattr(imap_base, k) for k in ("host", "port", "security", "username",
                                              "password_env", "timeout", "ca_file", "tls_verify")},
        mailbox=r.get(i, "imap", "mailbox", str, required=False, default="INBOX"),
        poll_interval=float(poll),
    )

    db = table("database")
    url = r.get(db, "database", "url", str, required=False, default="sqlite://circleback.sqlite3")
    database_url = _resolve_db_url(r, url, base_dir if base_dir is not None else path.parent)

    h = table("http")
    listen = r.get(h, "http", "listen", str, required=False, example='"127.0.0.1:8025"')
    if listen is not None and not re.match(r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$", listen):
        r.problem("http.listen", f"\"{listen}\" is not host:port", 'write e.g. "127.0.0.1:8025"')
        listen = None

    d = table("daemon")
    lease = r.duration(r.get(d, "daemon", "lease", str, required=False, example='"30s"'), "daemon.lease")
    if lease is not None and not LEASE_MIN <= lease <= LEASE_MAX:
        r.problem("daemon.lease", "should be between 5 seconds and 10 minutes",
                  'write e.g. `lease = "30s"` (or leave it out: 30 seconds)')
        lease = None

    if r.problems:
        raise ConfigError(r.problems)
    return Config(path=path, cohort=cohort, facilitator=facilitator, mail=mail, checkins=checkins,
                  digest=digest, prompts=prompts, participants=participants, smtp=smtp, imap=imap,
                  database_url=database_url, http_listen=listen,
                  lease_seconds=(lease or LEASE_DEFAULT).total_seconds(), polls=polls)


def _parse_size(r: _Reader, text: str) -> int:
    m = re.match(r"^\s*(\d+)\s*(b|kb|mb|gb)?\s*$", text.lower())
    if not m:
        r.problem("mail.max_attachment_size", f"\"{text}\" is not a size", "write e.g. \"10MB\"")
        return 0
    return int(m.group(1)) * {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3}[m.group(2) or "b"]


def _read_checkins(r: _Reader, t: Mapping[str, Any], tz: str) -> CheckinsConfig:
    first_raw = r.get(t, "checkins", "first", (datetime, str), example="2026-12-01T12:00:00")
    first: datetime | None = None
    if isinstance(first_raw, str):
        try:
            first_raw = datetime.fromisoformat(first_raw)
        except ValueError:
            r.problem("checkins.first", f"\"{first_raw}\" is not a date-time",
                      "write it unquoted like `first = 2026-12-01T12:00:00` (local time)")
            first_raw = None
    if isinstance(first_raw, datetime):
        if first_raw.tzinfo is not None:
            r.problem("checkins.first", "has a UTC offset",
                      "write the local time without offset; the zone is cohort.timezone")
        first = first_raw.replace(tzinfo=ZoneInfo(tz))
        # A wall-clock time that does not exist (skipped by a DST change) is a mistake.
        roundtrip = first.astimezone(ZoneInfo("UTC")).astimezone(ZoneInfo(tz))
        if roundtrip.replace(tzinfo=None) != first_raw.replace(tzinfo=None):
            r.problem("checkins.first", f"{first_raw} does not exist in {tz} (a DST change skips it)",
                      "pick another time of day")
    every = r.get(t, "checkins", "every", str, required=False)
    rrule_text = r.get(t, "checkins", "rrule", str, required=False)
    count = r.get(t, "checkins", "count", int, required=False)
    if count is not None and not 1 <= count <= 500:
        r.problem("checkins.count", f"{count} is out of range", "use a number from 1 to 500")
        count = None
    rrule = ""
    if every and rrule_text:
        r.problem("checkins.rrule", "is given together with `every`", "keep one of the two")
    elif every:
        delta = r.duration(every, "checkins.every")
        if delta is not None:
            rrule = _rrule_from_every(r, delta, count)
    elif rrule_text:
        rrule = rrule_text.strip().removeprefix("RRULE:")
        if count is not None and "COUNT=" not in rrule.upper() and "UNTIL=" not in rrule.upper():
            rrule += f";COUNT={count}"
        if "COUNT=" not in rrule.upper() and "UNTIL=" not in rrule.upper():
            r.problem("checkins.rrule", "has no end", "add COUNT=N to the rule or `count = N`")
        elif first is not None:
            try:
                rrulestr(rrule, dtstart=first.replace(tzinfo=None))
            except (ValueError, TypeError) as exc:
                r.problem("checkins.rrule", f"\"{rrule_text}\" is not a valid RRULE ({exc})",
                          "write it like \"FREQ=WEEKLY;BYDAY=TU;COUNT=6\"")
    else:
        r.problem("checkins", "has neither `every` nor `rrule`",
                  'add `every = "1w"` (with `count = 6`) or `rrule = "FREQ=WEEKLY;COUNT=6"`')
    duration = r.duration(r.get(t, "checkins", "duration", str, example='"45m"'), "checkins.duration")
    prompt_before = r.duration(r.get(t, "checkins", "prompt_before", str, required=False,
                                     default="2d"), "checkins.prompt_before")
    remind_before = r.duration(r.get(t, "checkins", "remind_before", str, required=False),
                               "checkins.remind_before")
    if duration is not None and not timedelta(minutes=5) <= duration <= timedelta(hours=12):
        r.problem("checkins.duration", "should be between 5 minutes and 12 hours", 'e.g. "45m"')
    if prompt_before is not None and remind_before is not None and remind_before >= prompt_before:
        r.problem("checkins.remind_before", "is not after the prompt",
                  "make remind_before shorter than prompt_before (e.g. prompt 2d, remind 1d)")
    location = r.get(t, "checkins", "location", str, example='"https://meet.example.org/room"')
    if location is not None and any(ord(ch) < 32 or ord(ch) == 127 for ch in location):
        # It goes into every invitation's LOCATION and the emails' "Where:" line.
        r.problem("checkins.location", "contains a line break or a control character",
                  'write the link or place on one line, e.g. "https://meet.example.org/room"')
        location = None
    cancelled = r.get(t, "checkins", "cancelled", list, required=False, default=[], example="[3]")
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in cancelled):
        r.problem("checkins.cancelled", f"{cancelled!r} is not a list of check-in numbers",
                  "write e.g. `cancelled = [3, 5]` (numbers count from 1)")
        cancelled = []
    moved = _read_moved(r, t.get("moved", []), tz)
    for m in moved:
        if m.checkin in cancelled:
            r.problem("checkins.moved", f"check-in {m.checkin} is both moved and cancelled",
                      "keep one of the two")
    cancel_series = r.get(t, "checkins", "cancel_series", bool, required=False, default=False)
    return CheckinsConfig(
        first=first or datetime(2000, 1, 1, tzinfo=ZoneInfo("UTC")),
        rrule=rrule, every=every, count=count,
        duration=duration or timedelta(minutes=45),
        location=location or "",
        prompt_before=prompt_before or timedelta(days=2),
        remind_before=remind_before,
        title=r.get(t, "checkins", "title", str, required=False) or "",
        cancelled=tuple(sorted(set(cancelled))), moved=moved, cancel_series=cancel_series,
    )


def _read_moved(r: _Reader, items: Any, tz: str) -> tuple[MovedCheckin, ...]:
    out: dict[int, MovedCheckin] = {}
    for where, item in _each_table(r, items, "checkins.moved"):
        number = r.get(item, where, "checkin", int, example="3")
        start = r.get(item, where, "start", (datetime, str), example="2026-12-17T15:00:00")
        if isinstance(start, str):
            try:
                start = datetime.fromisoformat(start)
            except ValueError:
                r.problem(f"{where}.start", f"\"{start}\" is not a date-time",
                          "write it unquoted like `start = 2026-12-17T15:00:00` (local time)")
                continue
        if number is None or not isinstance(start, datetime):
            continue
        if number < 1 or number in out:
            r.problem(f"{where}.checkin", f"{number} is not a new check-in number here",
                      "give each moved check-in once, counting from 1")
            continue
        out[number] = MovedCheckin(number, start.replace(tzinfo=ZoneInfo(tz)))
    return tuple(sorted(out.values(), key=lambda m: m.checkin))

def _rrule_from_every(r: _Reader, delta: timedelta, count: int | None) -> str:
    if count is None:
        r.problem("checkins.count", "is missing", "add `count = 6` (how many check-ins)")
        count = 1
    days = delta.days
    if delta.seconds or days < 1:
        r.problem("checkins.every", "is shorter than a day or not whole days", 'use "1d", "1w", "2w"')
        return ""
    if days % 7 == 0:
        return f"FREQ=WEEKLY;INTERVAL={days // 7};COUNT={count}"
    return f"FREQ=DAILY;INTERVAL={days};COUNT={count}"


def _read_digest(r: _Reader, t: Mapping[str, Any]) -> DigestConfig:
    weekday_name = r.get(t, "digest", "weekday", str, required=False, default="friday")
    weekday = 4
    if weekday_name.lower() in WEEKDAYS:
        weekday = WEEKDAYS.index(weekday_name.lower())
    else:
        close = difflib.get_close_matches(weekday_name.lower(), WEEKDAYS, n=1)
        r.problem("digest.weekday", f"\"{weekday_name}\" is not a weekday",
                  f"did you mean \"{close[0]}\"?" if close else 'write e.g. "friday"')
    raw_time = r.get(t, "digest", "time", (str, time), required=False, default="09:00")
    at = time(9, 0)
    if isinstance(raw_time, time):
        at = raw_time
    else:
        try:
            at = time.fromisoformat(raw_time)
        except ValueError:
            r.problem("digest.time", f"\"{raw_time}\" is not a time of day", 'write e.g. "09:00"')
    quiet = r.get(t, "digest", "quiet_week_note", bool, required=False, default=False)
    local = r.get(t, "digest", "local_time", bool, required=False, default=False)
    return DigestConfig(weekday=weekday, time=at, quiet_week_note=quiet, local_time=local)


def _each_table(r: _Reader, items: Any, name: str) -> list[tuple[str, Mapping[str, Any]]]:
    if not isinstance(items, list):
        r.problem(name, "should be a list of tables", f"write each entry as [[{name}]]")
        return []
    out: list[tuple[str, Mapping[str, Any]]] = []
    for n, item in enumerate(items, start=1):
        where = f"{name}[{n}]"
        if not isinstance(item, dict):
            r.problem(where, "should be a table", f"write it as [[{name}]] with keys below it")
            continue
        r.unknown_keys(item, where, SECTIONS[name])
        out.append((where, item))
    return out


def _read_prompts(r: _Reader, items: Any, checkins: CheckinsConfig) -> tuple[PromptConfig, ...]:
    prompts: dict[int, PromptConfig] = {}
    for where, item in _each_table(r, items, "prompts"):
        number = r.get(item, where, "checkin", int, example="1")
        text = r.get(item, where, "text", str, example='"What is one goal ...?"')
        if number is None or text is None:
            continue
        if number < 1:
            r.problem(f"{where}.checkin", f"{number} is not a check-in number", "count from 1")
        elif checkins.count is not None and number > checkins.count:
            r.problem(f"{where}.checkin", f"check-in {number} does not exist",
                      f"there are {checkins.count} check-ins; use 1 to {checkins.count}")
        elif number in prompts:
            r.problem(f"{where}.checkin", f"check-in {number} has two prompts", "keep one")
        elif not text.strip():
            r.problem(f"{where}.text", "is empty", "write the question for that check-in")
        else:
            prompts[number] = PromptConfig(number, text.strip())
    return tuple(sorted(prompts.values(), key=lambda p: p.checkin))


def _read_participants(
    r: _Reader, items: Any, cohort_tz: str, own_address: str | None
) -> tuple[ParticipantConfig, ...]:
    seen: set[str] = set()
    out = []
    for where, item in _each_table(r, items, "participants"):
        name = r.get(item, where, "name", str, example='"Alice Example"')
        email = r.email(r.get(item, where, "email", str, example='"alice@example.com"'), f"{where}.email")
        tz = r.timezone(r.get(item, where, "timezone", str, required=False), f"{where}.timezone")
        if email is None or name is None:
            continue
        if email in seen:
            r.problem(f"{where}.email", f"{email} is listed twice", "remove one of the entries")
            continue
        if own_address and email == own_address:
            r.problem(f"{where}.email", "is the cohort's own address",
                      "participants need their own address (this would mail itself in a loop)")
            continue
        seen.add(email)
        out.append(ParticipantConfig(name=name.strip(), email=email, timezone=tz or cohort_tz))
    if not out and not any(p.key.startswith("participants") for p in r.problems):
        r.problem("participants", "no participants are listed",
                  'add at least one [[participants]] table with name and email')
    return tuple(out)


def _read_server(
    r: _Reader, t: Mapping[str, Any], section: str, require_secrets: bool,
    securities: tuple[str, ...], default_port: int,
) -> ServerConfig:
    host = r.get(t, section, "host", str, example='"mail.example.org"') or ""
    security = r.get(t, section, "security", str, required=False, default=securities[0])
    if security not in securities:
        r.problem(f"{section}.security", f"\"{security}\" is not one of {', '.join(securities)}",
                  f"write security = \"{securities[0]}\"")
    port = r.get(t, section, "port", int, required=False, example=str(default_port),
                 default={"tls": 465 if section == "smtp" else 993,
                          "starttls": 587 if section == "smtp" else 143,
                          "none": 25 if section == "smtp" else 143}.get(security, default_port))
    if port is not None and not 1 <= port <= 65535:
        r.problem(f"{section}.port", f"{port} is not a port", "use a number from 1 to 65535")
    username = r.get(t, section, "username", str, required=section == "imap",
                     example='"circle@example.org"')
    password_env = r.get(t, section, "password_env", str, required=False)
    if username and not password_env:
        r.problem(f"{section}.password_env", "is missing (there is a username)",
                  f'add password_env = "CIRCLEBACK_{section.upper()}_PASSWORD" and export that '
                  "variable; passwords never go in the config file")
    if password_env and require_secrets and os.environ.get(password_env) is None:
        r.problem(f"{section}.password_env", f"the environment variable {password_env} is not set",
                  f"export {password_env}=... before starting circleback")
    timeout = r.get(t, section, "timeout", (int, float), required=False, default=30.0)
    ca_file = r.get(t, section, "ca_file", str, required=False)
    if ca_file is not None and not Path(ca_file).is_file():
        r.problem(f"{section}.ca_file", f"{ca_file} is not a readable file",
                  "give the path of the PEM file of the CA that signed the server's certificate")
        ca_file = None
    tls_verify = r.get(t, section, "tls_verify", bool, required=False, default=True)
    return ServerConfig(host=host, port=port or default_port, security=security,
                        username=username, password_env=password_env, timeout=float(timeout),
                        ca_file=ca_file, tls_verify=tls_verify)


def _resolve_db_url(r: _Reader, url: str, config_dir: Path) -> str:
    """Relative SQLite paths are relative to the config file's folder (a deployment's
    folder), not to the working directory, or to $CIRCLEBACK_DATA_DIR when set (the Docker
    image sets it to its /data volume)."""
    if url.startswith("sqlite://"):
        target = url.removeprefix("sqlite://")
        if target != ":memory:" and not Path(target).is_absolute():
            base = Path(os.environ.get("CIRCLEBACK_DATA_DIR") or config_dir)
            target = str((base / target).resolve())
        return f"sqlite://{target}"
    if url.startswith(("postgres://", "postgresql://", "asyncpg://")):
        return url
    r.problem("database.url", f"\"{url}\" is not a supported database URL",
              'use "sqlite://circleback.sqlite3" or "postgres://user:pass@host:5432/db"')
    return url
