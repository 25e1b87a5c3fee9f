"""Trim a reply to exactly what the participant wrote.

Each line gets a label (text, empty, quote, attribution header, Outlook header block,
delimiter, signature, mobile signature); the cut is decided over the labels. What is
removed is kept in `Trimmed.cut` so that a wrong cut can be recovered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from service.inbound import patterns as p
from service.inbound.htmltext import html_to_text, split_html_reply

__all__ = ["Trimmed", "html_to_text", "split_html_reply", "trim_html_reply", "trim_reply"]

_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_OUTLOOK_WINDOW = 8  # lines after "From:" in which the rest of the block must appear


@dataclass(frozen=True)
class Trimmed:
    """The participant's own text, and what was cut from around it."""

    text: str
    cut: str


def trim_reply(text: str) -> Trimmed:
    """Trim a plain-text reply: quoted thread, attribution lines, signatures.

    Interleaved answers (text written between quoted blocks) are kept; the quoted lines
    themselves go to `cut`. Lines inside fenced code blocks are never cut.
    """
    lines = _normalise(text).split("\n")
    code = _code_lines(lines)
    end = _hard_cut(lines, code)
    removed: set[int] = set()
    for i in range(end):
        if i in code:
            continue
        if p.QUOTE.match(lines[i]):
            removed.add(i)
    # Attribution lines above kept quotes ("On ... wrote:" then interleaved answers).
    for i, span in _headers(lines, code, end):
        removed.update(range(i, i + span))
    kept: list[str] = []
    cut: list[str] = []
    gap = False
    for i, line in enumerate(lines):
        if i >= end or i in removed:
            cut.append(line)
            gap = True
            continue
        line = line if i in code else line.rstrip()
        if gap and kept:
            # Where a quote block was removed, keep exactly one blank line between answers.
            if not line and not kept[-1]:
                continue
            if line and kept[-1]:
                kept.append("")
        gap = False
        kept.append(line)
    # Outlook ends the reply with a dashed rule above the quoted header block it drew;
    # left alone it is the last line of the story.
    while kept and (not kept[-1].strip() or _RULE.match(kept[-1])):
        cut.insert(0, kept.pop())
    if not _strip_blank(kept):
        return _words_before_header(cut) or Trimmed("", _strip_blank([c.rstrip() for c in cut]))
    return Trimmed(_strip_blank(kept), _strip_blank([c.rstrip() for c in cut]))


_RULE = re.compile(r"^\s*[-_=*]{10,}\s*$")
# Where an attribution begins inside a line: "Thanks, will do! On Mon, ... wrote:".
_HEADER_START = re.compile(r"\s(?:On|Am|Le|El|Em|Il giorno|Op|Den|W dniu)\s")


def _words_before_header(cut: list[str]) -> Trimmed | None:
    """A reply is never lost to its own attribution line: when a client put the reply and
    "On ... wrote:" on one line and nothing else was kept, the words before it are the
    reply."""
    lines = [c.rstrip() for c in cut]
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None or not p.is_wrote_header(lines[first]):
        return None
    starts = list(_HEADER_START.finditer(lines[first]))
    if not starts:
        return None
    words = lines[first][: starts[-1].start()].strip()
    if not words:
        return None
    rest = [lines[first][starts[-1].start():].strip(), *lines[first + 1:]]
    return Trimmed(words, _strip_blank(rest))


def trim_html_reply(html: str) -> Trimmed:
    """Cut an HTML reply at the client's quote markers, convert to text, then trim that."""
    kept_html, cut_html = split_html_reply(html)
    trimmed = trim_reply(html_to_text(kept_html))
    cut_text = html_to_text(cut_html) if cut_html else ""
    cut = "\n\n".join(part for part in (trimmed.cut, cut_text) if part)
    return Trimmed(trimmed.text, cut)


def _normalise(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    # U+1427 is the mark Gmail's tracking extensions (Mailtrack) leave at the end of a
    # reply: invisible in the client, a stray "ᐧ" in a digest.
    return text.removeprefix("\ufeff").replace("\u1427", "")


def _strip_blank(lines: list[str]) -> str:
    """Join lines, dropping leading and trailing blank lines (indentation is kept)."""
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return "\n".join(lines[start:end])


def _code_lines(lines: list[str]) -> set[int]:
    """Indexes of lines inside (and including) closed ``` or ~~~ fences."""
    code: set[int] = set()
    start: int | None = None
    marker = ""
    for i, line in enumerate(lines):
        if p.QUOTE.match(line):
            continue
        m = _FENCE.match(line)
        if not m:
            continue
        if start is None:
            start, marker = i, m.group(1)
        elif m.group(1) == marker:
            code.update(range(start, i + 1))
            start = None
    return code  # an unclosed fence protects nothing: it is not a block


def _hard_cut(lines: list[str], code: set[int]) -> int:
    """Index of the first line from which everything is quoted thread or signature."""
    for i, line in enumerate(lines):
        if i in code:
            continue
        if p.DELIMITER.match(line) or p.SIGNATURE.match(line) or p.MOBILE_SIGNATURE.match(line):
            return i
        if p.UNDERSCORES.match(line) and _outlook_block_at(lines, _next_nonblank(lines, i + 1)):
            return i
        if _outlook_block_at(lines, i):
            return i
        span = _wrote_span(lines, i)
        if span and not _interleaved(lines, code, i + span):
            return i
    return len(lines)


def _headers(lines: list[str], code: set[int], end: int) -> list[tuple[int, int]]:
    """Attribution lines before `end` that introduce interleaved quotes: (index, line count)."""
    found: list[tuple[int, int]] = []
    i = 0
    while i < end:
        span = _wrote_span(lines, i) if i not in code else 0
        if span:
            found.append((i, span))
            i += span
        else:
            i += 1
    return found


def _wrote_span(lines: list[str], i: int) -> int:
    """1 or 2 when line i (joined with i+1, as Gmail wraps at 78 columns) is an attribution."""
    line = lines[i].strip()
    if not line or p.QUOTE.match(line):
        return 0
    if p.is_wrote_header(line) and _quotes_follow(lines, i + 1, line):
        return 1
    if i + 1 < len(lines) and lines[i + 1].strip() and not p.QUOTE.match(lines[i + 1]):
        joined = line + " " + lines[i + 1].strip()
        if p.is_wrote_header(joined) and _quotes_follow(lines, i + 2, joined):
            return 2
    return 0


def _quotes_follow(lines: list[str], start: int, header: str) -> bool:
    # "My manager wrote: ..." in a story is text; an attribution is followed by quotes,
    # or names an address ("<helen@example.org> wrote:").
    j = _next_nonblank(lines, start)
    if j < len(lines) and p.QUOTE.match(lines[j]):
        return True
    return bool(re.search(r"<[^<>\s]+@[^<>\s]+>|\[mailto:", header))


def _interleaved(lines: list[str], code: set[int], start: int) -> bool:
    """True when participant text follows a quote block after an attribution line."""
    seen_quote = False
    for j in range(start, len(lines)):
        line = lines[j]
        if p.QUOTE.match(line) and j not in code:
            seen_quote = True
            continue
        if not line.strip():
            continue
        if (
            p.SIGNATURE.match(line)
            or p.MOBILE_SIGNATURE.match(line)
            or p.DELIMITER.match(line)
            or _outlook_block_at(lines, j)
            or _wrote_span(lines, j)
        ):
            return False
        return seen_quote
    return False


def _outlook_block_at(lines: list[str], i: int) -> bool:
    """An Outlook "From:/Sent:/To:/Subject:" block starts at line i (any of 12 languages).

    Outlook desktop replies in plain text have no separator line at all, so the block
    itself is the cut; it must carry a date or subject label so that a participant's
    own "From: ..." line is not mistaken for one.
    """
    if i >= len(lines) or not p.OUTLOOK_FROM.match(lines[i]):
        return False
    others = 0
    strong = False
    for j in range(i + 1, min(len(lines), i + _OUTLOOK_WINDOW)):
        line = lines[j]
        if not line.strip():
            continue
        if p.OUTLOOK_OTHER.match(line):
            others += 1
            strong = strong or bool(p.OUTLOOK_STRONG.match(line))
        # Other lines may be a long To: list that Outlook wrapped without indentation.
    return others >= 2 and strong


def _next_nonblank(lines: list[str], start: int) -> int:
    j = start
    while j < len(lines) and not lines[j].strip():
        j += 1
    return j
