"""A private, real mail system on loopback for the demo and the integration tests.

Dovecot (IMAP + LMTP) runs from a config written into `workdir`; an aiosmtpd server in
a thread accepts SMTP and relays every message to Dovecot over LMTP, one recipient at a
time. Nothing touches the system's Dovecot instance: own base_dir, state_dir, log and
instance_name, ports chosen at start.

    async with await DevMailServer.start(workdir, {"circle@cohort.test": "secret"}) as mail:
        ...  # mail.smtp_port, mail.imap_port, mail.deliver(raw, "circle@cohort.test")
"""

from __future__ import annotations

import asyncio
import logging
import os
import pwd
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller

from service.dev.smtp_relay import SmtpFaults, _Controller, _RelayHandler

__all__ = ["DevMailError", "DevMailServer", "SmtpFaults"]

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
INSTALL_HINT = "Dovecot is not installed: apt-get install -y dovecot-imapd dovecot-lmtpd"


class DevMailError(RuntimeError):
    """The dev mail system could not be started (the message says why and what to do)."""


def _until_next_second() -> float:
    # Dovecot stats a passwd-file at most once per wall-clock second (db-passwd-file.c
    # skips the check when it already ran in this second of ioloop_time), so a user
    # written now is certain to be seen from the next second on.
    return 1.02 - time.time() % 1.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class DevMailServer:
    """Dovecot + an aiosmtpd relay, private to one directory. Use `await DevMailServer.start()`."""

    def __init__(
        self, workdir: Path, users: dict[str, str], domains: set[str] | None = None,
        tls: bool = False,
    ) -> None:
        self.workdir = workdir.resolve()
        self.users: dict[str, str] = {addr.lower(): pw for addr, pw in users.items()}
        self.domains: set[str] = {d.lower() for d in domains or ()} | {
            addr.rpartition("@")[2] for addr in self.users
        }
        self.imap_host = self.smtp_host = HOST
        self.imap_port = self.smtp_port = self.lmtp_port = 0
        # With tls=True: IMAP and SMTP also offer STARTTLS, and these ports speak TLS
        # from the first byte (like 993 and 465), with a self-signed certificate.
        self.tls = tls
        self.imaps_port = self.smtps_port = 0
        self.certificate = self.workdir / "tls-cert.pem"
        self._key = self.workdir / "tls-key.pem"
        self.smtp_faults = SmtpFaults()
        self._config = self.workdir / "dovecot.conf"
        self._passwd = self.workdir / "users.passwd"
        self._controllers: list[Controller] = []
        self._started = False

    @classmethod
    async def start(
        cls, workdir: Path, users: dict[str, str], domains: set[str] | None = None,
        tls: bool = False,
    ) -> DevMailServer:
        """Write the config, start Dovecot and the SMTP relay, wait until IMAP logins work."""
        server = cls(workdir, users, domains, tls)
        try:
            await server._start()
        except BaseException:
            await server.stop()
            raise
        return server

    async def __aenter__(self) -> DevMailServer:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def add_user(self, address: str, password: str) -> None:
        """Add a mail user. While running, this blocks until Dovecot sees the user (up to
        a second); in async code prefer `await create_user()`."""
        if self._record_user(address, password):
            time.sleep(_until_next_second())

    async def create_user(self, address: str, password: str) -> None:
        """Add a mail user and return once Dovecot can log it in and deliver to it."""
        if self._record_user(address, password):
            await asyncio.sleep(_until_next_second())

    def _record_user(self, address: str, password: str) -> bool:
        """Add to the passwd-file; True when a running Dovecot has yet to notice."""
        self.users[address.lower()] = password
        self.domains.add(address.rpartition("@")[2].lower())
        if not self._passwd.exists():
            return False
        self._write_passwd()
        return self._started

    def deliver(self, raw: bytes, rcpt: str, mail_from: str = "sender@example.test") -> None:
        """Put one message into `rcpt`'s INBOX over LMTP (blocking; a few milliseconds)."""
        with smtplib.LMTP(HOST, self.lmtp_port, timeout=10) as lmtp:
            lmtp.sendmail(mail_from, [rcpt], raw)

    async def deliver_async(
        self, raw: bytes, rcpt: str, mail_from: str = "sender@example.test"
    ) -> None:
        await asyncio.to_thread(self.deliver, raw, rcpt, mail_from)

    def client_tls_context(self) -> ssl.SSLContext:
        """A client context that trusts this server's self-signed certificate."""
        return ssl.create_default_context(cafile=str(self.certificate))

    async def kick(self, address: str) -> None:
        """Disconnect `address`'s IMAP sessions (as a server restart or a network cut would)."""
        await asyncio.to_thread(
            subprocess.run, ["doveadm", "-c", str(self._config), "kick", address],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    @property
    def log_path(self) -> Path:
        return self.workdir / "dovecot.log"

    # -- start and stop ---------------------------------------------------------------------

    async def _start(self) -> None:
        if shutil.which("dovecot") is None or shutil.which("doveadm") is None:
            raise DevMailError(INSTALL_HINT)
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "mail").mkdir(exist_ok=True)
        self.imap_port, self.lmtp_port, self.smtp_port = _free_port(), _free_port(), _free_port()
        if self.tls:
            self.imaps_port, self.smtps_port = _free_port(), _free_port()
            await self._make_certificate()
        self._write_passwd()
        self._config.write_text(self._dovecot_config())
        self._set_permissions()
        self._started = True
        # Dovecot daemonizes; its children would hold a captured pipe open forever, so
        # its early errors (config mistakes) go to a file instead.
        errors = self.workdir / "dovecot.stderr"
        with errors.open("wb") as err:
            result = await asyncio.to_thread(
                subprocess.run, ["dovecot", "-c", str(self._config)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
            )
        if result.returncode != 0:
            raise DevMailError(
                f"dovecot failed to start: {errors.read_text().strip()}{self._log_tail()}"
            )
        await self._wait_for_imap_login()
        handler = _RelayHandler(self)
        options: dict[str, Any] = {
            # AUTH over plain text is fine on loopback; RFC 4954 section 4 would want TLS.
            "authenticator": handler.authenticate, "auth_require_tls": False,
        }
        context = None
        if self.tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.certificate, self._key)
            options["tls_context"] = context
        self._controllers.append(_Controller(handler, hostname=HOST, port=self.smtp_port,
                                             **options))
        if context is not None:
            self._controllers.append(_Controller(
                handler, hostname=HOST, port=self.smtps_port, ssl_context=context,
                # aiosmtpd only counts STARTTLS as TLS for AUTH, not TLS from the start.
                authenticator=handler.authenticate, auth_require_tls=False,
            ))
        for controller in self._controllers:
            await asyncio.to_thread(controller.start)

    async def stop(self) -> None:
        """Stop the SMTP relay and Dovecot (killing it if `doveadm stop` does not)."""
        while self._controllers:
            await asyncio.to_thread(self._controllers.pop().stop)
        if not self._started:
            return
        self._started = False
        pid = self._master_pid()
        await asyncio.to_thread(
            subprocess.run, ["doveadm", "-c", str(self._config), "stop"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        if pid is not None:
            await self._wait_exit(pid)

    async def _wait_exit(self, pid: int) -> None:
        deadline = time.monotonic() + 5
        sig = signal.SIGTERM
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            if time.monotonic() > deadline:
                if sig == signal.SIGKILL:
                    return
                os.kill(pid, sig)
                deadline, sig = time.monotonic() + 3, signal.SIGKILL
            await asyncio.sleep(0.05)

    def _master_pid(self) -> int | None:
        try:
            return int((self.workdir / "run" / "master.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    async def _wait_for_imap_login(self, timeout: float = 15.0) -> None:
        """Wait for the greeting, then for a LOGIN to succeed (the auth process is up)."""
        user, password = next(iter(self.users.items()), (None, None))
        deadline = time.monotonic() + timeout
        last_error = "no answer"
        while time.monotonic() < deadline:
            try:
                async with asyncio.timeout(3):
                    if await self._try_login(user, password):
                        return
                    last_error = "LOGIN was refused"
            except (OSError, TimeoutError) as exc:
                last_error = str(exc) or type(exc).__name__
            await asyncio.sleep(0.1)
        raise DevMailError(
            f"Dovecot IMAP on {HOST}:{self.imap_port} is not ready after {timeout:.0f}s "
            f"({last_error}){self._log_tail()}"
        )

    async def _try_login(self, user: str | None, password: str | None) -> bool:
        reader, writer = await asyncio.open_connection(HOST, self.imap_port)
        try:
            greeting = await reader.readline()
            if not greeting.startswith(b"* OK"):
                return False
            if user is None:
                return True
            writer.write(f'a1 LOGIN "{user}" "{password}"\r\n'.encode())
            while not (line := await reader.readline()).startswith(b"a1 "):
                if not line:
                    return False
            writer.write(b"a2 LOGOUT\r\n")
            return line.startswith(b"a1 OK")
        finally:
            writer.close()
            await writer.wait_closed()

    async def _make_certificate(self) -> None:
        if shutil.which("openssl") is None:
            raise DevMailError("tls=True needs the openssl command: apt-get install -y openssl")
        result = await asyncio.to_thread(
            subprocess.run,
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=localhost", "-addext", f"subjectAltName=IP:{HOST},DNS:localhost",
             "-keyout", str(self._key), "-out", str(self.certificate)],
            stdin=subprocess.DEVNULL, capture_output=True, text=True,
        )
        if result.returncode != 0:
            raise DevMailError(f"openssl could not make a certificate: {result.stderr.strip()}")

    def _log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()[-15:]
        except OSError:
            return ""
        return "\n--- " + str(self.log_path) + " ---\n" + "\n".join(lines) if lines else ""

    # -- configuration ----------------------------------------------------------------------

    def _write_passwd(self) -> None:
        # Written to a new file and renamed: Dovecot re-reads a passwd-file whose stat
        # changed, and must never see it half-written.
        tmp = self._passwd.with_suffix(".tmp")
        tmp.write_text("".join(f"{a}:{{PLAIN}}{p}\n" for a, p in sorted(self.users.items())))
        tmp.chmod(0o644)  # the auth process runs as default_internal_user, not root
        tmp.replace(self._passwd)

    def _accounts(self) -> tuple[str, str, str]:
        """(login user, internal user, mail user) for the config."""
        if os.geteuid() != 0:
            me = pwd.getpwuid(os.geteuid()).pw_name
            return me, me, me
        # As root: imap-login refuses to run as root, and Dovecot refuses mail owned by
        # uid 0 ("userdb returned 0 as uid"), so use the Debian accounts made for this.
        return "dovenull", "dovecot", "mail"

    def _set_permissions(self) -> None:
        if os.geteuid() != 0:
            return
        # Every process must reach the directory: login and auth processes run as
        # dovenull/dovecot, mail processes as `mail`.
        self.workdir.chmod(0o755)
        for parent in self.workdir.parents:
            if not parent.stat().st_mode & 0o001:
                raise DevMailError(
                    f"{parent} is not searchable by other users (mode "
                    f"{parent.stat().st_mode & 0o777:o}); Dovecot's processes, which do "
                    "not run as root, cannot reach the mail directory. Use a workdir "
                    "under /tmp made with tempfile.mkdtemp(), or chmod o+x that directory."
                )
        mail = pwd.getpwnam("mail")
        for path in [self.workdir / "mail", *(self.workdir / "mail").rglob("*")]:
            os.chown(path, mail.pw_uid, mail.pw_gid)

    def _dovecot_config(self) -> str:
        login_user, internal_user, mail_user = self._accounts()
        account = pwd.getpwnam(mail_user)
        uid, gid = account.pw_uid, account.pw_gid
        work = self.workdir
        return f"""\
# Written by circleback's DevMailServer; private instance, started with dovecot -c.
instance_name = circleback-devmail-{self.imap_port}
base_dir = {work}/run
state_dir = {work}/state
log_path = {work}/dovecot.log
info_log_path = {work}/dovecot.log
listen = {HOST}
protocols = imap lmtp
{self._ssl_config()}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_verbose = yes
default_login_user = {login_user}
default_internal_user = {internal_user}
mail_uid = {uid}
mail_gid = {gid}
first_valid_uid = {min(uid, 8)}
mail_location = maildir:{work}/mail/%u
recipient_delimiter = +
lmtp_save_to_detail_mailbox = no
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self._passwd}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={work}/mail/%u
}}
namespace inbox {{
  inbox = yes
}}
service imap-login {{
  inet_listener imap {{
    address = {HOST}
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    address = {HOST}
    port = {self.imaps_port}
    ssl = yes
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = {HOST}
    port = {self.lmtp_port}
  }}
}}
"""

    def _ssl_config(self) -> str:
        if not self.tls:
            return "ssl = no"
        lines = ["ssl = yes", f"ssl_cert = <{self.certificate}", f"ssl_key = <{self._key}"]
        # Debian's packaged DH parameters; without them Dovecot 2.3 warns at start.
        if Path("/usr/share/dovecot/dh.pem").exists():
            lines.append("ssl_dh = </usr/share/dovecot/dh.pem")
        return "\n".join(lines)
