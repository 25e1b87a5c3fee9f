"""The digest, the prompt and the invitation as a browser renders them: Debian's Chromium through Playwright.

What a phone or desktop mail client would show, checked in a real layout engine: no
sideways scrolling at 375px or 1280px, every story and link present, participants' words
shown as text and never run, one h1, readable contrast in light and dark mode. Each case
saves a full-page screenshot to its pytest tmp dir, for a human to look at.

Chromium is Debian's (`apt-get install -y chromium`), never a Playwright download.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

try:
    from playwright.async_api import Browser, Dialog, Page, Route, async_playwright
except ImportError:  # pragma: no cover - the test extra installs it
    pytest.fail("Playwright is missing: pip install -e '.[test]' (or bash .ci/setup --test)", pytrace=False)

from service.compose import (
    BouncingAddress,
    CheckinView,
    Decline,
    DigestView,
    Envelope,
    FacilitatorSection,
    PrivateStory,
    Recipient,
    ResourceView,
    RoundWish,
    Sender,
    StoryView,
    Stranger,
    compose_digest,
    compose_invite,
    compose_prompt,
    url_label,
)

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# (width, height, colour scheme): a phone and a desktop window, each light and dark.
MODES = [(375, 800, "light"), (1280, 900, "light"), (375, 800, "dark"), (1280, 900, "dark")]
MODE_IDS = [f"{w}px-{scheme}" for w, _, scheme in MODES]

# --- a realistic week ---------------------------------------------------------------

NOW = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
SENDER = Sender(address="circle@example.org", display_name="Orlando circle")
PARTICIPANT = Recipient("Alice Example", "alice@example.com", "America/New_York", "circle+tok3n@example.org")
FACILITATOR = Recipient("Helen Facilitator", "helen@example.org", "Europe/Berlin", "circle+h3len@example.org")
MEETING = "https://meet.example.org/orlando-circle?pwd=kQz7TmVbXw"
NEXT_CHECKIN = CheckinView(
    number=3,
    start=datetime(2026, 12, 1, 17, 0, tzinfo=UTC),
    end=datetime(2026, 12, 1, 17, 45, tzinfo=UTC),
    location=MEETING,
)
NEXT_PROMPT = "What is one small thing you will try before we meet?"
ACCEPTED = ("Alice Example", "Bob Builder", "Dana Okafor", "Émile Zola-Durand")

HOSTILE = (
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "{{ 7*7 }}",
    "javascript:alert(1)",
)
LONG_URL = "https://board.example.com/app/board/" + ("uXjVNqkTdwA" * 30)[: 300 - 36 - 11] + "?share=team"
assert len(LONG_URL) == 300 and "49" not in LONG_URL

LONG_STORY = """Since our last check-in I finally ran the retrospective format we talked about in the \
workshop, with my own team of six. I was nervous, so I wrote a short plan the evening before: ten \
minutes of silent writing, fifteen of sorting the sticky notes into themes, and the rest for choosing \
one experiment for the next sprint.

The silent writing went better than I expected. People who usually say nothing in meetings wrote the \
most notes, and two of them asked to read theirs aloud. The sorting was messier: we had a long argument \
about whether "too many meetings" and "no time to focus" were the same theme. In the end we kept them \
apart, which I think was right.

Choosing the experiment was the hard part. Everyone wanted to fix everything at once. I used the trick \
from the workshop of asking "what is the smallest thing we could try for two weeks?" and that calmed \
things down. We picked a no-meeting Wednesday morning, and I promised to report back at the next retro \
whether it held.

What I learned about myself: I talk too much when there is silence. I counted, and I broke the silence \
three times in the first five minutes. The second time I noticed it and managed to sit on my hands. \
Next time I will put a timer on the table so the silence belongs to the clock and not to me.

A colleague from another team heard about it and asked me to run the same format with them next month. \
That felt good, and also a bit scary, because their team is twice as big. If anyone in the circle has \
run a retro with twelve or more people, I would love to hear how you split the group.

Thank you all for the encouragement last time, by the way. Knowing I would write this update for the \
digest is honestly what got me to book the room instead of postponing it yet again.

One more thing: the sticky notes ended up on the office wall and people keep adding to them, so we \
will keep the parking lot on paper for now and photograph it every Friday."""
assert 1900 <= len(LONG_STORY) <= 2100

# As templates/digest.txt.j2 says it.
FULL_STORY_NOTE = "… (the full story is in the HTML version of this email)"


@dataclass(frozen=True)
class Story:
    view: StoryView
    opening: str  # a distinctive phrase near the start: in both parts
    ending: str  # a distinctive phrase near the end: in the HTML; in the text unless shortened


def _story(name: str, checkin: int | None, text: str, opening: str, ending: str, days_ago: int) -> Story:
    assert opening in text and ending in text
    return Story(StoryView(name, checkin, text, NOW - timedelta(days=days_ago)), opening, ending)


STORIES = (
    _story(
        "Bob Builder", 2,
        f"We tried {HOSTILE[0]} in the team wiki and {HOSTILE[1]} in a comment to see what breaks.\n"
        f"Also {HOSTILE[2]} in the page template and {HOSTILE[3]} as a bookmark. Nothing broke!",
        "in the team wiki and", "as a bookmark. Nothing broke!", 5,
    ),
    _story(
        "Chandra Rao", None,
        "Asked my manager for feedback on the onboarding doc. She said yes, and we meet on Monday.",
        "feedback on the onboarding doc", "we meet on Monday", 4,
    ),
    _story(
        "Dana Okafor", 2, LONG_STORY,
        "I finally ran the retrospective format", "keep the parking lot on paper for now", 3,
    ),
    _story(
        "Émile Zola-Durand", 2,
        f"Here is the board we used for the mapping exercise:\n{LONG_URL}\n"
        "Feel free to copy it for your own team.",
        "board we used for the mapping exercise", "copy it for your own team", 3,
    ),
    _story(
        "Farah Haddad", 2,
        "Two small wins.\n\nFirst, I wrote my weekly note in public instead of in my drawer.\n\n"
        "Second, a stranger replied to it with a book tip.",
        "wrote my weekly note in public", "replied to it with a book tip", 2,
    ),
    _story(
        "Gustav Lindqvist", 1,
        "I did not get to my goal this week. What I did instead: cleaned up the team's reading list "
        "and asked two people which article changed their mind this year.",
        "did not get to my goal this week", "changed their mind this year", 2,
    ),
    _story(
        "Hina Takahashi", 2,
        "今週は朝の15分を学習に使いました。小さな一歩ですが、続けられそうです。",
        "朝の15分を学習に使いました", "続けられそうです", 1,
    ),
    _story(
        "Ivan Petrov", 2,
        "Paired with a colleague on a bug for an hour and we both learned more than in a week of docs.",
        "Paired with a colleague on a bug", "a week of docs", 0,
    ),
)
RESOURCES = (
    ResourceView("https://example.com/working-out-loud", "Working Out Loud: a guide", "Bob Builder"),
    ResourceView("https://example.net/retro-formats", "Retrospective formats that work", "Dana Okafor"),
    ResourceView(LONG_URL, "", "Émile Zola-Durand"),
    ResourceView("http://example.org/plain-http-article", "An article on plain http", "Chandra Rao"),
    ResourceView("https://example.com/books/thinking", '<b>Bold</b> "claims" & more', "Farah Haddad"),
    ResourceView("https://example.org/reading-list", "The team's reading list", "Gustav Lindqvist"),
)
VIEW = DigestView(
    cohort_name="Kick-start your social learning journey",
    period_start=NOW - timedelta(days=7),
    period_end=NOW,
    stories=tuple(story.view for story in STORIES),
    resources=RESOURCES,
    next_checkin=NEXT_CHECKIN,
    next_prompt=NEXT_PROMPT,
    accepted=ACCEPTED,
)
SECTION = FacilitatorSection(
    quiet=("Jonas Weber",),
    bounces=(BouncingAddress("Kim Lee", "kim.lee.with.a.rather.long.address@bounce.example.com", "hard"),),
    strangers=(Stranger("stranger@example.net", f"Re: hello {HOSTILE[0]}"),),
    declines=(Decline("Gustav Lindqvist", f"Travelling {HOSTILE[2]}"),),
    counters=("farah.haddad@example.com",),
    unreadable=2,
    rounds=(RoundWish("Dana Okafor", "another-round"),),
    private_stories=(PrivateStory("Chandra Rao", f"I am finding this hard right now.\n\n{HOSTILE[1]}"),),
    awaiting_consent=("Ivan Petrov",),
)
# What the facilitator's copy must say about SECTION, in both parts.
SECTION_FACTS = (
    "Gone quiet: Jonas Weber.",
    "Kim Lee <kim.lee.with.a.rather.long.address@bounce.example.com> (hard bounce, no longer mailed)",
    f"stranger@example.net (“Re: hello {HOSTILE[0]}”)",
    f"Gustav Lindqvist declined: “Travelling {HOSTILE[2]}”",
    "farah.haddad@example.com proposed another time for a check-in (nothing was changed)",
    "2 messages could not be used",
    "Dana Okafor would like another round",
    "Private from Chandra Rao:",
    "I am finding this hard right now.",
    HOSTILE[1],
    "Not yet agreed to share their stories: Ivan Petrov",
)
GOAL = f"Blog once a week {HOSTILE[0]} {HOSTILE[1]} {HOSTILE[2]} {HOSTILE[3]}"

# The check-in as each recipient sees it.
WHEN = {
    "America/New_York": "Tuesday 1 December 2026, 12:00–12:45 EST (America/New_York)",
    "Europe/Berlin": "Tuesday 1 December 2026, 18:00–18:45 CET (Europe/Berlin)",
}


def _envelope(key: str) -> Envelope:
    return Envelope(
        message_id=f"{key}@circle.example.org",
        list_id="orlando.circle.example.org",
        unsubscribe_mailto="circle+tok3n@example.org?subject=stop",
        unsubscribe_url="https://circle.example.org/unsubscribe/tok3n",
    )


def _digest(copy: str, view: DigestView = VIEW) -> EmailMessage:
    if copy == "facilitator":
        return compose_digest(sender=SENDER, recipient=FACILITATOR, view=view,
                              envelope=_envelope("digest.f"), now=NOW, facilitator_section=SECTION)
    return compose_digest(sender=SENDER, recipient=PARTICIPANT, view=view,
                          envelope=_envelope("digest.p"), now=NOW)


QUESTION = "What happened since last time?\n\nWhat did you try?"


def _prompt() -> EmailMessage:
    return compose_prompt(sender=SENDER, recipient=PARTICIPANT, cohort_name=VIEW.cohort_name,
                          checkin=NEXT_CHECKIN, question=QUESTION, goal_reminder=GOAL,
                          envelope=_envelope("prompt.3"), now=NOW)


# An updated invitation whose cohort name and place are hostile (the name is the config's).
INVITE_NAME = f"Orlando {HOSTILE[0]} {HOSTILE[1]} {HOSTILE[2]}"
INVITE_ICS = b"BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n"


def _invite() -> EmailMessage:
    later = CheckinView(4, NEXT_CHECKIN.start + timedelta(weeks=1), NEXT_CHECKIN.end + timedelta(weeks=1),
                        HOSTILE[3])
    first = CheckinView(3, NEXT_CHECKIN.start, NEXT_CHECKIN.end, HOSTILE[3])
    return compose_invite(sender=SENDER, recipient=PARTICIPANT, cohort_name=INVITE_NAME,
                          facilitator_name="Helen", checkins=(first, later), every_days=7,
                          ics=INVITE_ICS, method="REQUEST", envelope=_envelope("invite.3"), now=NOW,
                          changes=("first", "location", "moved"))


def _body(msg: EmailMessage, subtype: str) -> str:
    part = msg.get_body(preferencelist=(subtype,))
    assert isinstance(part, EmailMessage), f"no text/{subtype} part"
    return str(part.get_content())


# --- the browser ------------------------------------------------------------------


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless. Fails (never skips) naming the package when it is missing."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's Chromium with `apt-get install -y chromium` "
                    "(bash .ci/setup --test does it)", pytrace=False)
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@dataclass
class Rendered:
    page: Page
    dialogs: list[str]


@asynccontextmanager
async def _opened(
    browser: Browser, html: str, width: int, height: int, scheme: str
) -> AsyncIterator[Rendered]:
    """`html` loaded as a mail client would show it: no network, scripts on (so that any
    script that slipped through would run and be caught)."""
    context = await browser.new_context(viewport={"width": width, "height": height})
    try:
        page = await context.new_page()
        rendered = Rendered(page, [])

        async def on_dialog(dialog: Dialog) -> None:
            rendered.dialogs.append(f"{dialog.type}: {dialog.message}")
            await dialog.dismiss()

        async def no_network(route: Route) -> None:
            await route.abort()

        page.on("dialog", on_dialog)
        await page.route("**/*", no_network)
        await page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
        await page.set_content(html, wait_until="load")
        await page.wait_for_timeout(100)  # an <img onerror> fires after a failed load
        yield rendered
    finally:
        await context.close()


# Every visible text node: its colour against the background it sits on, composited up
# through transparent ancestors to the canvas (WCAG 2.x relative luminance).
_CONTRAST_JS = """
() => {
  const parse = (value) => {
    const m = value.match(/rgba?\\(([^)]*)\\)/);
    if (!m) return null;
    const n = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
    return {r: n[0], g: n[1], b: n[2], a: n.length > 3 ? n[3] : 1};
  };
  const over = (top, below) => ({
    r: top.r * top.a + below.r * (1 - top.a),
    g: top.g * top.a + below.g * (1 - top.a),
    b: top.b * top.a + below.b * (1 - top.a),
    a: 1,
  });
  const luminance = ({r, g, b}) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const dark = matchMedia('(prefers-color-scheme: dark)').matches;
  const canvas = dark ? {r: 18, g: 18, b: 18, a: 1} : {r: 255, g: 255, b: 255, a: 1};
  const backgroundOf = (element) => {
    const layers = [];
    for (let e = element; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; }
    }
    return layers.reverse().reduce((below, top) => over(top, below), canvas);
  };
  const results = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const text = node.textContent.trim();
    const element = node.parentElement;
    if (!text || !element || !element.getClientRects().length) continue;
    const style = getComputedStyle(element);
    if (style.visibility !== 'visible' || style.display === 'none') continue;
    const background = backgroundOf(element);
    const foreground = over(parse(style.color), background);
    const [hi, lo] = [luminance(foreground), luminance(background)].sort((x, y) => y - x);
    results.push({text: text.slice(0, 40), ratio: (hi + 0.05) / (lo + 0.05),
                  color: style.color, background: `rgb(${background.r}, ${background.g}, ${background.b})`});
  }
  return results;
}
"""

_SHAPE_JS = """
() => ({
  scrollWidth: document.documentElement.scrollWidth,
  innerWidth: window.innerWidth,
  clientWidth: document.documentElement.clientWidth,
  text: document.body.innerText,
  headings: [...document.querySelectorAll('h1,h2,h3,h4,h5,h6')].map(h => [Number(h.tagName[1]), h.innerText]),
  scripts: document.querySelectorAll('script').length,
  handlers: [...document.querySelectorAll('*')].flatMap(e => [...e.attributes]
      .filter(a => a.name.toLowerCase().startsWith('on')).map(a => `${e.tagName} ${a.name}`)),
  hrefs: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href')),
  ids: [...document.querySelectorAll('[id]')].map(e => e.id),
  images: [...document.querySelectorAll('img')].map(i => i.getAttribute('alt')),
  wide: [...document.querySelectorAll('body *')]
      .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
      .map(e => `${e.tagName}: ${(e.innerText || '').slice(0, 60)}`).slice(0, 5),
})
"""


async def _check_page(rendered: Rendered, screenshot: Path, *, hostile: bool = True) -> dict[str, Any]:
    """What every circleback email must get right in a browser; returns the page's shape."""
    page = rendered.page
    await page.screenshot(path=str(screenshot), full_page=True)
    shape: dict[str, Any] = await page.evaluate(_SHAPE_JS)
    assert shape["scrollWidth"] <= shape["innerWidth"], f"scrolls sideways: {shape['wide']}"
    assert shape["scrollWidth"] <= shape["clientWidth"], f"scrolls sideways: {shape['wide']}"
    text: str = shape["text"]
    # Participants' words are text: shown literally, never run.
    assert rendered.dialogs == []
    assert shape["scripts"] == 0
    assert shape["handlers"] == []
    schemes = ("javascript:", "data:", "vbscript:")
    assert not [h for h in shape["hrefs"] if h.strip().lower().startswith(schemes)]
    if hostile:
        for word in HOSTILE:
            assert word in text, f"{word!r} should be shown as text"
        assert "49" not in text, "a template expression was evaluated"
    # One h1, then no level skipped on the way down.
    levels = [level for level, _ in shape["headings"]]
    assert levels.count(1) == 1 and levels[0] == 1, shape["headings"]
    assert all(b <= a + 1 for a, b in itertools.pairwise(levels)), shape["headings"]
    assert all(alt and alt.strip() for alt in shape["images"]), "every <img> needs alt text"
    # Links inside the email go somewhere.
    for href in shape["hrefs"]:
        if href.startswith("#"):
            assert href[1:] in shape["ids"], f"{href} points nowhere"
    low = [r for r in await page.evaluate(_CONTRAST_JS) if r["ratio"] < 4.5]
    assert not low, f"contrast below 4.5:1: {low[:5]}"
    return shape


def _flat(text: str) -> str:
    """Whitespace collapsed, as innerText shows it."""
    return re.sub(r"\s+", " ", text)


# --- the digest in a browser --------------------------------------------------------


@pytest.mark.parametrize("copy", ["participant", "facilitator"])
@pytest.mark.parametrize(("width", "height", "scheme"), MODES, ids=MODE_IDS)
async def test_digest_html_in_chromium(
    browser: Browser, tmp_path: Path, copy: str, width: int, height: int, scheme: str
) -> None:
    msg = _digest(copy)
    recipient = FACILITATOR if copy == "facilitator" else PARTICIPANT
    async with _opened(browser, _body(msg, "html"), width, height, scheme) as rendered:
        shape = await _check_page(rendered, tmp_path / f"digest-{copy}-{width}-{scheme}.png")
    text = _flat(shape["text"])
    for story in STORIES:
        assert story.view.participant_name in text
        assert _flat(story.opening) in text and _flat(story.ending) in text  # always in full
    assert FULL_STORY_NOTE not in text
    for resource in RESOURCES:
        assert resource.url in shape["hrefs"]
        assert url_label(resource.url) in text
        assert f"shared by {resource.shared_by}" in text
        if resource.title:
            assert resource.title in text
    assert f"Check-in 3: {WHEN[recipient.timezone]}" in text
    assert MEETING in shape["hrefs"]
    assert "Coming so far: Alice Example, Bob Builder, Dana Okafor and Émile Zola-Durand." in text
    assert NEXT_PROMPT in text
    # Eight stories: a table of contents leads to each section.
    assert "In this digest" in text
    assert {"#stories", "#resources", "#next-checkin", "#prompt"} <= set(shape["hrefs"])
    if copy == "facilitator":
        assert "For you only" in text and "#for-you" in shape["hrefs"]
        for fact in SECTION_FACTS:
            assert _flat(fact) in text
    else:
        assert "For you only" not in text and "Jonas Weber" not in text


@pytest.mark.parametrize(("width", "height", "scheme"), MODES, ids=MODE_IDS)
async def test_quiet_week_html_in_chromium(
    browser: Browser, tmp_path: Path, width: int, height: int, scheme: str
) -> None:
    view = DigestView(VIEW.cohort_name, VIEW.period_start, NOW, (), (), NEXT_CHECKIN, NEXT_PROMPT, ACCEPTED)
    html = _body(_digest("participant", view), "html")
    async with _opened(browser, html, width, height, scheme) as rendered:
        shape = await _check_page(rendered, tmp_path / f"quiet-{width}-{scheme}.png", hostile=False)
    text = _flat(shape["text"])
    assert "quiet week in the circle" in text
    assert "No stories" not in text and "In this digest" not in text
    assert f"Check-in 3: {WHEN[PARTICIPANT.timezone]}" in text
    assert MEETING in shape["hrefs"]


# --- the prompt in a browser --------------------------------------------------------


@pytest.mark.parametrize(("width", "height", "scheme"), MODES, ids=MODE_IDS)
async def test_prompt_html_in_chromium(
    browser: Browser, tmp_path: Path, width: int, height: int, scheme: str
) -> None:
    async with _opened(browser, _body(_prompt(), "html"), width, height, scheme) as rendered:
        shape = await _check_page(rendered, tmp_path / f"prompt-{width}-{scheme}.png")
    text = _flat(shape["text"])
    assert "Hi Alice," in text
    assert "What happened since last time?" in text and "What did you try?" in text
    assert _flat(f"Your goal from week 1: {GOAL}") in text
    assert WHEN[PARTICIPANT.timezone] in text
    assert MEETING in shape["hrefs"]
    assert "https://circle.example.org/unsubscribe/tok3n" in shape["hrefs"]
    for word in ("skip", "pause 2w", "private", "stop"):
        assert word in text


# --- the invitation in a browser ---------------------------------------------------


@pytest.mark.parametrize(("width", "height", "scheme"), MODES, ids=MODE_IDS)
async def test_invite_html_in_chromium(
    browser: Browser, tmp_path: Path, width: int, height: int, scheme: str
) -> None:
    async with _opened(browser, _body(_invite(), "html"), width, height, scheme) as rendered:
        shape = await _check_page(rendered, tmp_path / f"invite-{width}-{scheme}.png")
    text = _flat(shape["text"])
    assert f"{INVITE_NAME}: check-in calls" in text
    assert "every week, 2 in all" in text
    assert ("This invitation replaces the one you had: the start, the place or link and a check-in "
            "moved.") in text
    assert f"Check-in 3: {WHEN[PARTICIPANT.timezone]}" in text
    assert f"Where: {HOSTILE[3]}" in text and shape["hrefs"] == []  # not a link


def test_invite_text_part_has_the_same_facts() -> None:
    text = _flat(_body(_invite(), "plain"))
    assert f"Here are the check-in calls for {INVITE_NAME}: every week, 2 in all." in text
    assert ("This invitation replaces the one you had: the start, the place or link and a "
            "check-in moved.") in text
    assert f"3. {WHEN[PARTICIPANT.timezone]}" in text
    assert f"Where: {HOSTILE[3]}" in text and "49" not in text


# --- the text parts say the same --------------------------------------------------


@pytest.mark.parametrize("copy", ["participant", "facilitator"])
def test_digest_text_part_has_the_same_facts(copy: str) -> None:
    msg = _digest(copy)
    recipient = FACILITATOR if copy == "facilitator" else PARTICIPANT
    text = _body(msg, "plain")
    for story in STORIES:
        name = story.view.participant_name
        checkin = story.view.checkin_number
        assert (f"{name}, before check-in {checkin} (" if checkin else f"{name} (") in text
        assert story.opening in text
        if len(story.view.text) > 700:
            assert story.ending not in text
        else:
            assert story.view.text in text
    assert text.count(FULL_STORY_NOTE) == 1
    for hostile in HOSTILE:
        assert hostile in text
    assert "49" not in text
    for resource in RESOURCES:
        assert resource.url in text
        assert f"shared by {resource.shared_by}" in text
        if resource.title:
            assert f"- {resource.title}\n  {resource.url}\n" in text
    assert f"Check-in 3: {WHEN[recipient.timezone]}" in text
    assert f"Join: {MEETING}" in text
    assert "Coming so far: Alice Example, Bob Builder, Dana Okafor and Émile Zola-Durand." in text
    assert NEXT_PROMPT in text
    assert ("FOR YOU ONLY" in text) is (copy == "facilitator")
    if copy == "facilitator":
        for fact in SECTION_FACTS:
            assert _flat(fact) in text


def test_prompt_text_part_has_the_same_facts() -> None:
    text = _body(_prompt(), "plain")
    assert "Hi Alice," in text
    assert "What happened since last time?" in text and "What did you try?" in text
    assert f"Your goal from week 1: {GOAL}" in text
    assert WHEN[PARTICIPANT.timezone] in text
    assert f"Join the call: {MEETING}" in text
    assert "Unsubscribe: https://circle.example.org/unsubscribe/tok3n" in text
