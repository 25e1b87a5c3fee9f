"""HTML replies: find where the client's quoted thread starts, and convert HTML to text."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from service.inbound import patterns as p

__all__ = ["html_to_text", "split_html_reply"]

_SKIP = frozenset({"script", "style", "head", "title", "template", "noscript", "xml"})
_PARAGRAPH = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table", "pre", "blockquote", "dl"}
)
_BLOCK = frozenset(
    {
        "div",
        "tr",
        "section",
        "article",
        "header",
        "footer",
        "hr",
        "li",
        "dt",
        "dd",
        "address",
        "center",
        "main",
        "nav",
        "aside",
        "figure",
        "figcaption",
        "caption",
        "form",
        "fieldset",
    }
)
_VOID = frozenset({"br", "hr", "img", "meta", "link", "input", "col", "area", "base", "wbr"})
# Word-generated HTML (Outlook desktop, Outlook for Mac) writes one <p class="MsoNormal"> per
# line, with margin:0 in its stylesheet, and <p class="MsoNormal"><o:p>&nbsp;</o:p></p> for an
# empty line: such paragraphs are lines, not paragraphs separated by a blank line.
_TIGHT_CLASSES = frozenset({"msonormal", "msonospacing", "msoplaintext"})
_MARGIN_ZERO = re.compile(r"(?:^|;)margin:0(?:\.0)?(?:cm|px|pt|in|em)?(?:;|$)")
_MARGIN_BOTTOM = re.compile(r"(?:^|;)margin-bottom:(?!0(?:\.0)?(?:cm|px|pt|in|em)?(?:;|$))")


def _tight_paragraph(attrs: list[tuple[str, str | None]]) -> bool:
    """True for a <p> rendered without vertical margins (see _TIGHT_CLASSES)."""
    attr = {k.lower(): (v or "") for k, v in attrs}
    style = re.sub(r"\s+", "", attr.get("style", "").lower())
    if _MARGIN_BOTTOM.search(style):
        return False
    return bool(set(attr.get("class", "").lower().split()) & _TIGHT_CLASSES or _MARGIN_ZERO.search(style))


class _MarkerFinder(HTMLParser):
    """Finds the source offset of the first quote marker of a known client."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self._line_starts = [0]
        for m in re.finditer("\n", html):
            self._line_starts.append(m.end())
        self.marker: int | None = None
        self.candidates: list[int] = []  # Outlook border-top divs, confirmed later

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.marker is not None:
            return
        attr = {k.lower(): (v or "") for k, v in attrs}
        classes = set(attr.get("class", "").lower().split())
        ident = attr.get("id", "").lower()
        line, col = self.getpos()
        here = self._line_starts[line - 1] + col
        if (
            # Gmail: quoted thread and the participant's signature block.
            classes & {"gmail_quote", "gmail_quote_container", "gmail_signature", "gmail_attr"}
            # Outlook desktop/web ("divRplyFwdMsg"), new Outlook ("appendonsend"), signatures.
            or ident
            in {
                "divrplyfwdmsg",
                "appendonsend",
                "ms-outlook-mobile-signature",
                "signature",
                "x_divrplyfwdmsg",
            }
            # Apple Mail / iOS Mail.
            or (tag == "blockquote" and attr.get("type", "").lower() == "cite")
            # Thunderbird.
            or classes & {"moz-cite-prefix", "moz-signature"}
            # Yahoo: "yahoo_quoted" and "ydp…yahoo_quoted" variants.
            or any("yahoo_quoted" in c for c in classes)
            or "yahoo_quoted" in ident
        ):
            self.marker = here
        elif tag == "div" and re.search(
            r"border-top:\s*solid", attr.get("style", "").lower().replace("none;", "")
        ):
            # Outlook desktop: <div style="border:none;border-top:solid #E1E1E1 1.0pt">
            # followed by "<b>From:</b> ...". Confirmed by `split_html_reply`.
            self.candidates.append(here)


def split_html_reply(html: str) -> tuple[str, str]:
    """Split HTML at the first client quote marker: (participant's part, quoted thread)."""
    finder = _MarkerFinder(html)
    try:
        finder.feed(html)
        finder.close()
    except Exception:  # html.parser is lenient, but never let a reply crash classification
        return html, ""
    offsets = [finder.marker] if finder.marker is not None else []
    for candidate in finder.candidates:
        if finder.marker is not None and candidate > finder.marker:
            break
        head = html_to_text(html[candidate : candidate + 3000]).strip().split("\n", 1)[0]
        if p.OUTLOOK_FROM.match(head):
            offsets.append(candidate)
            break
    if not offsets:
        return html, ""
    cut_at = min(offsets)
    return html[:cut_at], html[cut_at:]


class _TextWriter(HTMLParser):
    """Renders HTML as readable plain text: paragraphs, line breaks, lists, quotes, links."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[tuple[int, str]] = []  # (blockquote depth, text)
        self.current = ""
        self.skip = 0
        self.pre = 0
        self.quote = 0
        self.lists: list[str] = []
        self.links: list[tuple[str, int]] = []  # (href, len(current) at <a>)
        self.tight: int | None = None  # len(lines) at the start of an open tight <p>

    # -- line buffer ---------------------------------------------------------------
    def flush(self) -> None:
        self.lines.append((self.quote, self.current.rstrip()))
        self.current = ""

    def block(self, blank: bool) -> None:
        if re.fullmatch(r"\s*- ", self.current):
            return  # <li><p>text</p></li>: the list marker waits for its text
        if self.current.strip():
            self.flush()
        self.current = ""
        if blank and self.lines and self.lines[-1][1]:
            self.lines.append((self.quote, ""))

    def write(self, data: str) -> None:
        if self.skip:
            return
        if not self.pre:
            data = re.sub(r"[ \t\r\n\f]+", " ", data)
            if (not self.current or self.current.endswith(" ")) and data.startswith(" "):
                data = data[1:]
            self.current += data
            return
        parts = data.split("\n")
        for i, part in enumerate(parts):
            if i:
                self.flush()
            self.current += part

    # -- parser callbacks ----------------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
            return
        if tag == "br":
            self.flush()
        elif tag == "blockquote":
            self.block(True)
            self.quote += 1
        elif tag in ("ul", "ol"):
            self.block(not self.lists)
            self.lists.append(tag)
        elif tag == "li":
            self.block(False)
            self.current = "  " * max(0, len(self.lists) - 1) + "- "
        elif tag == "pre":
            self.block(True)
            self.pre += 1
        elif tag == "p" and _tight_paragraph(attrs):
            self.block(False)
            self.tight = len(self.lines)
        elif tag in _PARAGRAPH:
            self.block(True)
        elif tag in _BLOCK:
            self.block(False)
        elif tag in ("td", "th") and self.current.strip():
            self.current += " "
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            self.links.append((href.strip(), len(self.current)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
            return
        if tag == "blockquote":
            self.block(False)
            self.quote = max(0, self.quote - 1)
            self.block(True)
        elif tag in ("ul", "ol"):
            if self.lists:
                self.lists.pop()
            self.block(not self.lists)
        elif tag == "pre":
            self.flush()
            self.pre = max(0, self.pre - 1)
            self.block(True)
        elif tag == "p" and self.tight is not None:
            if not self.current.strip() and len(self.lines) == self.tight:
                self.current = ""
                self.flush()  # an empty line: <p class="MsoNormal">&nbsp;</p>
            else:
                self.block(False)
            self.tight = None
        elif tag in _PARAGRAPH:
            self.block(True)
        elif tag in _BLOCK:
            self.block(False)
        elif tag == "a" and self.links:
            href, start = self.links.pop()
            if not href.lower().startswith(("http://", "https://")):
                return
            label = self.current[start:].strip()
            if not label:
                self.current += href
            elif _same_url(label, href):
                return
            else:
                self.current += f" ({href})"

    def handle_data(self, data: str) -> None:
        self.write(data.replace("\xa0", " "))

    def text(self) -> str:
        if self.current.strip():
            self.flush()
        out: list[str] = []
        for depth, line in self.lines:
            if not line and out and not out[-1].lstrip("> "):
                continue  # collapse runs of blank lines
            out.append(("> " * depth + line).rstrip() if depth else line)
        return "\n".join(out).strip("\n")


def _same_url(label: str, href: str) -> bool:
    def bare(url: str) -> str:
        return re.sub(r"^(https?://)?(www\.)?", "", url.strip().lower()).rstrip("/")

    return bare(label) == bare(href)


def html_to_text(html: str) -> str:
    """Convert HTML to plain text: paragraphs, <br>, lists as "- ", links as "text (url)"."""
    writer = _TextWriter()
    try:
        writer.feed(html.replace("\x00", ""))
        writer.close()
    except Exception:  # html.parser is lenient; fall back to stripping tags
        return re.sub(r"<[^>]*>", "", html).strip()
    return writer.text()
