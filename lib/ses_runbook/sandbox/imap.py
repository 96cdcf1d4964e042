"""The sandbox's test mailbox: a real IMAP server on loopback (pymap's in-memory backend).

``mail-test`` looks a probe up by Message-ID in every folder of a mailbox at a provider: the
folder it landed in is the inbox placement. pymap speaks IMAP4rev1 over asyncio; it runs here in
its own thread and event loop, with one user whose login the scenario defines. Messages are put
into folders the way a provider's filter would, by an ordinary IMAP APPEND.
"""

from __future__ import annotations

import asyncio
import imaplib
import logging
import threading
from argparse import Namespace
from typing import Any

from ses_runbook.sandbox.service import LoopbackService

_log = logging.getLogger(__name__)


class ImapServer(LoopbackService):
    """An IMAP server on ``host`` for one user; ``deliver`` files a message in a folder."""

    def __init__(self, username: str, password: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self._port = host, port
        self.username, self.password = username, password
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: Any = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> ImapServer:
        for name in ("pymap", "asyncio"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        ready = threading.Event()
        failure: list[BaseException] = []
        self._loop = loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve())
            except BaseException as exc:  # noqa: BLE001 - reported to start()
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="sandbox-imap", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    async def _serve(self) -> None:
        # deferred: pymap: only when the sandbox starts its mailbox
        from proxyprotocol.reader import ProxyProtocolReader
        from pymap.backend.dict import Config, DictBackend, Login
        from pymap.imap import IMAPServer
        from pysasl.hashing import Cleartext

        config = Config(
            Namespace(passlib_cfg=None, proxy_protocol="noop", inherited_sockets=None),
            host=self.host,
            port=self._port,
            demo_data=False,
            demo_user=self.username,
            demo_password=self.password,
            tls_enabled=False,
            secure_auth=False,
            reject_dnsbl=False,
            invalid_user_sleep=0.0,
            hash_context=Cleartext(),
        )  # the sandbox's own fixed password: no key stretching at each login
        config.apply_context()
        login = Login(config)
        await DictBackend._add_demo_user(config, login)
        # the way pymap's own service wires it: the proxy-protocol reader (version "noop") supplies the socket info
        callback = ProxyProtocolReader(config.proxy_protocol).get_callback(IMAPServer(login, config))

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await callback(reader, writer)
            except Exception:  # noqa: BLE001 - one broken client must not stop the server
                _log.debug("IMAP connection failed", exc_info=True)

        self._server = await asyncio.start_server(handle, host=self.host, port=self._port)
        self._port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        loop, server = self._loop, self._server
        self._server = None
        if loop is None:
            return
        if server is not None:

            async def close() -> None:
                server.close()
                await server.wait_closed()

            try:
                asyncio.run_coroutine_threadsafe(close(), loop).result(5)
            except Exception:  # noqa: BLE001
                pass
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(5)
        self._loop = None

    def deliver(self, raw: bytes, folder: str = "INBOX") -> None:
        """File ``raw`` in ``folder`` (created when missing) with an IMAP APPEND, as a provider's filter would."""
        client = imaplib.IMAP4(self.host, self._port, timeout=5)
        try:
            client.login(self.username, self.password)
            if folder.upper() != "INBOX":
                client.create(folder)  # NO when it exists: fine
            client.append(folder, None, None, raw)
            client.logout()
        finally:
            try:
                client.shutdown()
            except Exception:  # noqa: BLE001
                pass
