"""Reading replies over IMAP: a thin, timeout-guarded edge over aioimaplib.

aioimaplib answers with `Response(result, lines)`, lines being the untagged data (the
"* " and the command name stripped), literals as separate `bytearray` items, and the
tagged completion text last. It waits forever for a command whose connection dropped,
so every call here runs under `asyncio.timeout` and is also woken by the connection-lost
callback. After any `ImapConnectionError` the Mailbox is closed: call `connect()` again.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import ssl
from collections.abc import Callable, Sequence
from typing import Any, Literal

import aioimaplib

__all__ = [
    "ImapAuthError",
    "ImapCommandError",
    "ImapConnectionError",
    "ImapError",
    "Mailbox",
    "Security",
]

log = logging.getLogger(__name__)

Security = Literal["tls", "starttls", "none"]

# RFC 2177 section 3: servers may log off a client idle for 30 minutes, so IDLE is
# re-issued before that (aioimaplib's own default is 29 minutes; leave a margin).
IDLE_RENEW = 25 * 60.0
_FETCH_START = re.compile(rb"^\d+ FETCH \(")
_UID = re.compile(rb"[( ]UID (\d+)")


class ImapError(Exception):
    """Something went wrong talking IMAP; the message says what and what to check."""


class ImapConnectionError(ImapError):
    """Could not connect, the connection dropped, or the server stopped answering."""


class ImapAuthError(ImapError):
    """The server refused the login."""


class ImapCommandError(ImapError):
    """The server answered NO or BAD to a command."""


def encode_mailbox_name(name: str) -> str:
    """Modified UTF-7 (RFC 3501 section 5.1.3), quoted for the command line."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            b64 = base64.b64encode("".join(pending).encode("utf-16-be")).decode()
            out.append("&" + b64.rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return _quote("".join(out))


def _quote(text: str) -> str:
    """An IMAP quoted string (RFC 3501 section 4.3)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(response: Any) -> str:
    """The server's words from the tagged completion line."""
    last = response.lines[-1] if response.lines else b""
    return bytes(last).decode(errors="replace").strip()


class Mailbox:
    """One IMAP connection to one mailbox: select, list new UIDs, fetch, move, IDLE."""

    def __init__(
        self,
        host: str,
        port: int,
        security: Security = "tls",
        username: str = "",
        password: str = "",
        timeout: float = 30.0,
        *,
        tls_context: ssl.SSLContext | None = None,
        poll_interval: float = 60.0,
        idle_renew: float = IDLE_RENEW,
        password_env: str = "CIRCLEBACK_IMAP_PASSWORD",
    ) -> None:
        if security not in ("tls", "starttls", "none"):
            raise ValueError(f"security must be tls, starttls or none, not {security!r}")
        self.host, self.port, self.security = host, port, security
        self.username, self.password = username, password
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.idle_renew = idle_renew
        self.password_env = password_env
        self._tls_context = tls_context
        self._imap: Any = None  # aioimaplib.IMAP4 (untyped library)
        self._lost: asyncio.Future[None] | None = None
        self._delimiter: str | None = None
        self._folders: set[str] = set()  # made sure of on this connection
        self._prefix = ""
        self._seen_uid = 0
        self.exists = 0  # messages in the mailbox at the last SELECT
        self._lock = asyncio.Lock()

    # -- connection -------------------------------------------------------------------------

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset(self._imap.protocol.capabilities) if self._imap else frozenset()

    @property
    def has_idle(self) -> bool:
        return "IDLE" in self.capabilities

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    async def connect(self) -> None:
        """Connect, upgrade to TLS if configured, log in. Raises ImapConnectionError/AuthError."""
        await self.close()
        self._folders.clear()
        loop = asyncio.get_running_loop()
        self._lost = loop.create_future()
        if self.security == "tls":
            context = self._tls_context or ssl.create_default_context()
            self._imap = aioimaplib.IMAP4_SSL(self.host, self.port, timeout=self.timeout,
                                              ssl_context=context)
        else:
            self._imap = aioimaplib.IMAP4(self.host, self.port, timeout=self.timeout)
        # IMAP4_SSL does not pass conn_lost_cb on; set it on the protocol for both.
        self._imap.protocol.conn_lost_cb = self._on_connection_lost
        try:
            await self._call("connect", self._imap.wait_hello_from_server)
            if self.security == "starttls":
                await self._starttls()
            await self._login()
        except BaseException:
            await self.close()
            raise

    def _on_connection_lost(self, exc: Exception | None) -> None:
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)

    async def _starttls(self) -> None:
        # aioimaplib has no STARTTLS; RFC 3501 section 6.2.1: send it, upgrade the same
        # transport, then forget the old capabilities and ask again.
        protocol = self._imap.protocol
        if "STARTTLS" not in protocol.capabilities:
            raise ImapConnectionError(
                f"{self.where} does not offer STARTTLS — set [imap] security = \"tls\" for "
                "port 993, or \"none\" only on a trusted network"
            )
        command = aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
        response = await self._call("STARTTLS", protocol.execute, command)
        if response.result != "OK":
            raise ImapConnectionError(f"{self.where} refused STARTTLS: {_text(response)}")
        context = self._tls_context or ssl.create_default_context()
        loop = asyncio.get_running_loop()
        protocol.transport = await self._call(
            "TLS handshake", loop.start_tls, protocol.transport, protocol, context,
            server_hostname=self.host,
        )
        await self._call("CAPABILITY", protocol.capability)

    async def _login(self) -> None:
        response = await self._call(
            "LOGIN", self._imap.login, _quote(self.username), self.password
        )
        if response.result != "OK":
            text = _text(response)
            hint = f"check [imap] username and the password in ${self.password_env}"
            if "PRIVACYREQUIRED" in text or "LOGINDISABLED" in self.capabilities:
                hint = "the server wants TLS first: set [imap] security to \"starttls\" or \"tls\""
            raise ImapAuthError(f"IMAP login failed for {self.username}: {text} — {hint}")
        # Capabilities change after login (RFC 3501 section 7.2.1); aioimaplib only merges
        # the bracketed list from the OK line, mangling its last word, so ask again.
        await self._call("CAPABILITY", self._imap.protocol.capability)

    async def close(self) -> None:
        """Log out (briefly) and close the connection. Safe to call any time."""
        imap, self._imap = self._imap, None
        lost, self._lost = self._lost, None
        if imap is None:
            return
        protocol = imap.protocol
        tasks = [imap._client_task, *imap.tasks, *protocol.tasks]
        try:
            if protocol.transport is not None and not protocol.transport.is_closing():
                if imap.has_pending_idle():
                    imap.idle_done()
                if protocol.state in ("NONAUTH", "AUTH", "SELECTED") and (
                    lost is None or not lost.done()
                ):
                    async with asyncio.timeout(min(self.timeout, 5.0)):
                        await imap.logout()
        except (aioimaplib.AioImapException, OSError, TimeoutError):
            pass
        finally:
            _teardown(imap)
            # Let the cancellations and connection_lost run before the loop moves on.
            await asyncio.gather(*tasks, *imap.tasks, *protocol.tasks, return_exceptions=True)

    def _abandon(self) -> None:
        """Close the connection now, without LOGOUT (it is broken or out of sync)."""
        imap, self._imap = self._imap, None
        self._lost = None
        if imap is not None:
            _teardown(imap)

    async def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one aioimaplib call under a timeout, woken early if the connection drops."""
        lost = self._lost
        if self._imap is None or lost is None:
            raise ImapConnectionError(f"not connected to {self.where}; call connect() first")
        if lost.done():
            raise ImapConnectionError(f"connection to {self.where} was lost")
        task = asyncio.ensure_future(fn(*args, **kwargs))
        try:
            async with asyncio.timeout(self.timeout):
                await asyncio.wait({task, lost}, return_when=asyncio.FIRST_COMPLETED)
            if not task.done():
                raise self._broken(what, ConnectionResetError("connection lost"))
            return task.result()
        except TimeoutError as exc:
            raise self._broken(what, exc) from exc
        except aioimaplib.CommandTimeout as exc:
            raise self._broken(what, TimeoutError()) from exc
        except (OSError, aioimaplib.AioImapException, ssl.SSLError) as exc:
            raise self._broken(what, exc) from exc
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    def _broken(self, what: str, exc: BaseException) -> ImapError:
        # The protocol state is unknown after a timeout or a drop: the caller reconnects.
        self._abandon()
        if isinstance(exc, ConnectionRefusedError):
            return ImapConnectionError(
                f"could not connect to {self.where}: connection refused — is the IMAP server "
                "running and is [imap] port right?"
            )
        if isinstance(exc, ssl.SSLError):
            return ImapConnectionError(
                f"TLS with {self.where} failed ({exc.reason or exc}) — does [imap] security "
                "match the port (993 is \"tls\", 143 is \"starttls\")?"
            )
        if isinstance(exc, TimeoutError):
            return ImapConnectionError(
                f"{what}: no answer from {self.where} within {self.timeout:g}s — is [imap] "
                "host right and the server reachable?"
            )
        if isinstance(exc, aioimaplib.Abort):
            return ImapError(f"{what} on {self.where}: {exc}")
        return ImapConnectionError(f"{what} on {self.where} failed: {exc or type(exc).__name__}")

    def _conn(self) -> Any:
        if self._imap is None:
            raise ImapConnectionError(f"not connected to {self.where}; call connect() first")
        return self._imap

    async def _ok(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        response = await self._call(what, fn, *args, **kwargs)
        if response.result != "OK":
            raise ImapCommandError(f"{what} failed on {self.where}: {_text(response)}")
        return response

    # -- mailbox operations -----------------------------------------------------------------

    async def select(self, mailbox: str = "INBOX") -> tuple[int, int]:
        """SELECT; returns (uidvalidity, uidnext). A changed uidvalidity voids stored UIDs."""
        async with self._lock:
            name = self._server_name(mailbox, await self._hierarchy())
            response = await self._ok(f"SELECT {mailbox}", self._conn().select, name)
            joined = b"\n".join(bytes(line) for line in response.lines)
            validity = re.search(rb"\[UIDVALIDITY (\d+)\]", joined)
            uidnext = re.search(rb"\[UIDNEXT (\d+)\]", joined)
            if uidnext is None:  # optional before IMAP4rev2; ask STATUS instead
                status = await self._ok("STATUS", self._conn().status, name, "(UIDNEXT)")
                uidnext = re.search(rb"UIDNEXT (\d+)", b" ".join(map(bytes, status.lines)))
            if validity is None or uidnext is None:
                raise ImapCommandError(f"{self.where} did not report UIDVALIDITY/UIDNEXT")
            exists = re.search(rb"(?m)^(\d+) EXISTS", joined)  # required (RFC 3501 7.3.1)
            self.exists = int(exists.group(1)) if exists else 0
            self._seen_uid = int(uidnext.group(1)) - 1
            return int(validity.group(1)), int(uidnext.group(1))

    async def message_count(self, mailbox: str = "INBOX") -> int:
        """How many messages `mailbox` holds (STATUS MESSAGES), without selecting it."""
        async with self._lock:
            name = self._server_name(mailbox, await self._hierarchy())
            status = await self._ok(f"STATUS {mailbox}", self._conn().status, name, "(MESSAGES)")
            found = re.search(rb"MESSAGES (\d+)", b" ".join(map(bytes, status.lines)))
            if found is None:
                raise ImapCommandError(f"{self.where} did not report how many messages "
                                       f"{mailbox} holds")
            return int(found.group(1))

    async def uids_after(self, last_uid: int) -> list[int]:
        """UIDs greater than `last_uid` in the selected mailbox, ascending."""
        async with self._lock:
            found = await self._search_after(last_uid)
            self._seen_uid = max(self._seen_uid, last_uid, *found)
            return found

    async def _search_after(self, last_uid: int) -> list[int]:
        response = await self._ok(
            "UID SEARCH", self._conn().uid_search, f"UID {last_uid + 1}:*", charset=None
        )
        uids = {int(tok) for line in response.lines[:-1] for tok in bytes(line).split()
                if tok.isdigit()}
        # RFC 3501 section 6.4.8: "N:*" always includes the highest UID, even below N.
        return sorted(uid for uid in uids if uid > last_uid)

    async def fetch(self, uids: Sequence[int], chunk: int = 50) -> list[tuple[int, bytes]]:
        """Whole messages as (uid, raw bytes). BODY.PEEK[] leaves \\Seen alone (RFC 3501
        section 6.4.5), so the participant's own client still shows them unread."""
        results: list[tuple[int, bytes]] = []
        async with self._lock:
            for start in range(0, len(uids), chunk):
                uid_set = ",".join(str(uid) for uid in uids[start:start + chunk])
                response = await self._ok("UID FETCH", self._conn().uid, "fetch", uid_set,
                                          "(UID BODY.PEEK[])")
                results.extend(_parse_fetch(response.lines))
        return sorted(results)

    async def ensure_folder(self, name: str) -> None:
        """CREATE (and SUBSCRIBE) `name` unless it exists; "/" separates levels in `name`.
        Asked of the server once per connection: the watcher calls this on every pass."""
        if name in self._folders:
            return
        async with self._lock:
            server_name = self._server_name(name, await self._hierarchy())
            listed = await self._ok("LIST", self._conn().list, '""', server_name)
            if not any(bytes(line).startswith(b"(") for line in listed.lines[:-1]):
                response = await self._call("CREATE", self._conn().create, server_name)
                if response.result != "OK" and "ALREADYEXISTS" not in _text(response):
                    raise ImapCommandError(f"CREATE {name} failed on {self.where}: {_text(response)}")
                # Subscribed, so the facilitator's own mail client shows the folder.
                await self._call("SUBSCRIBE", self._conn().subscribe, server_name)
        self._folders.add(name)

    async def move(self, uid: int | Sequence[int], folder: str) -> None:
        """Move one message (or several, in one command) to `folder` (made by
        ensure_folder); never deletes mail."""
        uids = [uid] if isinstance(uid, int) else list(uid)
        if not uids:
            return
        uid_set = ",".join(str(u) for u in uids)
        async with self._lock:
            target = self._server_name(folder, await self._hierarchy())
            caps = self.capabilities
            if "MOVE" in caps:  # RFC 6851
                await self._ok("UID MOVE", self._conn().uid, "move", uid_set, target)
                return
            await self._ok("UID COPY", self._conn().uid, "copy", uid_set, target)
            await self._ok("UID STORE", self._conn().uid, "store", uid_set, "+FLAGS.SILENT",
                           r"(\Deleted)")
            if "UIDPLUS" in caps:  # RFC 4315: expunge only these UIDs
                await self._ok("UID EXPUNGE", self._conn().uid, "expunge", uid_set)
            else:
                # A plain EXPUNGE would also remove whatever else someone marked \Deleted.
                log.warning("%s has neither MOVE nor UIDPLUS: UID %s copied to %s and "
                            "marked \\Deleted, left for the next EXPUNGE", self.where, uid_set, folder)

    async def _hierarchy(self) -> str:
        if self._delimiter is None:
            if "NAMESPACE" in self.capabilities:
                response = await self._ok("NAMESPACE", self._conn().namespace)
                personal = re.match(rb'\(\("([^"]*)"', bytes(response.lines[0]))
                self._prefix = personal.group(1).decode() if personal else ""
            listed = await self._ok("LIST", self._conn().list, '""', '""')
            found = re.search(rb'\) (?:"((?:\\.|[^"])*)"|NIL) ', bytes(listed.lines[0]))
            self._delimiter = (found.group(1) or b"/").decode() if found else "/"
        return self._delimiter

    def _server_name(self, name: str, delimiter: str | None = None) -> str:
        if name.upper() == "INBOX" or delimiter is None:
            return encode_mailbox_name(name)
        # Folders live under the personal namespace prefix ("INBOX." on Courier-style
        # servers), with the server's own hierarchy delimiter (Dovecot maildir uses ".").
        prefix = self._prefix if not name.startswith(self._prefix) else ""
        return encode_mailbox_name(prefix + name.replace("/", delimiter))

    # -- waiting for mail -------------------------------------------------------------------

    async def wait_for_change(self, timeout: float) -> bool:
        """Return True once new mail may be there, False after `timeout` seconds of quiet.

        Uses IDLE (RFC 2177), re-issued every `idle_renew` seconds; without IDLE it sleeps
        `poll_interval` and then looks.
        """
        async with self._lock:
            # An EXISTS sent at the end of an earlier command (Dovecot syncs the mailbox
            # then) is dropped by aioimaplib, so look once before waiting.
            if await self._search_after(self._seen_uid):
                return True
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            if not self.has_idle:
                await asyncio.sleep(min(timeout, self.poll_interval))
                return bool(await self._search_after(self._seen_uid))
            while (remaining := deadline - loop.time()) > 0:
                if await self._idle_once(min(remaining, self.idle_renew)):
                    return True
            return False

    async def _idle_once(self, seconds: float) -> bool:
        imap, lost = self._imap, self._lost
        assert imap is not None and lost is not None
        queue: asyncio.Queue[list[bytes]] = imap.protocol.idle_queue
        _drain(queue)
        # aioimaplib's own renewal timer is pushed past ours; we end IDLE ourselves.
        idle_task = await self._call("IDLE", imap.idle_start, seconds + 60)
        changed = False
        end = asyncio.get_running_loop().time() + seconds
        try:
            while not changed and (remaining := end - asyncio.get_running_loop().time()) > 0:
                getter = asyncio.ensure_future(queue.get())
                waiting: set[asyncio.Future[Any]] = {getter, lost}
                done, _ = await asyncio.wait(waiting, timeout=remaining,
                                             return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    await asyncio.gather(getter, return_exceptions=True)
                    if lost.done():
                        raise self._broken("IDLE", ConnectionResetError("connection lost"))
                    break
                changed = _announces_mail(getter.result())
        finally:
            if imap.has_pending_idle() and not lost.done():
                imap.idle_done()
        done_response = await self._call("IDLE DONE", asyncio.shield, idle_task)
        if done_response.result != "OK":
            raise ImapCommandError(f"IDLE failed on {self.where}: {_text(done_response)}")
        # Untagged data that came between DONE and the tagged OK also counts.
        return changed or any(_announces_mail(push) for push in _drain(queue))


def _teardown(imap: Any) -> None:
    if imap.protocol.transport is not None:
        imap.protocol.transport.close()
    for task in [imap._client_task, *imap.tasks, *imap.protocol.tasks]:
        task.cancel()
        # Retrieve the outcome so asyncio never logs "exception was never retrieved".
        task.add_done_callback(lambda t: t.cancelled() or t.exception())


def _drain(queue: asyncio.Queue[list[bytes]]) -> list[list[bytes]]:
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items


def _announces_mail(lines: list[bytes]) -> bool:
    # "* 5 EXISTS" / "* 1 RECENT" (RFC 3501 section 7.3); "OK Still here" and flag
    # changes are noise.
    return any(bytes(line).endswith((b" EXISTS", b" RECENT")) for line in lines
               if isinstance(line, bytes | bytearray))


def _parse_fetch(lines: Sequence[bytes | bytearray]) -> list[tuple[int, bytes]]:
    """(uid, body) pairs from aioimaplib's FETCH lines.

    A message comes as `b'1 FETCH (UID 7 BODY[] {123}'`, a bytearray literal, then `b')'`;
    servers may put UID after the literal (`b' UID 7)'`) and add FLAGS. Lines without a
    literal (unsolicited flag updates) are skipped.
    """
    results: list[tuple[int, bytes]] = []
    uid: int | None = None
    body: bytes | None = None
    for line in [*lines[:-1], b"0 FETCH ("]:  # sentinel flushes the last record
        if isinstance(line, bytearray):
            body = bytes(line)
            continue
        if _FETCH_START.match(line):
            if uid is not None and body is not None:
                results.append((uid, body))
            uid, body = None, None
        found = _UID.search(line)
        if found is not None:
            uid = int(found.group(1))
    return results
