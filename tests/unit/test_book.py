"""Tests for service/compose/book.py: the cohort book in Markdown, HTML, CSV and mbox, with
participants' words kept inert in each."""

from __future__ import annotations

import csv
import email
import io
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
from markdown_it import MarkdownIt

from service.compose.book import (
    BookResource,
    BookSection,
    BookStory,
    BookView,
    csv_rows,
    mbox_messages,
    md_block,
    md_inline,
    md_link,
    render_html,
    render_markdown,
)

TZ = "America/New_York"
ZONE = ZoneInfo(TZ)
FIRST = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)  # 12:00 in New York
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
TEMPLATE = "{{ 7*7 }}"
JS_LINK = "[click me](javascript:alert(1))"
MARKDOWN_LINES = ("# not a heading", "    not code", "1. not a list", "- not an item", "> not a quote",
                  "| not | a table |", "---", "```", "<div>not html</div>", "*not emphasis*")
HOSTILE_TEXT = (f"We tried {SCRIPT} and {IMG} in the wiki, {TEMPLATE} in a template and {JS_LINK}.\n"
                + "\n".join(MARKDOWN_LINES)
                + "\nThe guide: https://example.com/guide_(2)?a=1&b=2\n\n今週は朝の15分を学習に使いました 🎉")
PRIVATE_WORDS = "my manager is making this hard"


def story(author: str, text: str, hours: int, links: tuple[str, ...] = (), n: int = 1) -> BookStory:
    return BookStory(author=author, email=f"{author.split()[0].lower()}@example.com",
                     received_at=FIRST - timedelta(hours=hours), text=text, links=links,
                     message_id=f"cb.{n}@example.org")


ALICE = story("Alice Example", HOSTILE_TEXT, 30, ("https://example.com/guide_(2)?a=1&b=2",), 1)
EVE = story("# Eve *the* <b>Bold</b>", "Short and sweet.", 20, (), 2)
BOB = story("Bob Builder", "Paired with a colleague on a bug for an hour.", -160, (), 3)
EARLY = story("Chandra Rao", "=HYPERLINK(\"http://evil.example\")", 80, (), 4)
VIEW = BookView(
    cohort_id="c1", cohort_name="Kick-start *your* journey", facilitator_name="Helen <Facilitator>",
    timezone=TZ, address="circle@example.org", display_name="Orlando circle",
    first_checkin=FIRST.astimezone(ZONE), last_checkin=(FIRST + timedelta(weeks=5)).astimezone(ZONE),
    checkin_count=6,
    sections=(
        BookSection(None, None, False, (EARLY,)),
        BookSection(1, FIRST.astimezone(ZONE), False, (ALICE, EVE)),
        BookSection(2, (FIRST + timedelta(weeks=1)).astimezone(ZONE), True, ()),
        BookSection(3, (FIRST + timedelta(weeks=2)).astimezone(ZONE), False, (BOB,)),
    ),
    resources=(
        BookResource("https://example.com/guide_(2)?a=1&b=2", "The *guide* <b>", "Alice Example", 1,
                     FIRST),
        BookResource("https://example.org/plain", "", "Bob Builder", 3, FIRST),
        BookResource("javascript:alert(1)", "", "Eve", 1, FIRST),
    ),
    exported_at=FIRST + timedelta(weeks=6),
)


# --- Markdown ---------------------------------------------------------------------------

def _markdown_tokens(text: str) -> tuple[str, list[str]]:
    md = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    tokens = md.parse(text)
    kinds = [t.type for t in tokens]
    return md.render(text), kinds


def test_markdown_keeps_every_story_author_and_date() -> None:
    text = render_markdown(VIEW)
    html, _ = _markdown_tokens(text)
    for s in VIEW.stories:
        assert md_inline(s.author) in text
    assert "We tried" in html and "Paired with a colleague on a bug" in html
    assert "今週は朝の15分を学習に使いました 🎉" in text
    assert "## Check-in 1 · Tuesday 1 December 2026" in text
    assert "## Check-in 2 · Tuesday 8 December 2026 (cancelled)" in text
    assert "## Before the first check-in" in text
    assert "*Monday 30 November 2026, 06:00*" in text  # Alice's story, in New York time
    assert "All times are in America/New\\_York." in text
    # Contents: each check-in, linked to its section's anchor.
    for anchor in ("before", "checkin-1", "checkin-2", "checkin-3", "resources"):
        assert f"](#{anchor})" in text and f'<a id="{anchor}"></a>' in text


def test_markdown_structure_is_the_books_whatever_participants_write() -> None:
    html, kinds = _markdown_tokens(render_markdown(VIEW))
    # Headings: the title, Contents, 4 check-ins and Resources (h1/h2) and one h3 per story.
    assert kinds.count("heading_open") == 1 + 1 + 4 + 1 + len(VIEW.stories)
    for kind in ("code_block", "fence", "blockquote_open", "table_open", "hr", "ordered_list_open"):
        assert kind not in kinds, kind
    assert "<script" not in html and "<img" not in html and "<div>" not in html
    assert 'href="javascript' not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert TEMPLATE in html and "49" not in html
    for line in MARKDOWN_LINES:
        if line.strip() != "not code":
            assert line.strip().replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in html
    # The name with Markdown in it is text in its heading, the link's title too.
    assert "<h3># Eve *the* &lt;b&gt;Bold&lt;/b&gt;</h3>" in html
    assert '<a href="https://example.com/guide_(2)?a=1&amp;b=2">The *guide* &lt;b&gt;</a>' in html


def test_markdown_links_are_kept_and_only_web_links() -> None:
    html, _ = _markdown_tokens(render_markdown(VIEW))
    hrefs = re.findall(r'href="([^"]*)"', html)
    external = [h for h in hrefs if not h.startswith("#")]
    assert external and all(h.startswith(("http://", "https://")) for h in external)
    assert "https://example.org/plain" in hrefs
    assert "javascript:alert(1), shared by Eve" in html  # shown, not linked


def test_md_block_keeps_line_breaks_and_paragraphs() -> None:
    html, _ = _markdown_tokens(md_block("one\ntwo\n\n\nthree  \r\n"))
    assert html == "<p>one<br />\ntwo</p>\n<p>three</p>\n"


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,x", "https://x.org/<b>",
                                 "https://x.org/a\\b", "ftp://x.org/f"])
def test_md_link_never_links_what_is_not_a_plain_web_address(url: str) -> None:
    html, _ = _markdown_tokens(md_link(url, "title"))
    assert "href" not in html


# --- HTML -------------------------------------------------------------------------------

class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parsed(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    return parser


def test_html_is_one_self_contained_page_without_scripts() -> None:
    html = render_html(VIEW)
    parsed = _parsed(html)
    names = [tag for tag, _ in parsed.tags]
    assert "script" not in names and "img" not in names and "iframe" not in names
    assert "link" not in names  # no external stylesheet
    assert not [a for _, attrs in parsed.tags for a in attrs if a.lower().startswith("on")]
    assert not [attrs for _, attrs in parsed.tags if "src" in attrs]
    hrefs = [attrs["href"] or "" for tag, attrs in parsed.tags if tag == "a" and "href" in attrs]
    assert not [h for h in hrefs if not h.startswith(("#", "http://", "https://"))]
    assert "default-src 'none'" in html  # the browser is told to run and load nothing
    assert "@media print" in html and "break-before: page" in html


def test_html_shows_participants_words_as_text() -> None:
    html = render_html(VIEW)
    text = "".join(_parsed(html).text)
    assert SCRIPT in text and IMG in text and TEMPLATE in text and JS_LINK in text
    assert "49" not in text
    for s in VIEW.stories:
        assert s.author in text
    assert "Helen <Facilitator>" in text and "Kick-start *your* journey" in text
    # A link a story shares is a link; its URL is shown too (a printed copy keeps it).
    assert 'href="https://example.com/guide_(2)?a=1&amp;b=2"' in html
    assert "https://example.com/guide_(2)?a=1&b=2" in text
    assert "shared by Alice Example, check-in 1" in text


def test_html_contents_lead_to_every_section() -> None:
    parsed = _parsed(render_html(VIEW))
    ids = {attrs.get("id") for _, attrs in parsed.tags}
    internal = [attrs["href"] for tag, attrs in parsed.tags
                if tag == "a" and (attrs.get("href") or "").startswith("#")]
    assert internal == ["#before", "#checkin-1", "#checkin-2", "#checkin-3", "#resources"]
    assert all(h[1:] in ids for h in internal if h)


# --- CSV --------------------------------------------------------------------------------

def _csv(emails: bool) -> list[list[str]]:
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerows(csv_rows(VIEW, emails=emails))
    return list(csv.reader(io.StringIO(buffer.getvalue(), newline="")))


def test_csv_has_one_row_per_story_without_addresses_by_default() -> None:
    rows = _csv(emails=False)
    assert rows[0] == ["checkin", "checkin_date", "author", "date", "text", "links"]
    assert len(rows) == 1 + len(VIEW.stories)
    assert not any("@example.com" in cell for row in rows for cell in row)
    alice = next(r for r in rows if r[2] == "Alice Example")
    assert alice[:2] == ["1", "2026-12-01"]
    assert alice[3] == "2026-11-30T06:00-05:00"
    assert alice[4] == HOSTILE_TEXT  # round-trips, line breaks, Japanese and emoji included
    assert alice[5] == "https://example.com/guide_(2)?a=1&b=2"
    assert rows[1][0] == ""  # the story from before the first check-in


def test_csv_with_emails_and_formulas_kept_as_text() -> None:
    rows = _csv(emails=True)
    assert rows[0][3] == "email"
    assert {r[3] for r in rows[1:]} == {s.email for s in VIEW.stories}
    early = next(r for r in rows if r[2] == "Chandra Rao")
    assert early[5] == "'" + EARLY.text  # a spreadsheet shows it, never runs it
    eve = next(r for r in rows if r[3] == EVE.email)
    assert eve[2] == EVE.author


# --- mbox -------------------------------------------------------------------------------

def test_mbox_has_one_message_per_story_from_its_author() -> None:
    messages = list(mbox_messages(VIEW, emails=False))
    assert len(messages) == len(VIEW.stories)
    for message, s in zip(messages, VIEW.stories, strict=True):
        parsed = email.message_from_bytes(message.as_bytes(), policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        assert parsed["From"].addresses[0].display_name == s.author
        assert parsed["From"].addresses[0].addr_spec == "circle@example.org"  # not theirs
        assert parsed["Date"].datetime == s.received_at
        assert parsed["Message-ID"] == f"<{s.message_id}>"
        body = parsed.get_body(preferencelist=("plain",))
        assert body is not None and s.text.strip() in str(body.get_content())
        assert "\n" not in str(parsed["Subject"])
    subjects = [str(email.message_from_bytes(m.as_bytes(), policy=policy.default)["Subject"])
                for m in messages]
    assert subjects[0] == "Kick-start *your* journey: Chandra Rao, before the first check-in"
    assert subjects[1] == ("Kick-start *your* journey: Alice Example, check-in 1, "
                           "Tuesday 1 December 2026")
    assert messages[1].get_from().startswith("circle@example.org ")


def test_mbox_with_emails_uses_their_own_addresses() -> None:
    messages = list(mbox_messages(VIEW, emails=True))
    froms = [email.message_from_bytes(m.as_bytes(), policy=policy.default)["From"].addresses[0]
             for m in messages]
    assert [a.addr_spec for a in froms] == [s.email for s in VIEW.stories]


def test_mbox_headers_cannot_be_added_through_a_name() -> None:
    sneaky = replace(BOB, author="Mallory\r\nBcc: everyone@example.com")
    view = replace(VIEW, sections=(BookSection(3, VIEW.sections[3].start, False, (sneaky,)),))
    (message,) = mbox_messages(view, emails=False)
    parsed = email.message_from_bytes(message.as_bytes(), policy=policy.default)
    assert parsed["Bcc"] is None
    assert parsed["From"].addresses[0].display_name == "Mallory Bcc: everyone@example.com"
