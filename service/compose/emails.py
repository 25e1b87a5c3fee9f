"""Pure rendering of every email circleback sends, from templates/ with jinja2.

Plain data in, `email.message.EmailMessage` out; the only I/O is reading
templates. Each email NAME has ``NAME.txt.j2`` and ``NAME.html.j2``; the HTML
is autoescaped, so participants' words are data and never template source.
Headers and the MIME layout live in `service.compose.mime`.

Every time shown to a recipient is converted to the recipient's own zone and
names that zone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from email.message import EmailMessage
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeAlias, get_args

import jinja2

from service.compose.localtime import format_local, format_local_range, long_day, short_date, short_day
from service.compose.mime import Envelope, attach_calendar, mailbox, new_message, one_line, set_bodies
from service.compose.templating import new_environment
from service.compose.texts import (
    STORY_TEXT_LIMIT,
    URL_LABEL_LIMIT,
    first_name,
    is_web_url,
    join_names,
    plain_lines,
    sanitize_html,
    shorten_story,
    text_html,
    url_label,
)
from service.core.series import ChangeKey
from service.paths import shared_dir

__all__ = [
    "STORY_TEXT_LIMIT",
    "URL_LABEL_LIMIT",
    "Ack",
    "AckWord",
    "BounceNotice",
    "BouncingAddress",
    "ChangeKey",
    "CheckinView",
    "CounterNotice",
    "Decline",
    "DigestView",
    "Envelope",
    "FacilitatorSection",
    "Notice",
    "Pause",
    "PollView",
    "PrivateStory",
    "Recipient",
    "RefusedAddress",
    "ResourceView",
    "RoundWish",
    "Sender",
    "Skip",
    "StoryView",
    "Stranger",
    "UncountedRsvpNotice",
    "calendar_event_text",
    "compose_control_ack",
    "compose_digest",
    "compose_invite",
    "compose_new_mail_answer",
    "compose_notice",
    "compose_prompt",
    "default_question",
    "format_local",
    "format_local_range",
    "is_web_url",
    "sanitize_html",
    "shorten_story",
    "templates_dir",
    "text_html",
    "url_label",
]


@dataclass(frozen=True)
class Sender:
    address: str  # the cohort address, circle@example.org
    display_name: str


@dataclass(frozen=True)
class Recipient:
    name: str
    email: str
    timezone: str  # IANA name
    reply_address: str  # circle+TOKEN@example.org


@dataclass(frozen=True)
class CheckinView:
    number: int  # 1-based
    start: datetime  # aware
    end: datetime  # aware
    location: str  # a URL or a place


@dataclass(frozen=True)
class StoryView:
    participant_name: str
    checkin_number: int | None
    text: str  # plain text, already trimmed
    received_at: datetime
    found_useful: int = 0  # how many participants sent its +1
    plus_one: str | None = None  # this reader's +1 address for it (None: none offered)
    updated: bool = False  # grown by a second reply or an edit since it was first shared


@dataclass(frozen=True)
class PollView:
    """A poll ([[polls]]): in a prompt (``counts`` empty), or its tally in a digest."""

    question: str
    options: tuple[str, ...]
    closes: datetime  # aware
    counts: tuple[int, ...] = ()  # votes per option, in the options' order
    closed: bool = False

    @property
    def voters(self) -> int:
        return sum(self.counts)


@dataclass(frozen=True)
class ResourceView:
    url: str
    title: str
    shared_by: str


@dataclass(frozen=True)
class DigestView:
    cohort_name: str
    period_start: datetime
    period_end: datetime
    stories: tuple[StoryView, ...]
    resources: tuple[ResourceView, ...]
    next_checkin: CheckinView | None
    next_prompt: str | None
    accepted: tuple[str, ...]  # names of those who accepted the next check-in
    # earlier stories that got a +1 since the last digest (with found_useful)
    appreciated: tuple[StoryView, ...] = ()
    polls: tuple[PollView, ...] = ()  # tallies: closed ones (and, for the facilitator, open ones)


@dataclass(frozen=True)
class Decline:
    """A participant declined the invitation (or one check-in), with their calendar comment."""

    name: str
    comment: str | None = None
    checkin: int | None = None  # the check-in they declined; None: the whole series


@dataclass(frozen=True)
class Skip:
    """A participant replied "skip" for one check-in."""

    name: str
    checkin: int


@dataclass(frozen=True)
class Pause:
    """A participant replied "pause": no prompts or digests until a day (None: until they
    reply "resume")."""

    name: str
    until: date | None = None


@dataclass(frozen=True)
class RefusedAddress:
    """An address the mail server refused for good (a 5xx to RCPT): nothing reaches it."""

    name: str  # the participant's; "" when it is no participant's (the facilitator's own)
    email: str


@dataclass(frozen=True)
class RoundWish:
    """A participant's answer to "what next?" at the end of a round."""

    name: str
    wish: Literal["another-round", "wrap-up"]


@dataclass(frozen=True)
class PrivateStory:
    """A story sent with "private": for the facilitator's eyes only, shown in full."""

    name: str
    text: str  # plain text, as stored


@dataclass(frozen=True)
class BouncingAddress:
    """A participant whose mail bounces."""

    name: str
    email: str
    state: str  # "soft" (bounced for now, still mailed) or "hard" (no longer mailed)


@dataclass(frozen=True)
class Stranger:
    """Someone outside the circle who wrote to the cohort address."""

    address: str  # their From address; "" when the message had none
    subject: str


@dataclass(frozen=True)
class FacilitatorSection:
    """The part of the digest only the facilitator sees, as facts; the templates word them."""

    quiet: tuple[str, ...] = ()  # names of participants who have gone quiet
    bounces: tuple[BouncingAddress, ...] = ()
    strangers: tuple[Stranger, ...] = ()
    declines: tuple[Decline, ...] = ()
    counters: tuple[str, ...] = ()  # senders who proposed another time (COUNTER)
    unreadable: int = 0  # messages that could not be used (in circleback/needs-attention)
    rounds: tuple[RoundWish, ...] = ()
    private_stories: tuple[PrivateStory, ...] = ()
    awaiting_consent: tuple[str, ...] = ()  # names of those who have not said "share" yet
    skips: tuple[Skip, ...] = ()  # said "skip" in the digest's period
    pauses: tuple[Pause, ...] = ()  # said "pause" in the period (and still paused)
    stops: tuple[str, ...] = ()  # names of those who said "stop" or unsubscribed in the period
    refused: tuple[RefusedAddress, ...] = ()  # refused for good, and not delivered to since

    @property
    def empty(self) -> bool:
        """True when nothing needs the facilitator's attention."""
        return not (
            self.quiet or self.bounces or self.strangers or self.declines
            or self.counters or self.unreadable or self.rounds or self.private_stories
            or self.awaiting_consent or self.news
        )

    @property
    def news(self) -> bool:
        """Something the facilitator was promised to hear of happened (or an address is
        refused): worth the facilitator's copy even in a week nobody shared a story."""
        return bool(
            self.strangers or self.declines or self.counters or self.unreadable or self.rounds
            or self.private_stories or self.skips or self.pauses or self.stops or self.refused
        )


# --- short confirmations and notices ------------------------------------------

AckWord: TypeAlias = Literal[
    "skip", "pause", "resume", "stop", "private", "share", "another-round", "wrap-up", "empty-reply"
]


@dataclass(frozen=True)
class Ack:
    """What a participant's reply made happen, for `compose_control_ack` to confirm.

    `word` is the control word acted on, or "empty-reply" for a reply with no text that
    could be kept. `checkin` is the check-in a "skip" applies to; `until` the day a
    "pause" ends (None: until they reply "resume").
    """

    word: AckWord
    checkin: int | None = None
    until: date | None = None


@dataclass(frozen=True)
class BounceNotice:
    """Tells the facilitator that mail to a participant now bounces for good."""

    kind: ClassVar[str] = "bounce"
    name: str
    email: str
    reason: str  # the classifier's reason, e.g. "5.1.1 user unknown"


@dataclass(frozen=True)
class CounterNotice:
    """Tells the facilitator that someone proposed another time (an iTIP COUNTER).

    Times are aware datetimes; the template shows them in the facilitator's zone.
    """

    kind: ClassVar[str] = "counter"
    sender: str  # their address; "" when unknown
    proposed_start: datetime | None
    occurrence: datetime | None  # the check-in it is about; None: the series
    comment: str | None = None


@dataclass(frozen=True)
class UncountedRsvpNotice:
    """Tells the facilitator that a calendar answer was not counted (and why)."""

    kind: ClassVar[str] = "uncounted-rsvp"
    sender: str  # their address; "" when unknown
    reason: str


Notice: TypeAlias = BounceNotice | CounterNotice | UncountedRsvpNotice


# --- templates ------------------------------------------------------------


def templates_dir() -> Path:
    """$CIRCLEBACK_TEMPLATES, else the checkout's templates/, else the installed copy."""
    return shared_dir("templates")


@lru_cache(maxsize=4)
def _environment(directory: Path) -> jinja2.Environment:
    env = new_environment(directory)
    env.filters["local"] = format_local
    env.filters["local_range"] = lambda c, tz: format_local_range(c.start, c.end, tz)
    env.filters["short_date"] = short_date
    env.filters["long_day"] = long_day
    env.filters["short_day"] = short_day
    env.filters["one_line"] = one_line
    env.filters["join_names"] = join_names
    env.filters["shorten_story"] = shorten_story
    return env


def _render(name: str, context: dict[str, Any]) -> tuple[str, str]:
    env = _environment(templates_dir())
    text = env.get_template(f"{name}.txt.j2").render(context)
    html = env.get_template(f"{name}.html.j2").render(context)
    return text, html


def _subject(email: str, **arguments: Any) -> str:
    """The Subject of `email`: macro `email` of templates/_subjects.j2, on one line.

    `one_line` makes CR, LF and the other controls spaces, whatever the template or the
    data inside it say, so a subject can never add a header.
    """
    module = _environment(templates_dir()).get_template("_subjects.j2").module
    return one_line(str(getattr(module, email)(**arguments)))


def test_copy_subject(subject: str) -> str:
    """`subject` marked as a test copy (``circleback preview --send-test``)."""
    return _subject("test_copy", subject=subject)


def default_question(number: int) -> str:
    """The question for check-in `number` when the config gives none (templates/_questions.j2)."""
    module: Any = _environment(templates_dir()).get_template("_questions.j2").module
    return one_line(str(module.default(number=number)))


def _calendar_words() -> Any:
    """The macros of templates/_calendar.j2 (every, changes, summary, description)."""
    return _environment(templates_dir()).get_template("_calendar.j2").module


def _unsubscribe_link(envelope: Envelope) -> str | None:
    if envelope.unsubscribe_url and is_web_url(envelope.unsubscribe_url):
        return envelope.unsubscribe_url
    if envelope.unsubscribe_mailto:
        mailto = envelope.unsubscribe_mailto.strip()
        return mailto if mailto.lower().startswith("mailto:") else "mailto:" + mailto
    return None


def _context(
    sender: Sender, recipient: Recipient, subject: str, envelope: Envelope, **extra: Any
) -> dict[str, Any]:
    return {
        "sender": sender,
        "recipient": recipient,
        "first_name": first_name(recipient.name),
        "tz": recipient.timezone,
        "subject": subject,
        "unsubscribe": _unsubscribe_link(envelope),
        **extra,
    }


# --- the calendar event -----------------------------------------------------


def calendar_event_text(cohort_name: str, title: str, location: str, question: str) -> tuple[str, str]:
    """The SUMMARY and DESCRIPTION of the check-in event, as calendar clients show them.

    A non-empty `title` (the config's ``[checkins] title``) is the SUMMARY as it is; else
    macro `summary` of templates/_calendar.j2 words it from `cohort_name`. Either is put on
    one line. The DESCRIPTION (macro `description`: the `question` each prompt asks and
    where to join, `location`) is plain text with LF line breaks and no other control
    characters, for an iCalendar TEXT value; the calendar writer escapes the rest.
    """
    words = _calendar_words()
    summary = title if title.strip() else str(words.summary(cohort_name=cohort_name))
    description = str(words.description(question=question, location=location))
    return one_line(summary), plain_lines(description)


# --- the emails -----------------------------------------------------------

_CHANGE_KEYS: frozenset[str] = frozenset(get_args(ChangeKey))


def compose_invite(
    *,
    sender: Sender,
    recipient: Recipient,
    cohort_name: str,
    facilitator_name: str,
    checkins: Sequence[CheckinView],
    every_days: int | None,
    ics: bytes,
    method: str,
    envelope: Envelope,
    now: datetime,
    changes: Sequence[ChangeKey] = (),
) -> EmailMessage:
    """The invitation (method REQUEST) or cancellation (CANCEL) carrying `ics`.

    `every_days` is how often the check-ins come, in whole days (``[checkins] every``;
    None when an rrule sets the dates). `changes` are what an updated invitation changes,
    as keys (empty: a first invitation). templates/_calendar.j2 words both, for the
    subject and both parts.

    `checkins` are those the ics covers: the whole series for an invitation,
    the cancelled ones for a cancellation.
    """
    method = method.upper()
    if method not in ("REQUEST", "CANCEL"):
        raise ValueError(f"unsupported iTIP method {method!r}; expected REQUEST or CANCEL")
    if not checkins:
        raise ValueError("compose_invite needs at least one check-in")
    unknown = [key for key in changes if key not in _CHANGE_KEYS]
    if unknown:
        raise ValueError(f"unknown change key(s) {unknown!r}; expected some of {sorted(_CHANGE_KEYS)}")
    changes = tuple(dict.fromkeys(changes))  # each named once, in the order given
    first = checkins[0]
    tz = recipient.timezone
    if method == "REQUEST":
        name = "invite"
        subject = _subject(name, cohort_name=cohort_name, first=first, tz=tz, changes=changes)
    else:
        name = "cancel"
        subject = _subject(name, cohort_name=cohort_name, checkins=tuple(checkins), tz=tz)
    context = _context(
        sender,
        recipient,
        subject,
        envelope,
        cohort_name=cohort_name,
        facilitator_name=facilitator_name,
        checkins=tuple(checkins),
        first=first,
        every_days=every_days,
        changes=changes,
    )
    text, html = _render(name, context)
    msg = _message(sender, recipient, subject, envelope, now, cohort_name, calendar=True)
    attach_calendar(msg, text, html, ics, method)
    return msg


def compose_prompt(
    *,
    sender: Sender,
    recipient: Recipient,
    cohort_name: str,
    checkin: CheckinView,
    question: str,
    goal_reminder: str | None,
    envelope: Envelope,
    now: datetime,
    last: bool = False,
    needs_consent: bool = False,
    reminder: bool = False,
    poll: PollView | None = None,
) -> EmailMessage:
    """The question before a check-in, or with ``reminder`` the nudge to those who have not
    answered yet. ``goal_reminder`` is the participant's week-1 goal; ``poll`` the poll
    the prompt carries (answered on the reply's first line)."""
    name = "reminder" if reminder else "prompt"
    subject = _subject(name, cohort_name=cohort_name, checkin=checkin, tz=recipient.timezone)
    return _email(
        name, sender, recipient, subject, envelope, now, cohort_name, bulk=True,
        cohort_name=cohort_name,
        checkin=checkin,
        question=question,
        goal_reminder=goal_reminder.strip() if goal_reminder else None,
        last=last,
        needs_consent=needs_consent,
        poll=poll,
    )


# A digest this long opens with a table of contents (the HTML part only).
TOC_MIN_STORIES = 6
TOC_MIN_ITEMS = 11  # stories and resources together


def _is_long(view: DigestView) -> bool:
    return (
        len(view.stories) >= TOC_MIN_STORIES
        or len(view.stories) + len(view.resources) >= TOC_MIN_ITEMS
    )


def compose_digest(
    *,
    sender: Sender,
    recipient: Recipient,
    view: DigestView,
    envelope: Envelope,
    now: datetime,
    facilitator_section: FacilitatorSection | None = None,
) -> EmailMessage:
    """The weekly digest; `facilitator_section` only in the facilitator's copy.

    With no stories and no resources (sent only when the cohort asks for a
    quiet-week note) it reads as a short note rather than an empty digest. The
    text/plain part shortens stories longer than `STORY_TEXT_LIMIT`; the HTML
    part, which opens with a table of contents when the digest is long, has
    every story in full.
    """
    tz = recipient.timezone
    period = f"{short_date(view.period_start, tz)} – {short_date(view.period_end, tz)}"
    quiet_week = not view.stories and not view.resources
    subject = _subject("digest", cohort_name=view.cohort_name, period=period, quiet_week=quiet_week)
    return _email(
        "digest", sender, recipient, subject, envelope, now, view.cohort_name, bulk=True,
        view=view,
        period=period,
        facilitator=facilitator_section,
        quiet_week=quiet_week,
        contents=_is_long(view),
    )


def compose_control_ack(
    *,
    sender: Sender,
    recipient: Recipient,
    envelope: Envelope,
    now: datetime,
    ack: Ack,
    subject: str | None = None,
) -> EmailMessage:
    """A short confirmation to a participant of what their reply did (`ack`): skipped,
    paused until a day, private, stopped ... in the words of templates/_acks.j2.

    Pass `subject` as "Re: <the participant's subject>" where known: Gmail
    only threads a reply whose subject matches, References alone are not enough.
    Without it the subject comes from templates/_subjects.j2.
    """
    subject = subject or _subject("control_ack", ack=ack)
    return _email("control_ack", sender, recipient, subject, envelope, now, sender.display_name,
                  ack=ack)


def compose_notice(
    *,
    sender: Sender,
    recipient: Recipient,
    notice: Notice,
    envelope: Envelope,
    now: datetime,
) -> EmailMessage:
    """A short email to the facilitator (`recipient`) about `notice`: an address that
    bounces, a proposed new time, a calendar answer that was not counted.

    Subject and body come from templates (_subjects.j2, notice.*.j2 and _notices.j2);
    times are shown in the recipient's zone.
    """
    subject = _subject("notice", notice=notice, tz=recipient.timezone)
    return _email("notice", sender, recipient, subject, envelope, now, sender.display_name,
                  notice=notice)


def compose_new_mail_answer(
    *,
    sender: Sender,
    recipient: Recipient,
    cohort_name: str,
    text: str,
    their_subject: str,
    envelope: Envelope,
    now: datetime,
) -> EmailMessage:
    """The answer to a participant's new email (not a reply to ours), at their own
    address: nothing was shared; reply to this (their reply address) to share `text`,
    which it quotes, or what the reply says instead. Words in templates/new_mail.*.j2.

    `envelope.in_reply_to` is their email's Message-ID, so clients thread the answer.
    """
    subject = _subject("new_mail", their_subject=their_subject)
    return _email("new_mail", sender, recipient, subject, envelope, now, sender.display_name,
                  cohort_name=cohort_name, text=text)


def _email(name: str, sender: Sender, recipient: Recipient, subject: str, envelope: Envelope,
           now: datetime, list_name: str, *, bulk: bool = False, **extra: Any) -> EmailMessage:
    """Email `name` from its two templates (text and HTML), with its headers."""
    text, html = _render(name, _context(sender, recipient, subject, envelope, **extra))
    msg = _message(sender, recipient, subject, envelope, now, list_name, bulk=bulk)
    set_bodies(msg, text, html)
    return msg


def _message(
    sender: Sender,
    recipient: Recipient,
    subject: str,
    envelope: Envelope,
    now: datetime,
    list_name: str,
    *,
    bulk: bool = False,
    calendar: bool = False,
) -> EmailMessage:
    return new_message(
        sender=mailbox(sender.display_name, sender.address),
        to=mailbox(recipient.name, recipient.email),
        reply_to=recipient.reply_address,
        subject=subject,
        now=now,
        envelope=envelope,
        list_name=list_name,
        bulk=bulk,
        calendar=calendar,
    )
