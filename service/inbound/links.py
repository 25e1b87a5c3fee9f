"""Pull the links a participant shared out of their (already trimmed) reply."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urlsplit

__all__ = ["Link", "extract_links", "normalise_url"]

_MARKDOWN = re.compile(r"\[([^\]\n]{1,300})\]\(\s*<?(https?://[^\s<>]+?)>?\s*\)(?![^\s(]*\))")
_URL = re.compile(r"https?://[^\s<>\"'`{}|\\^\[\]]+", re.IGNORECASE)
_TRAILING = ".,;:!?'\"*_»›”’"
_PAIRS = {")": "(", "]": "[", "}": "{"}
_LIST_MARKER = re.compile(r"^\s*(?:[-*•>]+|\d+[.)])\s+")
_MAX_TITLE_WORDS = 8
_CONNECTORS = frozenset(
    {"and", "or", "also", "see", "und", "oder", "et", "ou", "y", "o", "e", "og", "eller", "och", "en", "i",
     "here", "here's", "try", "read", "watch", "siehe", "voir", "ver"}
)
# Words a title does not end with: they lead into the link ("because of", "thanks to") ...
_DANGLING = frozenset(
    {"of", "to", "at", "from", "on", "in", "by", "with", "for", "about", "via", "like", "is",
     "are", "was", "the", "a", "an", "my", "our", "this", "that", "von", "zu", "bei", "de", "du",
     "des", "la", "le", "el", "à", "auf", "über",
     # ... or a verdict on it, which names nothing: "This helped", "Really useful"
     "helped", "helps", "useful", "recommend", "recommended", "interesting", "found", "loved",
     "liked", "great", "good", "here", "read", "watched", "geholfen", "hilfreich"}
)
# A lone word naming what the link is, not which one: the host and path say that.
_GENERIC = frozenset(
    {"book", "article", "link", "video", "podcast", "resource", "post", "blog", "paper", "site",
     "website", "page", "talk", "episode", "course", "tool", "app", "this", "it", "buch",
     "artikel", "livre", "libro", "lien", "enlace"}
)


@dataclass(frozen=True)
class Link:
    """A shared resource: its URL and a human title."""

    url: str
    title: str


def extract_links(text: str, html: str | None = None, *, skip_prefixes: Collection[str] = ()) -> list[Link]:
    """Links in plain text (bare, <url>, markdown) and HTML anchors, deduplicated.

    Titles come from the markdown or anchor text, else the few words before the link on
    its line, else host and path. mailto: links, unsubscribe links and URLs starting with
    one of `skip_prefixes` (our own links) are left out.
    """
    found: list[tuple[Link, bool]] = []  # (link, title came from markdown or an anchor)
    for line in text.replace("\r\n", "\n").split("\n"):
        found.extend(_links_in_line(line))
    if html:
        found.extend(_anchors(html))
    result: dict[str, Link] = {}
    explicit: set[str] = set()
    for link, is_explicit in found:
        if _skip(link.url, skip_prefixes):
            continue
        key = normalise_url(link.url)
        if key not in result:
            result[key] = link
        elif is_explicit and key not in explicit:
            result[key] = Link(result[key].url, link.title)  # a real title beats a guess
        if is_explicit:
            explicit.add(key)
    return list(result.values())


def normalise_url(url: str) -> str:
    """A deduplication key: scheme-less, lower-case host, no default port or trailing slash."""
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower().removeprefix("www.")
        port = parts.port
    except ValueError:
        return url.strip().lower()
    if port and port not in (80, 443):
        host = f"{host}:{port}"
    path = parts.path.rstrip("/")
    query = f"?{parts.query}" if parts.query else ""
    fragment = f"#{parts.fragment}" if parts.fragment else ""
    return f"{host}{path}{query}{fragment}"


def _links_in_line(line: str) -> list[tuple[Link, bool]]:
    links: list[tuple[Link, bool]] = []
    spans: list[tuple[int, int]] = []
    for m in _MARKDOWN.finditer(line):
        url = _strip_trailing(m.group(2))
        links.append((Link(url, _clean_title(m.group(1))), True))
        spans.append(m.span())
    for m in _URL.finditer(line):
        if any(start <= m.start() < end for start, end in spans):
            continue
        url = _strip_trailing(m.group(0))
        # The title is taken from the text since the previous link on the line only.
        previous_end = max((end for _, end in spans if end <= m.start()), default=0)
        before = line[previous_end : m.start()]
        spans.append((m.start(), m.start() + len(url)))
        links.append((Link(url, _title_before(url, before) or _host_path(url)), False))
    return links


def _strip_trailing(url: str) -> str:
    """Remove sentence punctuation after a URL, keeping balanced parentheses.

    "(see https://en.wikipedia.org/wiki/Foo_(bar))." keeps "Foo_(bar)" and drops "))."
    minus the balanced one.
    """
    while url:
        last = url[-1]
        if last in _TRAILING:
            url = url[:-1]
        elif last in _PAIRS and url.count(last) > url.count(_PAIRS[last]):
            url = url[:-1]
        else:
            break
    return url


def _title_before(url: str, before: str) -> str:
    """A title from the words just before a bare URL, only when they read like one.

    Only the clause the URL ends is used (after the last sentence end or colon-label), so
    "Goal: learn to give feedback kindly. Book https://..." gives "Book: host/path", not a
    fragment of the sentence before; a clause longer than a title gives the host and path.
    """
    text = before.strip()
    # html_to_text renders anchors as "title (url)"; a markdown-less "title: url" too.
    text = re.sub(r"[\s:(\[<–—-]+$", "", text)
    words: list[str] = []
    for clause in reversed(re.split(r"(?<=[.!?;,])\s+|\s[–—-]\s|:\s", text)):
        clause = re.sub(r"^[\s).,;:\]>–—-]+|[\s.,;]+$", "", _LIST_MARKER.sub("", clause))
        words = clause.split()
        while words and words[0].lower() in _CONNECTORS:
            words = words[1:]  # "... (url1) and url2": "and" is no title
        while words and words[-1].lower() in _CONNECTORS:
            words = words[:-1]  # "the talk, see url"
        if words:
            break
    if not words or len(words) > _MAX_TITLE_WORDS or words[-1].lower() in _DANGLING:
        # "because of url", "thanks to url": the words lead into the link, they do not name it
        return ""
    title = _clean_title(" ".join(words))
    if not title:
        return ""
    title = title[0].upper() + title[1:]
    if len(words) == 1 and words[0].lower().strip(".,") in _GENERIC:
        return f"{title}: {_host_path(url)}"  # "Book: example.com/atomic-habits"
    return title


def _clean_title(title: str) -> str:
    return re.sub(r"\s+", " ", title).strip(" \t*_\"'“”‘’")


def _host_path(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    host = (parts.hostname or "").removeprefix("www.")
    return (host + parts.path).rstrip("/")


def _skip(url: str, prefixes: Collection[str]) -> bool:
    lowered = url.lower()
    if not lowered.startswith(("http://", "https://")):
        return True  # mailto:, tel:, javascript: ...
    if "unsubscribe" in lowered:
        return True  # ours, or a list's, quoted back at us
    return any(lowered.startswith(prefix.lower()) for prefix in prefixes)


class _AnchorParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[Link, bool]] = []
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = (dict(attrs).get("href") or "").strip()
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            href, title = self._href, _clean_title(" ".join(self._text).replace("\xa0", " "))
            self._href = None
            if not href.lower().startswith(("http://", "https://")):
                return
            if not title or normalise_url(title if "://" in title else "http://" + title) == (
                normalise_url(href)
            ):
                self.links.append((Link(href, _host_path(href)), False))
            else:
                self.links.append((Link(href, title), True))


def _anchors(html: str) -> list[tuple[Link, bool]]:
    parser = _AnchorParser()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # html.parser is lenient; a broken document just yields fewer links
        pass
    return parser.links
