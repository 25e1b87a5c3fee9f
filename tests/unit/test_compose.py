"""Tests for service/compose.py (and the headers/MIME half in service/mime.py)."""

from __future__ import annotations

import email
import shutil
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import formataddr
from pathlib import Path

import pytest
from mailparts import html_of as _html
from mailparts import tags as _tags
from mailparts import text_of as _text

from service import compose
from service.compose import (
    STORY_TEXT_LIMIT,
    URL_LABEL_LIMIT,
    Ack,
    BounceNotice,
    BouncingAddress,
    CheckinView,
    DigestView,
    Envelope,
    FacilitatorSection,
    Recipient,
    ResourceView,
    RoundWish,
    Sender,
    StoryView,
    Stranger,
    compose_control_ack,
    compose_digest,
    compose_invite,
    compose_notice,
    compose_prompt,
    format_local,
    format_local_range,
    is_web_url,
    sanitize_html,
    shorten_story,
    url_label,
)

NOW = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
SENDER = Sender(address="circle@example.org", display_name="Orlando circle")
ALICE = Recipient(
    name="Alice Example",
    email="alice@example.com",
    timezone="America/New_York",
    reply_address="circle+tok3n@example.org",
)
# 17:00 UTC on 1 December 2026 is 12:00 EST in New York, 17:00 GMT in London.
CHECKIN = CheckinView(
    number=3,
    start=datetime(2026, 12, 1, 17, 0, tzinfo=UTC),
    end=datetime(2026, 12, 1, 17, 45, tzinfo=UTC),
    location="https://meet.example.org/orlando",
)
ENVELOPE = Envelope(
    message_id="digest.42@circle.example.org",
    list_id="orlando-2015.circle.example.org",
    unsubscribe_mailto="circle+tok3n@example.org?subject=stop",
    unsubscribe_url="https://circle.example.org/unsubscribe/tok3n",
)
ICS = (
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//circleback//EN\r\nMETHOD:REQUEST\r\n"
    b"BEGIN:VEVENT\r\nUID:orlando-2015@circle.example.org\r\nSUMMARY:Caf\xc3\xa9 check-in\r\n"
    b"END:VEVENT\r\nEND:VCALENDAR\r\n"
)
EVIL_STORY = (
    "We tried <script>alert(1)</script> and <img src=x onerror=alert(1)>.\n"
    "Also {{ 7*7 }} and javascript:alert(2)\n\n"
    "Notes: https://example.com/a/very/long/path/that/goes/on?and=on&for=ever"
)

# As templates/digest.txt.j2 says it.
FULL_STORY_NOTE = "… (the full story is in the HTML version of this email)"


def _hrefs(html: str) -> list[str]:
    return [attrs["href"] or "" for tag, attrs in _tags(html) if tag == "a" and "href" in attrs]


def _reparse(msg: EmailMessage) -> EmailMessage:
    parsed = email.message_from_bytes(msg.as_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _header(msg: EmailMessage, name: str) -> str:
    # When a value fits on a line of its own the stdlib folds right after the
    # colon ("Subject:\r\n Cancelled: ..."), and its parser then keeps the
    # folding space. Unfolded (RFC 5322 section 2.2.3) the header is the same.
    return str(msg[name]).strip()


def _view(**changes: object) -> DigestView:
    view = DigestView(
        cohort_name="Kick-start your social learning journey",
        period_start=NOW - timedelta(days=7),
        period_end=NOW,
        stories=(
            StoryView("Bob Builder", 2, EVIL_STORY, NOW - timedelta(days=2)),
            StoryView("Chandra Rao", None, "Asked my manager for feedback.", NOW),
        ),
        resources=(
            ResourceView("https://example.com/working-out-loud", "Working Out Loud", "Bob"),
            ResourceView("http://example.net/plain-http", "", "Chandra Rao"),
            ResourceView("javascript:alert(3)", "Totally safe link", "Mallory"),
        ),
        next_checkin=CHECKIN,
        next_prompt="What is one small thing you will try before we meet?",
        accepted=("Alice Example", "Bob Builder"),
    )
    return replace(view, **changes)  # type: ignore[arg-type]


def _digest(**kwargs: object) -> EmailMessage:
    args: dict[str, object] = {
        "sender": SENDER,
        "recipient": ALICE,
        "view": _view(),
        "envelope": ENVELOPE,
        "now": NOW,
    }
    args.update(kwargs)
    return compose_digest(**args)  # type: ignore[arg-type]


def _shifted(checkin: CheckinView, *, number: int, days: int) -> CheckinView:
    delta = timedelta(days=days)
    return replace(checkin, number=number, start=checkin.start + delta, end=checkin.end + delta)


def _invite(method: str = "REQUEST", ics: bytes = ICS, **kwargs: object) -> EmailMessage:
    args: dict[str, object] = {
        "sender": SENDER,
        "recipient": ALICE,
        "cohort_name": "Kick-start your social learning journey",
        "facilitator_name": "Helen",
        "checkins": (CHECKIN, _shifted(CHECKIN, number=4, days=14)),
        "every_days": 14,
        "ics": ics,
        "method": method,
        "envelope": Envelope(message_id="invite.1@circle.example.org"),
        "now": NOW,
    }
    args.update(kwargs)
    return compose_invite(**args)  # type: ignore[arg-type]


def _prompt(**kwargs: object) -> EmailMessage:
    args: dict[str, object] = {
        "sender": SENDER,
        "recipient": ALICE,
        "cohort_name": "Kick-start your social learning journey",
        "checkin": CHECKIN,
        "question": "What happened since last time?",
        "goal_reminder": "Blog once a week about what I learn",
        "envelope": ENVELOPE,
        "now": NOW,
    }
    args.update(kwargs)
    return compose_prompt(**args)  # type: ignore[arg-type]


# --- invite and cancel: MIME layout -----------------------------------------


def test_invite_mime_structure_matches_google_and_thunderbird() -> None:
    msg = _reparse(_invite())
    assert [part.get_content_type() for part in msg.walk()] == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "text/calendar",
        "application/ics",
    ]
    parts = list(msg.walk())
    calendar, attachment = parts[4], parts[5]
    assert calendar.get_param("method") == "REQUEST"
    assert str(calendar.get_param("charset")).upper() == "UTF-8"
    assert calendar.get_content_disposition() is None
    assert attachment.get_content_disposition() == "attachment"
    assert attachment.get_filename() == "invite.ics"
    assert attachment.get_param("name") == "invite.ics"
    assert calendar.get_payload(decode=True) == ICS
    assert attachment.get_payload(decode=True) == ICS
    # MIME-Version belongs on the top level only.
    assert [p["MIME-Version"] for p in parts[1:]] == [None] * 5


def test_invite_headers_let_calendar_clients_reply() -> None:
    msg = _invite()
    assert msg["X-Auto-Response-Suppress"] == "OOF, AutoReply"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Precedence"] is None
    assert msg["Message-ID"] == "<invite.1@circle.example.org>"
    assert msg["Subject"].startswith("Invitation: Kick-start your social learning journey")


def test_invite_lists_every_checkin_in_recipient_zone() -> None:
    msg = _invite()
    text, html = _text(msg), _html(msg)
    for body in (text, html):
        assert "Tuesday 1 December 2026, 12:00–12:45 EST (America/New_York)" in body
        assert "Tuesday 15 December 2026, 12:00–12:45 EST (America/New_York)" in body
        assert "every other week, 2 in all" in body
        assert "Helen" in body
    assert "https://meet.example.org/orlando" in _hrefs(html)


def test_cancel_uses_same_layout_and_cancel_wording() -> None:
    ics = ICS.replace(b"METHOD:REQUEST", b"METHOD:CANCEL")
    msg = _reparse(_invite(method="CANCEL", ics=ics, checkins=(CHECKIN,)))
    types = [part.get_content_type() for part in msg.walk()]
    assert types[2:] == ["text/plain", "text/html", "text/calendar", "application/ics"]
    assert list(msg.walk())[4].get_param("method") == "CANCEL"
    assert list(msg.walk())[4].get_payload(decode=True) == ics
    assert _header(msg, "Subject").startswith("Cancelled: ")
    assert "Check-in 3 of Kick-start your social learning journey is cancelled" in _text(msg)
    assert "12:00–12:45 EST (America/New_York)" in _text(msg)


def test_method_must_match_the_ics_body() -> None:
    with pytest.raises(ValueError, match="METHOD"):
        _invite(method="CANCEL")  # body says METHOD:REQUEST
    with pytest.raises(ValueError, match="unsupported"):
        _invite(method="PUBLISH")


# --- headers ------------------------------------------------------------------


def test_digest_headers() -> None:
    msg = _reparse(_digest())
    assert msg["From"] == formataddr(("Orlando circle", "circle@example.org"))
    assert msg["To"] == formataddr(("Alice Example", "alice@example.com"))
    assert msg["Reply-To"] == "circle+tok3n@example.org"
    assert msg["Date"] == "Fri, 27 Nov 2026 14:00:00 +0000"
    assert msg["Message-ID"] == "<digest.42@circle.example.org>"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["Precedence"] == "list"
    assert _header(msg, "List-Id") == (
        "Kick-start your social learning journey <orlando-2015.circle.example.org>"
    )
    assert msg["List-Unsubscribe"] == (
        "<mailto:circle+tok3n@example.org?subject=stop>, <https://circle.example.org/unsubscribe/tok3n>"
    )
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["Subject"].startswith("Kick-start your social learning journey: this week")
    assert msg.get_content_type() == "multipart/alternative"


def test_one_click_only_with_an_https_url() -> None:
    mailto_only = Envelope(message_id="a@b.org", unsubscribe_mailto="mailto:stop@example.org")
    msg = _digest(envelope=mailto_only)
    assert msg["List-Unsubscribe"] == "<mailto:stop@example.org>"
    assert msg["List-Unsubscribe-Post"] is None
    plain_http = replace(ENVELOPE, unsubscribe_url="http://circle.example.org/u")
    assert _digest(envelope=plain_http)["List-Unsubscribe-Post"] is None
    with pytest.raises(ValueError):
        _digest(envelope=replace(ENVELOPE, unsubscribe_url="javascript:alert(1)"))


def test_prompt_and_reminder_are_list_mail_ack_is_not() -> None:
    assert _prompt()["Precedence"] == "list"
    reminder = compose_prompt(
        sender=SENDER,
        recipient=ALICE,
        cohort_name="Orlando",
        checkin=CHECKIN,
        question="Anything?",
        goal_reminder=None,
        envelope=ENVELOPE,
        now=NOW,
        reminder=True,
    )
    assert reminder["Precedence"] == "list"
    assert str(reminder["Subject"]).startswith("Reminder: Orlando check-in")
    assert reminder["Subject"].startswith("Reminder: ")
    ack = compose_control_ack(
        sender=SENDER,
        recipient=ALICE,
        ack=Ack("pause", until=date(2027, 1, 12)),
        envelope=Envelope(message_id="ack.1@b.org", in_reply_to="<their.1@mail.com>"),
        now=NOW,
    )
    assert ack["Precedence"] is None
    assert ack["X-Auto-Response-Suppress"] == "All"
    assert ack["In-Reply-To"] == "<their.1@mail.com>"
    assert ack["References"] == "<their.1@mail.com>"
    assert "Paused until Tuesday 12 January 2027." in _text(ack)
    notice = compose_notice(
        sender=SENDER,
        recipient=ALICE,
        notice=BounceNotice("Bob", "bob@example.com", "5.1.1 user unknown"),
        envelope=Envelope(message_id="notice.1@b.org"),
        now=NOW,
    )
    assert notice["Precedence"] is None
    assert notice["X-Auto-Response-Suppress"] == "All"


def test_user_text_cannot_inject_headers() -> None:
    evil = "Mallory\r\nBcc: evil@x"
    recipient = replace(ALICE, name=evil)
    messages = [
        _prompt(recipient=recipient, cohort_name=evil),
        _digest(recipient=recipient, view=_view(cohort_name=evil)),
        _invite(recipient=recipient, cohort_name=evil),
        compose_control_ack(
            sender=replace(SENDER, display_name=evil),
            recipient=recipient,
            ack=Ack("stop"),
            envelope=ENVELOPE,
            now=NOW,
            subject="Re: " + evil,
        ),
        compose_control_ack(sender=SENDER, recipient=recipient, ack=Ack("private"), envelope=ENVELOPE,
                            now=NOW),
        compose_control_ack(
            sender=SENDER, recipient=recipient, ack=Ack("skip", 3), envelope=ENVELOPE, now=NOW
        ),
        compose_notice(
            sender=SENDER,
            recipient=recipient,
            notice=BounceNotice(evil, "bob@example.com", evil),
            envelope=ENVELOPE,
            now=NOW,
        ),
    ]
    for msg in messages:
        head = msg.as_bytes().split(b"\r\n\r\n", 1)[0]
        assert b"\nBcc:" not in head.replace(b"\r", b"\n")
        assert all(part["Bcc"] is None for part in _reparse(msg).walk())
        assert "\n" not in str(msg["Subject"]) and "\r" not in str(msg["Subject"])
        assert "Mallory Bcc: evil@x" in str(msg["To"])
    # And the policy itself refuses a raw line break, should anything slip past.
    with pytest.raises(ValueError):
        messages[0]["X-Test"] = "a\r\nBcc: evil@x"


def test_addresses_are_validated() -> None:
    with pytest.raises(ValueError):
        _prompt(recipient=replace(ALICE, email="alice@example.com\r\nBcc: evil@x"))
    with pytest.raises(ValueError):
        _prompt(recipient=replace(ALICE, reply_address="x@y.org, evil@x"))


def test_non_ascii_names_survive_the_round_trip() -> None:
    recipient = replace(ALICE, name="Zoë Øster, PhD")
    msg = _reparse(_prompt(recipient=recipient, cohort_name="Café circle"))
    assert msg["To"].addresses[0].display_name == "Zoë Øster, PhD"
    assert msg["To"].addresses[0].addr_spec == "alice@example.com"
    assert msg["Subject"].startswith("Café circle: ")
    assert "Hi Zoë," in _text(msg)


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError):
        _prompt(now=datetime(2026, 11, 27, 14, 0))


# --- digest content -----------------------------------------------------------


def test_story_markup_is_escaped_in_html() -> None:
    html = _html(_digest())
    tags = _tags(html)
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert not any("onerror" in attrs for _, attrs in tags)
    assert "img" not in [tag for tag, _ in tags]
    assert "{{ 7*7 }}" in html
    assert "49" not in html


def test_javascript_urls_are_never_links() -> None:
    msg = _digest()
    html = _html(msg)
    hrefs = _hrefs(html)
    assert hrefs, "the digest should contain links"
    assert all(href.startswith(("https://", "http://")) for href in hrefs)
    assert "javascript:alert(3)" in html  # shown as text
    assert "https://example.com/working-out-loud" in hrefs
    assert "http://example.net/plain-http" in hrefs
    assert "https://example.com/a/very/long/path/that/goes/on?and=on&for=ever" in hrefs
    assert "javascript:alert(3)" in _text(msg)


def test_text_part_contains_every_story_and_resource() -> None:
    view = _view()
    text = _text(_digest(view=view))
    for story in view.stories:
        assert story.participant_name in text
        assert story.text in text
    for resource in view.resources:
        assert resource.url in text
        assert f"shared by {resource.shared_by}" in text
    assert "Check-in 3: Tuesday 1 December 2026, 12:00–12:45 EST (America/New_York)" in text
    assert "Coming so far: Alice Example and Bob Builder." in text
    assert view.next_prompt is not None and view.next_prompt in text
    assert "pause 2w" in text and "stop" in text
    assert "https://circle.example.org/unsubscribe/tok3n" in text


def test_digest_html_shape() -> None:
    html = _html(_digest())
    tags = [tag for tag, _ in _tags(html)]
    assert tags.count("h1") == 1
    assert "h2" in tags and "h3" in tags
    assert '<meta name="color-scheme" content="light dark">' in html
    assert "max-width:600px" in html
    assert "overflow-wrap:anywhere" in html
    assert "<style" not in html  # inline CSS only
    # No fixed width wider than a 375px phone outside Outlook's conditional table.
    outside_mso = html.split("<![endif]-->", 1)[1]
    assert 'width="600"' not in outside_mso
    assert "Resources shared" in html and "shared by Bob" in html
    assert "Coming so far: Alice Example and Bob Builder." in html
    assert "Tuesday 1 December 2026, 12:00–12:45 EST (America/New_York)" in html
    assert "https://circle.example.org/unsubscribe/tok3n" in _hrefs(html)
    assert "<p" in html.split("Bob Builder</h3>", 1)[1]  # story text as paragraphs
    assert "<br>" in html


def test_facilitator_section_only_when_given() -> None:
    plain = _digest()
    assert "For you only" not in _html(plain)
    assert "Gone quiet" not in _text(plain)
    section = FacilitatorSection(
        quiet=("Dana",),
        bounces=(BouncingAddress("Eve", "eve@bounce.example", "hard"),),
        strangers=(Stranger("who@else.org", "Hello"),),
        rounds=(RoundWish("Bob", "another-round"),),
    )
    msg = _digest(facilitator_section=section)
    for body in (_text(msg), _html(msg)):
        assert "Gone quiet" in body and "Dana" in body
        assert "eve@bounce.example" in body
        assert "who@else.org" in body
        assert "Bob would like another round" in body


def test_quiet_week_is_a_short_note_not_an_empty_digest() -> None:
    view = _view(stories=(), resources=())
    msg = _digest(view=view)
    text, html = _text(msg), _html(msg)
    assert "a quiet week in the circle" in _header(msg, "Subject")
    for body in (text, html):
        assert "quiet week in the circle" in body
        assert "No stories this week" not in body
        assert "Tuesday 1 December 2026, 12:00–12:45 EST (America/New_York)" in body
        assert "Coming so far: Alice Example and Bob Builder." in body
        assert "What is one small thing you will try before we meet?" in body
        assert "https://meet.example.org/orlando" in body
    assert "STORIES" not in text and "RESOURCES" not in text
    assert ">Stories</h2>" not in html and "Resources shared" not in html
    assert "In this digest" not in html
    assert [tag for tag, _ in _tags(html)].count("h1") == 1


def test_quiet_week_at_the_end_of_the_series() -> None:
    view = _view(stories=(), resources=(), next_checkin=None, next_prompt=None, accepted=())
    msg = _digest(view=view, facilitator_section=FacilitatorSection((), (), (), ()))
    for body in (_text(msg), _html(msg)):
        assert "quiet week in the circle" in body
        assert "Next check-in" not in body and "NEXT CHECK-IN" not in body
        assert "Nothing needs your attention this week." in body


def test_resources_without_stories_is_not_a_quiet_week() -> None:
    view = _view(stories=())
    msg = _digest(view=view)
    assert "this week in the circle" in _header(msg, "Subject")
    for body in (_text(msg), _html(msg)):
        assert "quiet week" not in body
        assert "No stories this week, only the links below." in body
        assert "https://example.com/working-out-loud" in body


# --- long stories and long digests ------------------------------------------------

LONG_STORY = " ".join(
    f"Week {n}: I opened the notebook, wrote down one question and asked a colleague about it."
    for n in range(1, 25)
) + " THE-VERY-END."


def test_shorten_story_keeps_short_stories_whole() -> None:
    short = "Asked my manager for feedback."
    assert shorten_story(short, FULL_STORY_NOTE) == short
    exact = "x" * (STORY_TEXT_LIMIT - 3) + " ab"
    assert shorten_story(exact, FULL_STORY_NOTE) == exact


def test_shorten_story_cuts_at_a_sentence() -> None:
    short = shorten_story(LONG_STORY, FULL_STORY_NOTE)
    kept, note = short[: -len(FULL_STORY_NOTE) - 1], short[-len(FULL_STORY_NOTE) :]
    assert note == FULL_STORY_NOTE
    assert kept.endswith("asked a colleague about it.")
    assert LONG_STORY.startswith(kept)
    assert STORY_TEXT_LIMIT // 2 <= len(kept) <= STORY_TEXT_LIMIT


def test_shorten_story_cuts_at_a_word_and_never_inside_a_url() -> None:
    words = "and then we talked about it " * 40
    short = shorten_story(words, FULL_STORY_NOTE)
    assert short.endswith(" " + FULL_STORY_NOTE)
    assert words.startswith(short.removesuffix(" " + FULL_STORY_NOTE))
    assert short.removesuffix(" " + FULL_STORY_NOTE).split()[-1] in words.split()
    url = "https://example.com/" + "a" * 900
    short = shorten_story("See this, " + url + " and more", FULL_STORY_NOTE)
    assert short == "See this " + FULL_STORY_NOTE
    assert shorten_story("y" * 900, FULL_STORY_NOTE) == "y" * STORY_TEXT_LIMIT + " " + FULL_STORY_NOTE


def test_long_story_is_shortened_in_text_only() -> None:
    view = _view(stories=(StoryView("Dana Long", 3, LONG_STORY, NOW),))
    msg = _digest(view=view)
    text, html = _text(msg), _html(msg)
    assert FULL_STORY_NOTE in text
    assert "THE-VERY-END." not in text
    assert "Dana Long, before check-in 3" in text
    assert "THE-VERY-END." in html
    assert "full story is in the HTML" not in html
    # The short story next to it is untouched.
    assert FULL_STORY_NOTE not in _text(_digest())


def test_long_resource_urls_are_shortened_where_shown_only() -> None:
    url = "https://board.example.com/app/" + "q" * 300
    view = _view(resources=(ResourceView(url, "", "Bob"), ResourceView(url + "/x", "Board", "Bob")))
    msg = _digest(view=view)
    html = _html(msg)
    assert _hrefs(html).count(url) == 1 and url + "/x" in _hrefs(html)
    assert url_label(url) in html and url_label(url).endswith("…")
    assert len(url_label(url)) == URL_LABEL_LIMIT
    assert url + "/x" in _text(msg) and f"- {url}\n" in _text(msg)  # text/plain: in full
    assert url_label("https://example.com/short") == "https://example.com/short"


def _many_stories(count: int) -> tuple[StoryView, ...]:
    return tuple(
        StoryView(f"Person {n}", n % 3 or None, f"Story number {n}.", NOW) for n in range(1, count + 1)
    )


def test_long_digest_opens_with_a_table_of_contents() -> None:
    html = _html(_digest(view=_view(stories=_many_stories(6)), facilitator_section=FacilitatorSection(
        quiet=("Dana",), bounces=(), strangers=()
    )))
    assert "In this digest" in html
    assert html.index("In this digest") < html.index(">Stories</h2>")
    tags = _tags(html)
    ids = {attrs["id"] for _, attrs in tags if attrs.get("id")}
    internal = [href for href in _hrefs(html) if href.startswith("#")]
    assert {"#stories", "#resources", "#next-checkin", "#prompt", "#for-you"} <= set(internal)
    assert {f"#story-{n}" for n in range(1, 7)} <= set(internal)
    assert all(href[1:] in ids for href in internal)
    assert [tag for tag, _ in tags].count("h1") == 1


def test_short_digest_has_no_table_of_contents() -> None:
    html = _html(_digest(view=_view(stories=_many_stories(5))))
    assert "In this digest" not in html
    assert not [href for href in _hrefs(html) if href.startswith("#")]
    # Many resources alone also make a digest long.
    resources = tuple(ResourceView(f"https://example.com/{n}", f"R{n}", "Bob") for n in range(10))
    assert "In this digest" in _html(_digest(view=_view(stories=_many_stories(1), resources=resources)))


# --- prompt ---------------------------------------------------------------------


def test_prompt_content() -> None:
    msg = _prompt()
    text, html = _text(msg), _html(msg)
    for body in (text, html):
        assert "Hi Alice," in body
        assert "What happened since last time?" in body
        assert "Blog once a week about what I learn" in body
        assert "Tuesday 1 December 2026, 12:00–12:45 EST (America/New_York)" in body
        for word in ("skip", "pause 2w", "private", "stop"):
            assert word in body
    assert "Your goal from week 1: Blog once a week about what I learn" in text
    assert "https://meet.example.org/orlando" in _hrefs(html)
    assert "-- \n" in text  # signature delimiter keeps the control words out of replies


def test_prompt_without_goal_and_with_a_room() -> None:
    msg = _prompt(goal_reminder=None, checkin=replace(CHECKIN, location="Room 4 <b>x</b>"))
    assert "Your goal" not in _text(msg)
    assert "Room 4 &lt;b&gt;x&lt;/b&gt;" in _html(msg)


def test_times_follow_each_recipients_zone() -> None:
    london = replace(ALICE, timezone="Europe/London")
    assert "17:00–17:45 GMT (Europe/London)" in _text(_prompt(recipient=london))
    kolkata = replace(ALICE, timezone="Asia/Kolkata")
    assert "Tuesday 1 December 2026, 22:30–23:15 IST (Asia/Kolkata)" in _text(_prompt(recipient=kolkata))


# --- time formatting and HTML helpers ---------------------------------------------


def test_format_local() -> None:
    assert format_local(CHECKIN.start, "America/New_York") == (
        "Tuesday 1 December 2026, 12:00 (America/New_York)"
    )
    summer = datetime(2026, 7, 7, 16, 0, tzinfo=UTC)
    assert format_local(summer, "America/New_York") == ("Tuesday 7 July 2026, 12:00 (America/New_York)")
    with pytest.raises(ValueError):
        format_local(datetime(2026, 7, 7, 16, 0), "Europe/London")


def test_format_local_range() -> None:
    assert format_local_range(CHECKIN.start, CHECKIN.end, "America/New_York") == (
        "Tuesday 1 December 2026, 12:00–12:45 EST (America/New_York)"
    )
    summer = datetime(2026, 7, 7, 16, 0, tzinfo=UTC)
    assert format_local_range(summer, summer + timedelta(minutes=45), "Europe/London") == (
        "Tuesday 7 July 2026, 17:00–17:45 BST (Europe/London)"
    )
    # tzdata has no letters for São Paulo ("-03"): show the offset instead.
    assert format_local_range(summer, summer + timedelta(hours=1), "America/Sao_Paulo") == (
        "Tuesday 7 July 2026, 13:00–14:00 UTC−03 (America/Sao_Paulo)"
    )
    late = datetime(2026, 7, 7, 22, 30, tzinfo=UTC)
    assert format_local_range(late, late + timedelta(hours=1), "UTC") == (
        "Tuesday 7 July 2026, 22:30–23:30 UTC"
    )
    with pytest.raises(ValueError, match="before start"):
        format_local_range(late, late - timedelta(hours=1), "UTC")
    assert format_local_range(late, late + timedelta(hours=2), "UTC").endswith("22:30–00:30 (next day) UTC")


def test_sanitize_html() -> None:
    dirty = (
        '<p onclick="x()">Hi <script>alert(1)</script><img src=x onerror=alert(1)>'
        '<a href="javascript:alert(1)">bad</a> <a href="https://ok.example">ok</a></p>'
    )
    clean = sanitize_html(dirty)
    assert "<script" not in clean and "onerror" not in clean and "onclick" not in clean
    assert "javascript:" not in clean
    assert "<img" not in clean
    assert 'href="https://ok.example"' in clean


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://example.com/x", True),
        ("HTTP://example.com", True),
        ("javascript:alert(1)", False),
        ("JaVaScRiPt:alert(1)", False),
        (" https://example.com", False),
        ("data:text/html,<b>x</b>", False),
        ("https://", False),
        ("//example.com", False),
        ("https://exa mple.com", False),
    ],
)
def test_is_web_url(url: str, ok: bool) -> None:
    assert is_web_url(url) is ok


# --- template lookup ------------------------------------------------------------


def test_templates_dir_prefers_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CIRCLEBACK_TEMPLATES", raising=False)
    default = compose.templates_dir()
    assert (default / "digest.html.j2").is_file()
    for name in ("control_ack.txt.j2", "control_ack.html.j2"):
        (tmp_path / name).write_text('custom {{ ack.word }} {{ "<ok>" }}\n', encoding="utf-8")
    # A subject macro that tries to add a header: the subject still stays on one line.
    shutil.copy(default / "_subjects.j2", tmp_path / "_subjects.j2")
    with (tmp_path / "_subjects.j2").open("a", encoding="utf-8") as subjects:
        subjects.write('{% macro control_ack(ack) %}Custom <ok>\r\nBcc: evil@x\n{% endmacro %}\n')
    monkeypatch.setenv("CIRCLEBACK_TEMPLATES", str(tmp_path))
    assert compose.templates_dir() == tmp_path
    ack = compose_control_ack(sender=SENDER, recipient=ALICE, ack=Ack("stop"), envelope=ENVELOPE,
                              now=NOW)
    assert _text(ack) == "custom stop <ok>\n"
    assert _html(ack) == "custom stop &lt;ok&gt;\n"
    assert _header(ack, "Subject") == "Custom <ok> Bcc: evil@x"
    assert ack["Bcc"] is None and _reparse(ack)["Bcc"] is None


def test_every_email_has_both_templates() -> None:
    directory = compose.templates_dir()
    for name in ("invite", "prompt", "reminder", "digest", "control_ack", "notice", "cancel"):
        assert (directory / f"{name}.txt.j2").is_file()
        assert (directory / f"{name}.html.j2").is_file()


# --- subjects ---------------------------------------------------------------------


def test_every_subject_comes_from_the_subjects_template() -> None:
    cohort = "Kick-start your social learning journey"
    cancel_ics = ICS.replace(b"METHOD:REQUEST", b"METHOD:CANCEL")
    fourth = _shifted(CHECKIN, number=4, days=14)
    quiet = _view(stories=(), resources=())
    london = replace(ALICE, timezone="Europe/London")
    subjects = {
        "invite": _header(_invite(), "Subject"),
        "updated": _header(_invite(changes=("first",)), "Subject"),
        "cancel one": _header(_invite("CANCEL", cancel_ics, checkins=(fourth,)), "Subject"),
        "cancel many": _header(_invite("CANCEL", cancel_ics), "Subject"),
        "prompt": _header(_prompt(), "Subject"),
        "reminder": _header(_prompt(reminder=True), "Subject"),
        "digest": _header(_digest(), "Subject"),
        "quiet": _header(_digest(view=quiet, recipient=london), "Subject"),
    }
    assert subjects == {
        "invite": f"Invitation: {cohort} check-ins from Tue 1 Dec",
        "updated": f"Updated invitation: {cohort} check-ins from Tue 1 Dec",
        "cancel one": f"Cancelled: {cohort} check-in 4 on Tue 15 Dec",
        "cancel many": f"Cancelled: {cohort} check-ins from Tue 1 Dec",
        "prompt": f"{cohort}: your update before check-in 3 (Tue 1 Dec)",
        "reminder": f"Reminder: {cohort} check-in 3 (Tue 1 Dec)",
        "digest": f"{cohort}: this week in the circle (Fri 20 Nov – Fri 27 Nov)",
        "quiet": f"{cohort}: a quiet week in the circle (Fri 20 Nov – Fri 27 Nov)",
    }


def test_subject_data_is_never_template_source() -> None:
    hostile = "{{ 7*7 }} <script>x</script>\r\nBcc: evil@x"
    for msg in (_prompt(cohort_name=hostile), _digest(view=_view(cohort_name=hostile))):
        subject = _header(_reparse(msg), "Subject")
        assert subject.startswith("{{ 7*7 }} <script>x</script> Bcc: evil@x")
        assert "49" not in subject and "\n" not in str(msg["Subject"])


def test_only_participants_are_invited_to_add_a_story() -> None:
    participant = _digest()
    facilitator = _digest(facilitator_section=FacilitatorSection(quiet=("Dana",)))
    for body in (_text(participant), _html(participant)):
        assert "add your own story" in body
    for body in (_text(facilitator), _html(facilitator)):
        assert "add your own story" not in body and "your copy as the facilitator" in body


def test_default_questions_come_from_the_templates(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from service.compose import default_question

    assert "goal" in default_question(1) and "\n" not in default_question(1)
    assert default_question(4) == ("What happened since last time? What did you try? "
                                   "One resource worth sharing?")
    shutil.copytree(compose.templates_dir(), tmp_path, dirs_exist_ok=True)
    (tmp_path / "_questions.j2").write_text(
        "{% macro default(number) %}Wie lief Woche {{ number }}?\n{% endmacro %}")
    monkeypatch.setenv("CIRCLEBACK_TEMPLATES", str(tmp_path))
    assert default_question(2) == "Wie lief Woche 2?"
