"""`circleback export`: the cohort book from a real database (SQLite and PostgreSQL), its
stories sent as replies through the real mail servers, in each format; the HTML in
Debian's Chromium at a phone's and a desktop's width.

Each Chromium case saves a full-page screenshot to its pytest tmp dir, for a human to look at.
"""

from __future__ import annotations

import asyncio
import csv
import email
import hashlib
import logging
import mailbox
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage, Message
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from cohort_kit import PASSWORD, cohort_config, inbox, new_people, send, thunderbird_reply
from markdown_it import MarkdownIt

from service.cli import build_parser, main
from service.core.clock import ManualClock
from service.dev.devmail import DevMailServer
from service.runtime.passes import run_once
from service.runtime.service import opened
from service.store.book import book_facts
from service.store.models import Participant, Resource, Story

try:
    from playwright.async_api import Browser, Dialog, Route, async_playwright
except ImportError:  # pragma: no cover - the test extra installs it
    pytest.fail("Playwright is missing: pip install -e '.[test]' (or bash .ci/setup --test)",
                pytrace=False)

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# A link as long as the ones whiteboard apps make: it must wrap on a phone, not widen the page.
LONG_URL = "https://board.example.com/app/board/" + "uXjVNqkTdwA" * 22 + "?share=team"
HOSTILE = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "{{ 7*7 }}",
           "[this](javascript:alert(1))")
ALICE_STORY = (f"We tried {HOSTILE[0]} and {HOSTILE[1]} in the team wiki.\n"
               f"{HOSTILE[2]} stayed text, and so did {HOSTILE[3]}.\n"
               "# Not a heading, *not bold*\n"
               "The retro guide we used: https://example.org/retro-guide\n"
               f"And our board, for anyone who wants to copy it: {LONG_URL}")
CAROL_STORY = "今週は朝の15分を学習に使いました。小さな一歩ですが、続けられそうです 🎉🙂"
BOB_STORY = "Bob never agreed to share: the quarterly numbers are worrying"
DAVE_PRIVATE = "Dave's private words: my manager is making this hard"
NEVER = ("Bob never agreed", "quarterly numbers", "Dave's private words", "my manager")


def name_of(address: str) -> str:
    """The name cohort_config gives each participant."""
    return f"{address.split('@')[0].title()} Tester"


@dataclass(frozen=True)
class Cohort:
    config: Path
    database: Path | None  # the SQLite file; None on PostgreSQL
    sharing: tuple[str, ...]  # names of those whose stories are in the book
    silent: tuple[str, ...]  # names of those whose stories are not


def _kind(message: Message) -> str:
    return str(message["X-Circleback-Kind"])


@pytest.fixture
async def cohort(mailserver: DevMailServer, tmp_path: Path, db_url: str,
                 monkeypatch: pytest.MonkeyPatch) -> Cohort:
    """A cohort whose stories need consent, after its first round of replies: Alice and
    Carol said "share", Bob did not, Dave's story is private."""
    people = new_people(mailserver, monkeypatch)
    carol, dave = (f"{who}-{people.tag}@example.test" for who in ("carol", "dave"))
    for address in (carol, dave):
        await mailserver.create_user(address, PASSWORD)
    everyone = [people.alice, people.bob, carol, dave]
    clock = ManualClock(datetime.now(UTC))
    config = cohort_config(tmp_path, mailserver, db_url, people.cohort, everyone, clock.now(),
                           cohort_extra="stories_need_consent = true", count=2)
    async with opened(config, clock) as runtime:
        prompts: dict[str, Message] = {}
        for _ in range(12):  # invitations first, the prompt a little later
            await run_once(runtime)
            for address in everyone:
                found = [m for m in await inbox(mailserver, address) if _kind(m) == "prompt"]
                if found:
                    prompts[address] = found[0]
            if len(prompts) == len(everyone):
                break
            clock.advance(timedelta(minutes=30))
        assert len(prompts) == len(everyone), "the prompt never came"

        async def reply(address: str, text: str) -> None:
            prompt = prompts[address]
            await send(mailserver, thunderbird_reply(f"{name_of(address)} <{address}>", prompt, text),
                       str(prompt["Reply-To"]))

        await reply(people.alice, ALICE_STORY)
        await reply(people.bob, BOB_STORY)
        await reply(carol, "share")
        await reply(dave, f"private\n{DAVE_PRIVATE}")
        clock.advance(timedelta(minutes=5))
        await run_once(runtime)
        await reply(people.alice, "share")  # her story joins the book now
        await reply(carol, CAROL_STORY)
        clock.advance(timedelta(minutes=5))
        await run_once(runtime)
    database = Path(db_url.removeprefix("sqlite://")) if db_url.startswith("sqlite://") else None
    return Cohort(config.path, database, (name_of(people.alice), name_of(carol)),
                  (name_of(people.bob), name_of(dave)))


async def export(*argv: str) -> int:
    """The command as `circleback export ...` runs it (inside this test's event loop)."""
    args = build_parser().parse_args(["export", *argv])
    return int(await args.coro(args))


def _digest(path: Path | None) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path else ""


# --- each format, from a real database ----------------------------------------------------

async def test_markdown_book(cohort: Cohort, capsys: pytest.CaptureFixture[str]) -> None:
    before = _digest(cohort.database)
    assert await export(str(cohort.config), "--format", "md") == 0
    captured = capsys.readouterr()
    text = captured.out
    assert "2 stories and 2 links" in captured.err
    assert _digest(cohort.database) == before  # looking only: the database is unchanged
    md = MarkdownIt("commonmark")
    html = md.render(text)
    kinds = [t.type for t in md.parse(text)]
    assert "<script" not in html and "<img" not in html and 'href="javascript' not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "{{ 7*7 }} stayed text" in html
    assert "# Not a heading, *not bold*" in html
    assert "code_block" not in kinds and "fence" not in kinds
    assert CAROL_STORY in text
    for name in cohort.sharing:
        assert f"### {name}" in text
    for name in cohort.silent:
        assert name not in text
    for words in NEVER:
        assert words not in text
    assert "## Check-in 1 · " in text
    assert '<a href="https://example.org/retro-guide">' in html
    assert "shared by " + cohort.sharing[0] in html


async def test_csv_book_round_trips(cohort: Cohort, tmp_path: Path) -> None:
    out = tmp_path / "book.csv"
    assert await export(str(cohort.config), "--format", "csv", "--out", str(out)) == 0
    with out.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["author"] for r in rows] == list(cohort.sharing)
    assert "email" not in rows[0]  # no addresses unless asked for
    assert {r["checkin"] for r in rows} == {"1"}
    alice, carol = rows
    assert alice["text"].startswith("We tried <script>alert(1)</script>")  # CSV is data
    assert alice["links"] == f"https://example.org/retro-guide\n{LONG_URL}"
    assert carol["text"] == CAROL_STORY  # Japanese and emoji, exactly
    assert not [r for r in rows for words in NEVER if words in r["text"]]

    assert await export(str(cohort.config), "--format", "csv", "--out", str(out),
                        "--with-emails") == 0
    with out.open(encoding="utf-8-sig", newline="") as f:
        emails = [r["email"] for r in csv.DictReader(f)]
    assert [e.split("-")[0] for e in emails] == ["alice", "carol"]


async def test_mbox_book_opens_in_a_mail_client(cohort: Cohort, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert await export(str(cohort.config), "--format", "mbox") == 0
    assert "Wrote flow-book.mbox: 2 stories" in capsys.readouterr().out  # the default name
    box = mailbox.mbox(tmp_path / "flow-book.mbox", create=False)
    try:
        raw = [bytes(m) for m in box]
    finally:
        box.close()
    messages = [email.message_from_bytes(r, policy=policy.default) for r in raw]
    assert len(messages) == 2
    for message, name in zip(messages, cohort.sharing, strict=True):
        assert isinstance(message, EmailMessage) and not message.defects
        sender = message["From"].addresses[0]
        assert sender.display_name == name and sender.addr_spec.startswith("circle-")
        assert str(message["Subject"]).startswith(f"Flow cohort: {name}, check-in 1, ")
        assert abs(message["Date"].datetime - datetime.now(UTC)) < timedelta(hours=3)
        assert message["Message-ID"].endswith("@cohort.test>")
    body = messages[1].get_body(preferencelist=("plain",))
    assert body is not None and CAROL_STORY in str(body.get_content())


async def test_the_book_is_read_in_three_queries_whatever_its_size(
        mailserver: DevMailServer, tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """No query per story or per participant: 300 stories (a third private or awaiting
    consent) and their links are read in the same three queries as two would be."""
    people = new_people(mailserver, monkeypatch)
    config = cohort_config(tmp_path, mailserver, db_url, people.cohort,
                           [people.alice, people.bob], datetime.now(UTC))
    now = datetime.now(UTC)
    async with opened(config) as runtime:  # the daemon's way in: it makes the database
        alice = await Participant.get(cohort_id="flow", email=people.alice)
        bob = await Participant.get(cohort_id="flow", email=people.bob)
        for n in range(300):
            private, held = n % 3 == 1, n % 3 == 2
            story = await Story.create(
                cohort_id="flow", participant=alice if n % 2 else bob, checkin_number=1 + n % 3,
                message_id=f"m{n}", text=f"story {n}", private=private, received_at=now,
                shared_at=None if private or held else now)
            await Resource.create(cohort_id="flow", url=f"https://example.org/{n}", url_key=str(n),
                                  title=f"link {n}", participant=story.participant, story=story,
                                  created_at=now)
        assert runtime.stored
    async with opened(config, read_only=True):
        caplog.set_level(logging.DEBUG, logger="tortoise.db_client")
        caplog.clear()
        facts = await book_facts("flow")
        queries = [r for r in caplog.records if r.name == "tortoise.db_client"
                   and re.match(r"\s*SELECT", r.getMessage(), re.IGNORECASE)]
    assert len(facts.stories) == 100 and len(facts.links) == 100
    assert {s.text for s in facts.stories} == {f"story {n}" for n in range(0, 300, 3)}
    assert len(queries) == 3, [q.getMessage()[:80] for q in queries]


async def _pg_tables(url: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        return [str(r["tablename"]) for r in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    finally:
        await conn.close()


def test_export_without_a_database_creates_none(tmp_path: Path, mailserver: DevMailServer,
                                                db_url: str, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """A cohort that never ran: a SQLite file that does not exist, or a PostgreSQL database
    circleback never used. Export says so, and leaves neither a file nor a table behind."""
    people = new_people(mailserver, monkeypatch)
    config = cohort_config(tmp_path, mailserver, db_url, people.cohort, [people.alice],
                           datetime.now(UTC))
    out = tmp_path / "book.html"
    assert main(["export", str(config.path), "--format", "html", "--out", str(out)]) == 1
    assert "Nothing to export yet" in capsys.readouterr().err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cohort.toml"]  # no cb.sqlite3
    if not db_url.startswith("sqlite://"):
        assert asyncio.run(_pg_tables(db_url)) == []


def test_usage_mistakes_exit_2(tmp_path: Path, mailserver: DevMailServer,
                               monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    people = new_people(mailserver, monkeypatch)
    config = cohort_config(tmp_path, mailserver, None, people.cohort, [people.alice],
                           datetime.now(UTC))
    assert main(["export", str(config.path), "--format", "mbox", "--out", "-"]) == 2
    assert "give --out FILE.mbox" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["export", str(config.path), "--format", "pdf"])
    assert exited.value.code == 2


# --- the HTML in a browser ------------------------------------------------------------------

@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless. Fails (never skips) naming the package when it is missing."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's Chromium with `apt-get install -y "
                    "chromium` (bash .ci/setup --test does it)", pytrace=False)
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


_SHAPE_JS = """
() => ({
  scrollWidth: document.documentElement.scrollWidth,
  innerWidth: window.innerWidth,
  text: document.body.innerText,
  scripts: document.querySelectorAll('script').length,
  handlers: [...document.querySelectorAll('*')].flatMap(e => [...e.attributes]
      .filter(a => a.name.toLowerCase().startsWith('on')).map(a => `${e.tagName} ${a.name}`)),
  hrefs: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href')),
  ids: [...document.querySelectorAll('[id]')].map(e => e.id),
  h1: document.querySelectorAll('h1').length,
  authors: [...document.querySelectorAll('article h3')].map(h => h.innerText),
  sectionBreaks: [...document.querySelectorAll('section')].map(s => getComputedStyle(s).breakBefore),
  wide: [...document.querySelectorAll('body *')]
      .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
      .map(e => `${e.tagName}: ${(e.innerText || '').slice(0, 60)}`).slice(0, 5),
})
"""


async def _in_chromium(browser: Browser, path: Path, width: int, screenshot: Path) -> dict[str, Any]:
    """The page as a browser shows it from the file, scripts on (so that any script that
    slipped through would run and be caught), the network cut off; then as it prints."""
    context = await browser.new_context(viewport={"width": width, "height": 900})
    try:
        page = await context.new_page()
        dialogs: list[str] = []
        requests: list[str] = []

        async def on_dialog(dialog: Dialog) -> None:
            dialogs.append(dialog.message)
            await dialog.dismiss()

        async def no_network(route: Route) -> None:
            if not route.request.url.startswith("file:"):
                requests.append(route.request.url)
            await (route.continue_() if route.request.url.startswith("file:") else route.abort())

        page.on("dialog", on_dialog)
        await page.route("**/*", no_network)
        await page.goto(path.as_uri(), wait_until="load")
        await page.wait_for_timeout(100)  # an <img onerror> fires after a failed load
        await page.screenshot(path=str(screenshot), full_page=True)
        shape: dict[str, Any] = await page.evaluate(_SHAPE_JS)
        await page.emulate_media(media="print")
        shape["printBreaks"] = await page.evaluate(
            "[...document.querySelectorAll('section')].map(s => getComputedStyle(s).breakBefore)")
        shape["pdf"] = await page.pdf(format="A4")
        shape["dialogs"], shape["requests"] = dialogs, requests
        return shape
    finally:
        await context.close()


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


@pytest.mark.parametrize("width", [375, 1280])
async def test_html_book_in_chromium(cohort: Cohort, browser: Browser, tmp_path: Path,
                                     width: int) -> None:
    out = tmp_path / "book.html"
    assert await export(str(cohort.config), "--format", "html", "--out", str(out)) == 0
    shape = await _in_chromium(browser, out, width, tmp_path / f"book-{width}.png")
    assert shape["scrollWidth"] <= shape["innerWidth"], f"scrolls sideways: {shape['wide']}"
    assert shape["dialogs"] == [] and shape["scripts"] == 0 and shape["handlers"] == []
    assert shape["requests"] == []  # self-contained: it asks the network for nothing
    assert not [h for h in shape["hrefs"] if h.lower().startswith(("javascript:", "data:"))]
    assert all(h[1:] in shape["ids"] for h in shape["hrefs"] if h.startswith("#"))
    text = _flat(shape["text"])
    for words in HOSTILE:
        assert words in text, f"{words!r} should be shown as text"
    assert "{{ 7*7 }} stayed text" in text and "# Not a heading, *not bold*" in text
    assert CAROL_STORY in text
    assert shape["authors"] == list(cohort.sharing)
    for name in cohort.silent:
        assert name not in text
    for words in NEVER:
        assert words not in text
    assert {"https://example.org/retro-guide", LONG_URL} <= set(shape["hrefs"])
    assert LONG_URL in text  # shown whole, so that a printed copy keeps it
    assert shape["h1"] == 1 and "Facilitator: Helen" in text
    # Printed: each check-in (and the resources) starts a page, after the title page.
    assert shape["sectionBreaks"] == ["auto", "auto"] and shape["printBreaks"] == ["page", "page"]
    pages = len(re.findall(rb"/Type\s*/Page[^s]", shape["pdf"]))
    assert pages >= 3, pages

