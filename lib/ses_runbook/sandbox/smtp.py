"""The sandbox's SMTP server: STARTTLS and AUTH on loopback, answering like SES's endpoint.

The SMTP check logs in to email-smtp.<region>.amazonaws.com:587 the way an application does
(STARTTLS, certificate verification, AUTH) and explains a 535. Running it against a real
server with a real certificate chain keeps that code path the production one; only the
host, the port and the CA file change.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import ssl
import threading
import uuid
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from ses_runbook.sandbox.service import LoopbackService

__all__ = ["ReceivedMessage", "SmtpServer"]

_log = logging.getLogger(__name__)

# What SES answers (https://docs.aws.amazon.com/ses/latest/dg/smtp-response-codes.html).
AUTH_OK = "235 Authentication successful."
AUTH_INVALID = "535 Authentication Credentials Invalid"
_IDENT = "ESMTP SimpleEmailService-sandbox"
_MAX_MESSAGE_BYTES = 10 * 1024 * 1024  # SES's SIZE

Credentials = Mapping[str, str]


@dataclass(frozen=True)
class ReceivedMessage:
    """The envelope of a message accepted by DATA (the content is not kept: it may hold secrets)."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    size: int


class _Handler:
    """aiosmtpd handler: records accepted messages, and answers errors without logging them."""

    def __init__(self, received: list[ReceivedMessage]) -> None:
        self._received = received

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        size = len(content if isinstance(content, bytes) else content.encode("utf-8"))
        self._received.append(ReceivedMessage(envelope.mail_from or "", tuple(envelope.rcpt_tos), size))
        return f"250 Ok {uuid.uuid4().hex}-000000"

    async def handle_exception(self, error: Exception) -> str:
        # Without this hook aiosmtpd logs a traceback at ERROR, e.g. for every client that
        # rejects the certificate during STARTTLS, which the tests do on purpose.
        _log.debug("SMTP session error", exc_info=error)
        return f"451 4.3.0 Local error ({type(error).__name__})"


class _Controller(Controller):
    """aiosmtpd's Controller, fixed for port 0 and for a prompt, clean stop."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()

    def factory(self) -> SMTP:
        smtp = super().factory()
        self._sessions.add(smtp)
        return smtp

    def _trigger_server(self) -> None:
        # Controller connects to self.port to warm the server up; with port 0 that is the
        # port the OS picked, readable only from the bound socket.
        if self.port == 0 and self.server is not None:
            self.port = cast("asyncio.Server", self.server).sockets[0].getsockname()[1]
        super()._trigger_server()

    def cancel_tasks(self, stop_loop: bool = True) -> None:
        # Close client connections too, so a client blocked in recv() sees EOF now and no
        # socket outlives the server.
        for smtp in list(self._sessions):
            for transport in (smtp.transport, getattr(smtp, "_original_transport", None)):
                if transport is not None:
                    transport.close()
        super().cancel_tasks(stop_loop)


class _DropLoginDataWarning(logging.Filter):
    """aiosmtpd warns "Session.login_data is deprecated" on every successful AUTH (its own use)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "login_data is deprecated" not in record.getMessage()


def _quiet_loop_errors(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    _log.debug("SMTP event loop: %s", context.get("message"), exc_info=context.get("exception"))


class SmtpServer(LoopbackService):
    """An SMTP submission server that accepts exactly the given SMTP credentials.

    ``credentials`` maps user name to accepted password, or is a callable returning that
    mapping, read at every AUTH so a scenario can rotate keys while the server runs.
    Set ``refuse_auth_with = (454, "Temporary authentication failure")`` to stage a failure.
    """

    def __init__(
        self,
        credentials: dict[str, str] | Callable[[], dict[str, str]],
        cert_dir: str | Path,
        host: str = "127.0.0.1",
        port: int = 0,
        hostname: str = "email-smtp.sandbox.local",
    ) -> None:
        self._credentials = credentials
        self.cert_dir = Path(cert_dir)
        self.ca_file = self.cert_dir / "ca.pem"
        self.host = host
        self.port = port
        self.hostname = hostname
        self.received: list[ReceivedMessage] = []
        self.refuse_auth_with: tuple[int, str] | None = None
        self._requested_port = port
        self._controller: _Controller | None = None
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._controller is not None

    def _current_credentials(self) -> Credentials:
        creds = self._credentials
        return creds() if callable(creds) else creds

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        """aiosmtpd authenticator for PLAIN and LOGIN; runs on the server's event loop."""
        if self.refuse_auth_with is not None:
            code, text = self.refuse_auth_with
            return AuthResult(success=False, handled=False, message=f"{code} {text}")
        if isinstance(auth_data, LoginPassword):
            expected = self._current_credentials().get(auth_data.login.decode("utf-8", "replace"))
            if expected is not None and hmac.compare_digest(expected.encode("utf-8"), bytes(auth_data.password)):
                return AuthResult(success=True, message=AUTH_OK, auth_data=auth_data)
        return AuthResult(success=False, handled=False, message=AUTH_INVALID)

    def _tls_context(self) -> ssl.SSLContext:
        """A fresh CA and server certificate; the CA goes to ca.pem for clients to trust."""
        ca = trustme.CA(organization_name="ses-runbook sandbox")
        cert = ca.issue_cert("127.0.0.1", "localhost", self.hostname)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        self.cert_dir.mkdir(parents=True, exist_ok=True)
        ca.cert_pem.write_to_path(str(self.ca_file))
        return context

    def start(self) -> SmtpServer:
        with self._lock:
            if self._controller is not None:
                raise RuntimeError("SMTP server already running")
            mail_log = logging.getLogger("mail.log")
            if mail_log.level == logging.NOTSET:  # respect a level somebody chose on purpose
                mail_log.setLevel(logging.WARNING)
            if not any(isinstance(f, _DropLoginDataWarning) for f in mail_log.filters):
                mail_log.addFilter(_DropLoginDataWarning())
            controller = _Controller(
                _Handler(self.received),
                hostname=self.host,  # the bind address
                port=self._requested_port,
                ready_timeout=5.0,
                server_hostname=self.hostname,
                ident=_IDENT,
                tls_context=self._tls_context(),
                require_starttls=True,  # 530 for AUTH/MAIL before STARTTLS, as SES on 587
                auth_require_tls=True,
                auth_required=True,
                authenticator=self._authenticate,
                data_size_limit=_MAX_MESSAGE_BYTES,
                enable_SMTPUTF8=False,
            )
            controller.loop.set_exception_handler(_quiet_loop_errors)
            try:
                controller.start()
            except BaseException:
                controller.stop(no_assert=True)
                if not controller.loop.is_closed() and not controller.loop.is_running():
                    controller.loop.close()
                raise
            self.port = controller.port
            self._controller = controller
        return self

    def stop(self) -> None:
        """Stop the server, close client connections and join its thread; safe to call twice."""
        with self._lock:
            controller, self._controller = self._controller, None
            if controller is not None:
                controller.stop()
