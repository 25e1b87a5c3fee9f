"""Which cohort an inbound message belongs to, when one mailbox serves several.

Pure: the caller looks up what needs the database (our own Message-IDs, the owner of a
reply token) and passes the answers in. The order, most to least certain:

1. a reply token in a recipient (``circle+TOKEN@...``) that verifies for its cohort;
2. In-Reply-To/References (or, in a bounce, the returned headers) naming mail we sent;
3. the sender is a participant of exactly one of the mailbox's cohorts;
4. the mailbox serves only one cohort.

Otherwise the message belongs to no cohort: it is kept for a person, never published.

Whether a message concerns circleback at all (``tokenised``, ``addressed_to``) decides,
for a mailbox that is also a person's own, what is moved out of the inbox and what is
left where it is.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32

from service.inbound.parse import RECIPIENT_HEADERS

__all__ = ["Route", "RouteContext", "addressed_to", "recipient_tokens", "referenced_ids", "route",
           "tokenised"]

_RETURNED_ID = re.compile(rb"(?im)^Message-ID\s*:\s*<([^<>\s]+)>")
_HEAD_BYTES = 65536


@dataclass(frozen=True)
class RouteContext:
    cohort_ids: Sequence[str]  # the cohorts this mailbox serves
    addresses: Collection[str]  # their reply addresses (lower case), circle@example.org
    cohort_for_token: Callable[[str], str | None]  # verified; None when not valid here
    sent: Mapping[str, str]  # our Message-IDs the message refers to -> cohort id
    cohorts_of_sender: Callable[[str], Collection[str]]  # a participant's cohorts here


@dataclass(frozen=True)
class Route:
    cohort_id: str | None
    reason: str


def _headers(raw: bytes) -> list[tuple[str, str]]:
    try:
        parsed = BytesHeaderParser(policy=compat32).parsebytes(raw[:_HEAD_BYTES])
    except Exception:
        return []
    return [(str(k).lower(), str(v)) for k, v in parsed.items()]


def referenced_ids(raw: bytes) -> list[str]:
    """Message-IDs the message refers to: In-Reply-To, References and, for a bounce,
    the Message-ID of the returned message (RFC 3464 text/rfc822-headers)."""
    ids: list[str] = []
    for name, value in _headers(raw):
        if name in ("in-reply-to", "references"):
            ids.extend(part.strip("<> \t\r\n") for part in value.split() if "@" in part)
    head_end = raw.find(b"\r\n\r\n")
    head_end = head_end if head_end >= 0 else raw.find(b"\n\n")
    body = raw[head_end:2_000_000] if head_end >= 0 else b""
    ids += [m.decode("ascii", "replace") for m in _RETURNED_ID.findall(body)]
    return list(dict.fromkeys(ids))[:50]


def recipient_tokens(headers: Sequence[tuple[str, str]], addresses: Collection[str]) -> list[str]:
    """Tokens of recipients ``LOCAL+TOKEN@DOMAIN`` for any of ``addresses`` (case kept)."""
    bases = {tuple(a.lower().split("@", 1)) for a in addresses if "@" in a}
    values = [v for name, v in headers if name.lower() in RECIPIENT_HEADERS]
    tokens: list[str] = []
    for _, address in email.utils.getaddresses(values):
        local, _, domain = address.strip().strip("<>").rpartition("@")
        base, plus, token = local.partition("+")
        if plus and token and (base.lower(), domain.lower()) in bases and token not in tokens:
            tokens.append(token)
    return tokens


def tokenised(raw: bytes, addresses: Collection[str]) -> bool:
    """True when a recipient is a tokenised reply address (``circle+TOKEN@...``) of one
    of ``addresses``, valid or not: mail only circleback's own messages point to."""
    return bool(recipient_tokens(_headers(raw), addresses))


def addressed_to(raw: bytes, address: str) -> bool:
    """True when ``address`` itself (the plain cohort address) is among the recipients."""
    values = [v for name, v in _headers(raw) if name in RECIPIENT_HEADERS]
    wanted = address.strip().lower()
    return any(a.strip().strip("<>").lower() == wanted
               for _, a in email.utils.getaddresses(values))


def route(raw: bytes, ctx: RouteContext) -> Route:
    """The cohort a message belongs to (see the module's docstring for the order)."""
    headers = _headers(raw)
    for token in recipient_tokens(headers, ctx.addresses):
        cohort = ctx.cohort_for_token(token)
        if cohort is not None:
            return Route(cohort, "reply token")
    for message_id in referenced_ids(raw):
        cohort = ctx.sent.get(message_id)
        if cohort is not None:
            return Route(cohort, "a reply to our mail")
    senders = [a.lower() for _, a in email.utils.getaddresses(
        [v for name, v in headers if name == "from"]) if a]
    if senders:
        mine = set(ctx.cohorts_of_sender(senders[0])) & set(ctx.cohort_ids)
        if len(mine) == 1:
            return Route(mine.pop(), "the sender is a participant of that cohort")
    if len(ctx.cohort_ids) == 1:
        return Route(ctx.cohort_ids[0], "the mailbox serves one cohort")
    return Route(None, "no reply token, no reference to our mail, and the sender is not a "
                       "participant of exactly one of the cohorts this mailbox serves")
