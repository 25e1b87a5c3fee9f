"""The digest's +1 links and counts, the polls in prompts and digests (service/compose)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

from mailparts import html_of, tags, text_of

from service.compose import (
    CheckinView,
    DigestView,
    Envelope,
    PollView,
    Recipient,
    Sender,
    StoryView,
    compose_digest,
    compose_prompt,
)

NOW = datetime(2026, 12, 4, 9, tzinfo=UTC)
SENDER = Sender("circle@example.org", "Orlando circle")
ALICE = Recipient("Alice Example", "alice@example.com", "Europe/London", "circle+tok@example.org")
ENVELOPE = Envelope(message_id="cb.1@example.org")
CHECKIN = CheckinView(2, NOW + timedelta(days=4), NOW + timedelta(days=4, minutes=45),
                      "https://meet.example.org/x")
POLL = PollView("How often should we meet after this round?", ("Weekly", "Monthly", "Not at all"),
                NOW + timedelta(days=10))


def _view(**changes: object) -> DigestView:
    return DigestView(
        cohort_name="Orlando", period_start=NOW - timedelta(days=7), period_end=NOW,
        stories=(StoryView("Bob <b>Builder</b>", 1, "Tried pairing.", NOW, found_useful=0,
                           plus_one="circle+react1@example.org"),
                 StoryView("Alice Example", 1, "My own story.", NOW, found_useful=3, updated=True)),
        resources=(), next_checkin=None, next_prompt=None, accepted=(),
        **changes)  # type: ignore[arg-type]


def test_each_story_offers_its_own_plus_one_mailto_and_shows_its_count() -> None:
    msg = compose_digest(sender=SENDER, recipient=ALICE, view=_view(), envelope=ENVELOPE, now=NOW)
    hrefs = [a["href"] or "" for tag, a in tags(html_of(msg)) if tag == "a" and a.get("href")]
    plus = [h for h in hrefs if h.startswith("mailto:circle+react1@")]
    assert len(plus) == 1 and "subject=%2B1" in plus[0]
    assert "Bob <b>Builder</b> their story" in unquote(plus[0])  # in a URL: encoded, not markup
    assert not any("circle+tok" in h and "subject=%2B1" in h for h in hrefs)  # own story: no +1
    html, text = html_of(msg), text_of(msg)
    assert "3 people found this useful" in html and "3 people found this useful" in text
    assert "mailto:circle+react1@example.org?subject=%2B1" in text
    assert "updated" in text.split("My own story.")[0].rsplit("Alice Example", 1)[1]


def test_one_person_is_singular_and_earlier_stories_are_listed_with_their_count() -> None:
    earlier = StoryView("Chandra Rao", 1, "Asked for feedback " * 30, NOW - timedelta(days=8),
                        found_useful=1)
    msg = compose_digest(sender=SENDER, recipient=ALICE, view=_view(appreciated=(earlier,)),
                         envelope=ENVELOPE, now=NOW)
    for part in (html_of(msg), text_of(msg)):
        assert "Found useful since the last digest".upper() in part.upper()
        assert "1 person found this useful" in part
        assert "Asked for feedback" in part and part.count("Asked for feedback") < 30


def test_poll_tallies_say_closed_or_open() -> None:
    closed = PollView(POLL.question, POLL.options, NOW, counts=(1, 4, 0), closed=True)
    msg = compose_digest(sender=SENDER, recipient=ALICE, view=_view(polls=(closed,)),
                         envelope=ENVELOPE, now=NOW)
    text = text_of(msg)
    assert "POLL RESULT" in text and "2. Monthly: 4 votes" in text and "1. Weekly: 1 vote\n" in text
    assert "Monthly: 4 votes" in html_of(msg)
    still = PollView(POLL.question, POLL.options, NOW + timedelta(days=3), counts=(0, 0, 0))
    msg = compose_digest(sender=SENDER, recipient=ALICE, view=_view(polls=(still,)),
                         envelope=ENVELOPE, now=NOW)
    assert "STILL OPEN" in text_of(msg) and "Nobody has answered yet." in text_of(msg)
    assert "Only you see this" in html_of(msg)


def test_prompt_and_reminder_carry_the_poll_and_say_how_to_answer() -> None:
    for reminder in (False, True):
        msg = compose_prompt(sender=SENDER, recipient=ALICE, cohort_name="Orlando", checkin=CHECKIN,
                             question="What did you try?", goal_reminder=None, envelope=ENVELOPE,
                             now=NOW, reminder=reminder, poll=POLL)
        text, html = text_of(msg), html_of(msg)
        assert POLL.question in text and POLL.question in html
        assert "  1. Weekly\n  2. Monthly\n  3. Not at all\n" in text
        assert [t for t, _ in tags(html)].count("li") == 3
        assert "first line of your reply" in text and "first line of your reply" in html
        assert '"3" or "Not at all"' in text
    plain = compose_prompt(sender=SENDER, recipient=ALICE, cohort_name="Orlando", checkin=CHECKIN,
                           question="What did you try?", goal_reminder=None, envelope=ENVELOPE,
                           now=NOW)
    assert "poll" not in text_of(plain).lower()
