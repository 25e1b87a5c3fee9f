"""The one web page circleback serves: one-click unsubscribe (RFC 8058).

When ``[mail] base_url`` is set, prompts and digests carry
``List-Unsubscribe: <https://BASE/unsubscribe/TOKEN>`` and
``List-Unsubscribe-Post: List-Unsubscribe=One-Click``; mail clients POST there. The
daemon answers on ``[http] listen`` (put it behind the HTTPS server that owns base_url).
A GET only shows a button: link scanners follow links, and must not unsubscribe anyone.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
from collections.abc import Awaitable, Callable

log = logging.getLogger("circleback.web")

MAX_HEAD = 16 * 1024
MAX_BODY = 4 * 1024
_PATH = re.compile(r"^/unsubscribe/([A-Za-z0-9]{1,64})/?$")

Unsubscribe = Callable[[str], Awaitable[str | None]]  # token -> participant's name, or None


def _page(title: str, body: str, status: str = "200 OK") -> bytes:
    content = (
        "<!DOCTYPE html><html lang=en><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width'>"
        f"<title>{html.escape(title)}</title>"
        "<body style='font:16px/1.5 system-ui,sans-serif;max-width:32em;margin:2em auto;"
        f"padding:0 1em'><h1 style='font-size:1.4em'>{html.escape(title)}</h1>{body}</body></html>"
    ).encode()
    head = (f"HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n"
            f"Content-Length: {len(content)}\r\nCache-Control: no-store\r\n"
            "X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n")
    return head.encode() + content


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 unsubscribe: Unsubscribe, peek: Unsubscribe) -> None:
    try:
        async with asyncio.timeout(10):
            head = await reader.readuntil(b"\r\n\r\n")
            if len(head) > MAX_HEAD:
                raise ValueError("headers too large")
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            method, path, _ = request_line.split(" ", 2)
            length = 0
            for line in header_lines:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if length > MAX_BODY:
                raise ValueError("body too large")
            if length:
                await reader.readexactly(length)
        writer.write(await respond(method, path, unsubscribe, peek))
    except (ValueError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        writer.write(_page("Bad request", "", "400 Bad Request"))
    finally:
        try:
            await writer.drain()
        finally:
            writer.close()


async def respond(method: str, path: str, unsubscribe: Unsubscribe, peek: Unsubscribe) -> bytes:
    match = _PATH.match(path.split("?", 1)[0])
    if path == "/health" and method == "GET":
        return _page("ok", "")
    if match is None:
        return _page("Not found", "", "404 Not Found")
    token = match.group(1)
    if method == "GET":
        name = await peek(token)
        if name is None:
            return _page("Link not recognised", "<p>This unsubscribe link is not valid.</p>",
                         "404 Not Found")
        return _page("Stop these emails?",
                     f"<p>{html.escape(name)}, you will get no more prompts, reminders or "
                     "digests from this circle.</p><form method=post><button type=submit "
                     "style='font-size:1em;padding:.5em 1em'>Unsubscribe</button></form>")
    if method == "POST":
        name = await unsubscribe(token)
        if name is None:
            return _page("Link not recognised", "<p>This unsubscribe link is not valid.</p>",
                         "404 Not Found")
        return _page("Unsubscribed", f"<p>Done, {html.escape(name)}: no more emails from this "
                     "circle. Reply 'resume' to any of them if you change your mind.</p>")
    return _page("Method not allowed", "", "405 Method Not Allowed")


async def serve(listen: str, unsubscribe: Unsubscribe, peek: Unsubscribe) -> asyncio.Server:
    host, _, port = listen.rpartition(":")
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, unsubscribe, peek), host.strip("[]") or "127.0.0.1", int(port),
        limit=MAX_HEAD)
    log.info("Serving one-click unsubscribe on http://%s.", listen)
    return server
