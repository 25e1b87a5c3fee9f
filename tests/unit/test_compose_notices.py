"""Acknowledgements, the facilitator's notices and the digest's facilitator section: the
flows pass facts (service.compose dataclasses), the templates word them."""

from __future__ import annotations

import email
from datetime import UTC, date, datetime, timedelta
from email import policy
from email.message import EmailMessage
from typing import get_args

import pytest
from mailparts import html_of as _html
from mailparts import tags as _tags
from mailparts import text_of as _text

from service.compose import (
    Ack,
    AckWord,
    BounceNotice,
    BouncingAddress,
    CounterNotice,
    Decline,
    DigestView,
    Envelope,
    FacilitatorSection,
    Notice,
    Pause,
    PrivateStory,
    Recipient,
    RefusedAddress,
    RoundWish,
    Sender,
    Skip,
    StoryView,
    Stranger,
    UncountedRsvpNotice,
    compose_control_ack,
    compose_digest,
    compose_notice,
)
from service.compose.localtime import long_day, short_day

NOW = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
SENDER = Sender(address="circle@example.org", display_name="Orlando circle")
ALICE = Recipient("Alice Example", "alice@example.com", "America/New_York", "circle+tok3n@example.org")
HELEN = Recipient("Helen Facilitator", "helen@example.org", "Europe/Berlin", "circle+h3len@example.org")
ENVELOPE = Envelope(message_id="ack.1@circle.example.org", in_reply_to="their.1@mail.example.com")

# Participants' words that must stay words: never markup, never template source, never a header.
SCRIPT = "<script>alert(1)</script>"
BRACES = "{{ 7*7 }}"
HOSTILE = f"{SCRIPT} {BRACES} & <b>bold</b>"
CRLF_NAME = "Mallory\r\nBcc: evil@example.net"


def _subject(msg: EmailMessage) -> str:
    parsed = email.message_from_bytes(msg.as_bytes(), policy=policy.default)
    return str(parsed["Subject"]).strip()


def _assert_inert(msg: EmailMessage) -> None:
    """No participant's word became markup, template code or a header."""
    text, html = _text(msg), _html(msg)
    assert "<script" not in html.lower()
    assert "<b>" not in html
    assert not any(tag in ("script", "img") or any(a.startswith("on") for a in attrs)
                   for tag, attrs in _tags(html))
    assert "49" not in text and "49" not in html
    head = msg.as_bytes().split(b"\r\n\r\n", 1)[0]
    assert b"\nBcc:" not in head.replace(b"\r", b"\n")
    parsed = email.message_from_bytes(msg.as_bytes(), policy=policy.default)
    assert all(part["Bcc"] is None for part in parsed.walk())
    assert "\r" not in str(msg["Subject"]) and "\n" not in str(msg["Subject"])


def _ack(ack: Ack, **kwargs: object) -> EmailMessage:
    args: dict[str, object] = {"sender": SENDER, "recipient": ALICE, "ack": ack, "envelope": ENVELOPE,
                               "now": NOW}
    args.update(kwargs)
    return compose_control_ack(**args)  # type: ignore[arg-type]


def _notice(notice: Notice, recipient: Recipient = HELEN) -> EmailMessage:
    return compose_notice(sender=SENDER, recipient=recipient, notice=notice,
                          envelope=Envelope(message_id="notice.1@circle.example.org"), now=NOW)


# --- acknowledgements ---------------------------------------------------------------

# word -> (the Ack, what the body must say, the subject)
ACKS: dict[str, tuple[Ack, tuple[str, ...], str]] = {
    "skip": (Ack("skip", checkin=4), ("no reminders for check-in 4", "See you next time."),
             "Got it: no reminders for check-in 4"),
    "pause": (Ack("pause", until=date(2027, 1, 12)), ("Paused until Tuesday 12 January 2027.", "'resume'"),
              "Got it: paused until Tue 12 Jan"),
    "resume": (Ack("resume"), ("Welcome back: prompts start again with the next check-in.",),
               "Welcome back"),
    "stop": (Ack("stop"), ("You will get no more mail from this circle.", "Reply 'resume'"),
             "Got it: no more mail from this circle"),
    "private": (Ack("private"), ("goes to the facilitator only and stays out of the digest",),
                "Got it: your story stays with the facilitator"),
    "share": (Ack("share"), ("your stories will be in the circle's weekly digest", "'private'"),
              "Thank you: your stories will be in the digest"),
    "another-round": (Ack("another-round"), ("you'd like another round",),
                      "Got it: you'd like another round"),
    "wrap-up": (Ack("wrap-up"), ("Thank you for taking part in this round.",), "Thank you for taking part"),
    "empty-reply": (Ack("empty-reply"), ("no text in it that we could keep", "above the quoted part"),
                    "Your reply had no text we could keep"),
}


def test_every_ack_word_has_a_case() -> None:
    assert set(ACKS) == set(get_args(AckWord))


@pytest.mark.parametrize("word", sorted(ACKS))
def test_ack_says_what_happened_in_both_parts(word: str) -> None:
    ack, facts, subject = ACKS[word]
    msg = _ack(ack)
    text, html = _text(msg), _html(msg)
    for body in (text, html.replace("&#39;", "'")):
        assert "Hi Alice," in body
        for fact in facts:
            assert fact in body
        assert "Orlando circle" in body
    assert _subject(msg) == subject
    assert msg["In-Reply-To"] == "<their.1@mail.example.com>"
    assert msg["Precedence"] is None  # a personal answer, not list mail
    assert "<p" in html and "{%" not in text and "{{" not in text


def test_pause_without_an_end_and_skip_without_a_number() -> None:
    paused = _ack(Ack("pause"))
    assert "Paused. You will hear from us again when you reply 'resume'." in _text(paused)
    assert _subject(paused) == "Got it: paused"
    skipped = _ack(Ack("skip"))
    assert "no reminders for this check-in" in _text(skipped)
    assert _subject(skipped) == "Got it: no reminders for this check-in"


def test_empty_reply_is_two_paragraphs() -> None:
    html = _html(_ack(Ack("empty-reply")))
    assert html.count('<p style="margin:0 0 12px;">') == 4  # greeting, two paragraphs, signature


def test_ack_subject_can_follow_the_participants_thread() -> None:
    msg = _ack(Ack("skip", 2), subject=f"Re: My week {HOSTILE}\r\nBcc: evil@example.net")
    assert _subject(msg) == f"Re: My week {HOSTILE} Bcc: evil@example.net"
    _assert_inert(msg)
    assert "&lt;script&gt;" in _html(msg)  # the <title> and aria-label escape it


def test_ack_with_a_hostile_name_stays_inert() -> None:
    msg = _ack(Ack("share"), recipient=Recipient(CRLF_NAME, "m@example.com", "UTC", "circle+m@example.org"))
    _assert_inert(msg)
    assert "Hi Mallory," in _text(msg)


def test_an_unknown_word_is_still_acknowledged() -> None:
    msg = _ack(Ack("hold-on"))  # type: ignore[arg-type]
    # Nothing promises the facilitator sees a word circleback did not act on.
    assert "Noted: hold on." in _text(msg) and "facilitator" not in _text(msg)
    assert _subject(msg) == "Noted: hold on"


# --- the facilitator's notices ------------------------------------------------------


def test_bounce_notice() -> None:
    msg = _notice(BounceNotice("Kim Lee", "kim@bounce.example.com", "5.1.1 user unknown."))
    assert _subject(msg) == "Mail to Kim Lee <kim@bounce.example.com> bounces"
    text, html = _text(msg), _html(msg)
    assert "Hi Helen," in text
    assert ("Mail to Kim Lee <kim@bounce.example.com> bounced (5.1.1 user unknown). "
            "circleback has stopped mailing that address.") in text
    assert "Mail to Kim Lee &lt;kim@bounce.example.com&gt; bounced (5.1.1 user unknown)." in html
    for body in (text, html):
        assert "change it in the config and reload" in body
    assert msg["Precedence"] is None and msg["To"].addresses[0].addr_spec == "helen@example.org"


def test_counter_notice_shows_times_in_the_facilitators_zone() -> None:
    # 23:30 UTC on Tuesday 1 December is already Wednesday in Berlin.
    notice = CounterNotice(
        sender="bob@example.com",
        proposed_start=datetime(2026, 12, 2, 17, 0, tzinfo=UTC),
        occurrence=datetime(2026, 12, 1, 23, 30, tzinfo=UTC),
        comment="Wednesday suits me better",
    )
    msg = _notice(notice)
    assert _subject(msg) == "bob@example.com proposes another time for the check-in of Wed 2 Dec"
    text, html = _text(msg), _html(msg)
    for body in (text, html):
        assert ("bob@example.com proposed Wednesday 2 December 2026, 18:00 (Europe/Berlin) instead "
                "(for the check-in of Wed 2 Dec), saying: “Wednesday suits me better”.") in body
        assert "Nothing was changed." in body and "[[checkins.moved]]" in body
    in_new_york = _text(_notice(notice, recipient=ALICE))
    assert "Wednesday 2 December 2026, 12:00 (America/New_York)" in in_new_york
    assert "(for the check-in of Tue 1 Dec)" in in_new_york


def test_counter_notice_with_nothing_known() -> None:
    msg = _notice(CounterNotice(sender="", proposed_start=None, occurrence=None, comment="  "))
    assert _subject(msg) == "Someone proposes another time for a check-in"
    assert "Someone proposed another time instead." in _text(msg)
    assert "saying" not in _text(msg)


def test_uncounted_rsvp_notice() -> None:
    msg = _notice(UncountedRsvpNotice("stranger@example.net", "the sender is not a participant."))
    assert _subject(msg) == "A calendar answer from stranger@example.net was not counted"
    for body in (_text(msg), _html(msg)):
        assert ("A calendar reply from stranger@example.net was not counted: "
                "the sender is not a participant.") in body
        assert "circleback/needs-attention" in body
    unknown = _notice(UncountedRsvpNotice("", ""))
    assert _subject(unknown) == "A calendar answer from an unknown sender was not counted"
    assert "from an unknown sender was not counted: no reason given." in _text(unknown)


@pytest.mark.parametrize("notice", [
    BounceNotice(f"{CRLF_NAME} {HOSTILE}", "kim@example.com", HOSTILE),
    CounterNotice(f"{CRLF_NAME} {HOSTILE}", NOW, NOW, f"{HOSTILE}\r\nBcc: evil@example.net"),
    UncountedRsvpNotice(f"{CRLF_NAME} {HOSTILE}", HOSTILE),
], ids=["bounce", "counter", "uncounted-rsvp"])
def test_notices_keep_hostile_words_inert(notice: Notice) -> None:
    msg = _notice(notice)
    _assert_inert(msg)
    assert "Mallory Bcc: evil@example.net" in _subject(msg)
    assert SCRIPT in _text(msg) and BRACES in _text(msg)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in _html(msg) and BRACES in _html(msg)


# --- the digest's facilitator section -----------------------------------------------

VIEW = DigestView(
    cohort_name="Orlando",
    period_start=NOW - timedelta(days=7),
    period_end=NOW,
    stories=(StoryView("Bob Builder", 2, "We tried a retro.", NOW),),
    resources=(),
    next_checkin=None,
    next_prompt=None,
    accepted=(),
)
SECTION = FacilitatorSection(
    quiet=("Jonas Weber", "Kai Berg"),
    bounces=(BouncingAddress("Kim Lee", "kim@bounce.example.com", "hard"),
             BouncingAddress("Sam Soft", "sam@example.com", "soft")),
    strangers=(Stranger("who@else.example", "Re: hello there"), Stranger("", "")),
    declines=(Decline("Dana Okafor", "Travelling that week"), Decline("Eli Quiet"),
              Decline("Fay Later", "Dentist <3", 3)),
    counters=("bob@example.com",),
    unreadable=2,
    rounds=(RoundWish("Farah Haddad", "another-round"), RoundWish("Gus Lind", "wrap-up")),
    private_stories=(PrivateStory("Chandra Rao", "I am finding this hard.\n\nMore at https://example.org/x"),),
    awaiting_consent=("Hina T", "Ivan P", "Jo K"),
    skips=(Skip("Kai Berg", 2),),
    pauses=(Pause("Lena Ruiz", date(2027, 1, 12)), Pause("Max Open")),
    stops=("Nora Gone",),
    refused=(RefusedAddress("Omar Typo", "omar@exmaple.com"), RefusedAddress("", "helen@old.example")),
)

# Each field and the words that must carry it, in both parts.
FACTS = {
    "quiet": ["Gone quiet:", "Jonas Weber and Kai Berg."],
    "bounces": ["Mail bouncing:", "Kim Lee", "kim@bounce.example.com", "(hard bounce, no longer mailed)",
                "Sam Soft", "sam@example.com", "(soft bounce)"],
    "strangers": ["Wrote in but not in the circle:", "who@else.example (“Re: hello there”)", "no sender."],
    "declines": ["Dana Okafor declined: “Travelling that week”", "Eli Quiet declined",
                 "Fay Later declined check-in 3: “Dentist <3”"],
    "counters": ["bob@example.com proposed another time for a check-in (nothing was changed)"],
    "unreadable": ["2 messages could not be used; they are in the IMAP folder circleback/needs-attention"],
    "rounds": ["Farah Haddad would like another round", "Gus Lind is ready to wrap up"],
    "private_stories": ["Private from Chandra Rao:", "I am finding this hard.", "https://example.org/x"],
    "awaiting_consent": ["Not yet agreed to share their stories: Hina T, Ivan P and Jo K"],
    "skips": ["Kai Berg replied", "skip", "for check-in 2"],
    "pauses": ["Lena Ruiz paused: no prompts or digests until Tuesday 12 January 2027",
               "Max Open paused: no prompts or digests until they reply"],
    "stops": ["Nora Gone stopped: circleback sends them nothing more unless they reply"],
    "refused": ["Refused for good by the mail server:", "Omar Typo <omar@exmaple.com>",
                "helen@old.example.", "check the address in the config"],
}


def _facilitator_copy(section: FacilitatorSection) -> EmailMessage:
    return compose_digest(sender=SENDER, recipient=HELEN, view=VIEW, envelope=ENVELOPE, now=NOW,
                          facilitator_section=section)


def _for_you(msg: EmailMessage) -> tuple[str, str]:
    """The facilitator-only part of each body."""
    text, html = _text(msg), _html(msg)
    text = text[text.index("FOR YOU ONLY"):text.index("\n-- \n")]
    html = html[html.index('id="for-you"'):]
    return text, html[:html.index("</div>\n\n")]


def test_facts_cover_every_field() -> None:
    fields = set(FacilitatorSection.__dataclass_fields__) - {"notes"}
    assert set(FACTS) == fields


@pytest.mark.parametrize("field", sorted(FACTS))
def test_each_facilitator_field_is_in_both_parts(field: str) -> None:
    only = FacilitatorSection(**{field: getattr(SECTION, field)})  # type: ignore[arg-type]
    text, html = _for_you(_facilitator_copy(only))
    for fact in FACTS[field]:
        assert fact in text, (field, fact, text)
        assert fact in html.replace("&lt;", "<").replace("&gt;", ">"), (field, fact, html)
    for body in (text, html):
        assert "Nothing needs your attention this week." not in body


def test_whole_facilitator_section() -> None:
    text, html = _for_you(_facilitator_copy(SECTION))
    for facts in FACTS.values():
        for fact in facts:
            assert fact in text
    assert "Kim Lee &lt;kim@bounce.example.com&gt;" in html
    # The private story is shown like stories are: paragraphs, http(s) links only.
    story = html[html.index("Private from Chandra Rao"):]
    assert '<p style="margin:0 0 12px;">I am finding this hard.</p>' in story
    assert 'href="https://example.org/x"' in story
    assert "Private from Chandra Rao:\nI am finding this hard.\n\nMore at https://example.org/x" in text
    # Only the participants' copy leaves it all out.
    participant = compose_digest(sender=SENDER, recipient=ALICE, view=VIEW, envelope=ENVELOPE, now=NOW)
    for body in (_text(participant), _html(participant)):
        assert "Chandra Rao" not in body and "kim@bounce" not in body


def test_one_unreadable_message_is_singular() -> None:
    text, html = _for_you(_facilitator_copy(FacilitatorSection(unreadable=1)))
    for body in (text, html):
        assert "1 message could not be used; it is in the IMAP folder circleback/needs-attention" in body


def test_an_empty_section_says_so() -> None:
    assert FacilitatorSection().empty
    assert not FacilitatorSection(unreadable=1).empty
    for body in _for_you(_facilitator_copy(FacilitatorSection())):
        assert "Nothing needs your attention this week." in body


def test_long_stranger_subjects_are_cut_at_a_word() -> None:
    subject = "word " * 40
    text, _ = _for_you(_facilitator_copy(FacilitatorSection(strangers=(Stranger("x@example.com", subject),))))
    shown = text.split("(“", 1)[1].split("”)", 1)[0]
    assert shown.endswith("word…") and len(shown) <= 80


def test_facilitator_section_keeps_participants_words_inert() -> None:
    hostile = FacilitatorSection(
        quiet=(HOSTILE,),
        bounces=(BouncingAddress(CRLF_NAME + HOSTILE, f"{HOSTILE}@example.com", "hard"),),
        strangers=(Stranger(HOSTILE, f"{HOSTILE}\r\nBcc: evil@example.net"),),
        declines=(Decline(HOSTILE, HOSTILE),),
        counters=(HOSTILE,),
        rounds=(RoundWish(HOSTILE, "wrap-up"),),
        private_stories=(
            PrivateStory(HOSTILE, f"{HOSTILE}\n<img src=x onerror=alert(2)> javascript:alert(3)"),
        ),
        awaiting_consent=(HOSTILE,),
        skips=(Skip(HOSTILE, 1),),
        pauses=(Pause(HOSTILE),),
        stops=(HOSTILE,),
        refused=(RefusedAddress(HOSTILE, f"{HOSTILE}@example.com"),),
    )
    msg = _facilitator_copy(hostile)
    _assert_inert(msg)
    text, html = _for_you(msg)
    assert text.count(SCRIPT) >= 12 and text.count(BRACES) >= 12
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 12 and html.count(BRACES) >= 12
    assert "javascript:" not in "".join(str(a.get("href")) for _, a in _tags(html))
    assert "Mallory Bcc: evil@example.net" in text  # names and subjects shown on one line


def test_calendar_days_have_no_zone() -> None:
    assert long_day(date(2027, 1, 12)) == "Tuesday 12 January 2027"
    assert short_day(date(2027, 1, 12)) == "Tue 12 Jan"
    with pytest.raises(TypeError, match="datetime"):
        long_day(NOW)
    with pytest.raises(TypeError, match="datetime"):
        short_day(NOW)
