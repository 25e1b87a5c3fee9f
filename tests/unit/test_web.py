from __future__ import annotations

from service.mail.web import respond

KNOWN = {"tok3n": "Alice"}
stopped: list[str] = []


async def unsubscribe(token: str) -> str | None:
    if token in KNOWN:
        stopped.append(token)
        return KNOWN[token]
    return None


async def peek(token: str) -> str | None:
    return KNOWN.get(token)


async def test_get_only_asks_post_unsubscribes() -> None:
    page = await respond("GET", "/unsubscribe/tok3n", unsubscribe, peek)
    assert page.startswith(b"HTTP/1.1 200") and b"<form method=post>" in page
    assert stopped == []  # a link scanner following the link unsubscribes nobody
    page = await respond("POST", "/unsubscribe/tok3n", unsubscribe, peek)
    assert page.startswith(b"HTTP/1.1 200") and b"Done, Alice" in page
    assert stopped == ["tok3n"]


async def test_unknown_tokens_and_paths() -> None:
    assert (await respond("POST", "/unsubscribe/nope", unsubscribe, peek)).startswith(b"HTTP/1.1 404")
    assert (await respond("GET", "/unsubscribe/<script>", unsubscribe, peek)).startswith(b"HTTP/1.1 404")
    assert (await respond("GET", "/etc/passwd", unsubscribe, peek)).startswith(b"HTTP/1.1 404")
    assert (await respond("DELETE", "/unsubscribe/tok3n", unsubscribe, peek)).startswith(b"HTTP/1.1 405")
