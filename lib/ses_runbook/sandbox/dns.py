"""The sandbox's DNS server: a real, authoritative DNS server on loopback.

The DNS checks resolve DKIM CNAMEs, SPF, DMARC and MX records with an ordinary resolver
(dnspython). Pointing that resolver at a real server that speaks the wire
protocol over UDP and TCP exercises exactly the code paths production uses, including
NXDOMAIN vs NODATA and TXT strings split into 255-byte chunks.
"""

from __future__ import annotations

import errno
import logging
import socketserver
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from dnslib import AAAA, CNAME, MX, NS, PTR, QTYPE, RCODE, RR, SOA, TXT, A, DNSLabel, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer

from ses_runbook.sandbox.service import LoopbackService

__all__ = ["DnsServer"]

_log = logging.getLogger(__name__)

_DEFAULT_TTL = 300
_CLASSIC_UDP_LIMIT = 512  # what a server may send over UDP to a client without EDNS
_POLL_INTERVAL_S = 0.05  # serve_forever's shutdown latency
_PORT_ATTEMPTS = 50


def _norm(name: str) -> str:
    """Canonical key for a name: lower case, no trailing dot (DNS names are case-insensitive)."""
    return str(name).strip().rstrip(".").lower()


def _txt_chunks(value: str | bytes | Iterable[str | bytes]) -> list[bytes]:
    """Split TXT data into character-strings of at most 255 bytes, as the wire format demands.

    A long SPF or DKIM value is one logical string that travels as several chunks; the
    client concatenates them. A list value keeps its own boundaries (each item still split).
    """
    items = [value] if isinstance(value, (str, bytes)) else list(value)
    chunks: list[bytes] = []
    for item in items:
        data = item.encode("utf-8") if isinstance(item, str) else bytes(item)
        if not data:
            chunks.append(b"")
        chunks.extend(data[i : i + 255] for i in range(0, len(data), 255))
    return chunks or [b""]


def _rdata(rtype: str, value: Any) -> Any:
    """Build dnslib rdata from a record's ``value`` in zone-file-like text."""
    if rtype == "A":
        return A(str(value))
    if rtype == "AAAA":
        return AAAA(str(value))
    if rtype == "CNAME":
        return CNAME(str(value))
    if rtype == "NS":
        return NS(str(value))
    if rtype == "PTR":
        return PTR(str(value))
    if rtype == "TXT":
        return TXT(_txt_chunks(value))
    if rtype == "MX":
        pref, _, host = str(value).strip().partition(" ")
        return MX(host.strip(), preference=int(pref))
    if rtype == "SOA":
        # "mname rname serial refresh retry expire minimum"
        parts = str(value).split()
        if len(parts) != 7:
            raise ValueError(f"SOA value needs 7 fields, got {value!r}")
        return SOA(parts[0], parts[1], tuple(int(p) for p in parts[2:]))
    raise ValueError(f"unsupported record type {rtype!r}")


class _Zone:
    """An immutable snapshot of the records, indexed for lookup; swapped whole on update."""

    def __init__(self, records: Iterable[Mapping[str, Any]]) -> None:
        self.by_name: dict[str, list[tuple[int, int, Any]]] = {}
        self.ancestors: set[str] = set()
        for i, record in enumerate(records):
            try:
                name = _norm(record["name"])
                rtype = str(record["type"]).upper()
                ttl = int(record.get("ttl", _DEFAULT_TTL))
                rdata = _rdata(rtype, record["value"])
            except (KeyError, ValueError, TypeError) as exc:
                # Fail when the scenario is loaded, not silently at query time.
                raise ValueError(f"DNS record #{i} {dict(record)!r} is invalid: {exc}") from exc
            self.by_name.setdefault(name, []).append((getattr(QTYPE, rtype), ttl, rdata))
            labels = name.split(".") if name else []
            for k in range(1, len(labels) + 1):
                self.ancestors.add(".".join(labels[k:]))

    def soa_for(self, name: str) -> tuple[str, int, Any] | None:
        """The closest enclosing SOA, for the authority section of negative answers."""
        labels = name.split(".") if name else []
        for k in range(len(labels) + 1):
            owner = ".".join(labels[k:])
            for qtype, ttl, rdata in self.by_name.get(owner, ()):
                if qtype == QTYPE.SOA:
                    return owner, ttl, rdata
        return None


class _ZoneResolver(BaseResolver):
    """Answers from the current zone like an authoritative server without recursion."""

    def __init__(self, zone: _Zone) -> None:
        self.zone = zone

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        reply = self._answer(request)
        if getattr(handler, "protocol", "udp") == "udp":
            # A client without EDNS gets at most 512 bytes over UDP, with EDNS the size it
            # advertised; beyond that TC=1 and it retries over TCP. dnslib's own truncation
            # drops the question section too, which dnspython rejects as a foreign reply.
            limit = max([_CLASSIC_UDP_LIMIT] + [rr.rclass for rr in request.ar if rr.rtype == QTYPE.OPT])
            if len(reply.pack()) > limit:
                rcode = reply.header.rcode
                reply = request.reply(ra=0, aa=1)
                reply.header.rcode = rcode
                reply.header.tc = 1
        return reply

    def _answer(self, request: DNSRecord) -> DNSRecord:
        zone = self.zone  # one snapshot per query, even if set_records runs meanwhile
        reply = request.reply(ra=0, aa=1)
        try:
            if request.header.opcode != 0 or len(request.questions) != 1:
                reply.header.rcode = RCODE.NOTIMP
                return reply
            question = request.q
            name = _norm(str(question.qname))
            qtype = question.qtype
            present = zone.by_name.get(name, [])
            if qtype == QTYPE.ANY:
                matches = present
            else:
                matches = [r for r in present if r[0] == qtype]
                if not matches and qtype != QTYPE.CNAME:
                    # A name that owns a CNAME owns nothing else: answer the CNAME itself.
                    matches = [r for r in present if r[0] == QTYPE.CNAME]
            for rtype, ttl, rdata in matches:
                reply.add_answer(RR(question.qname, rtype, rdata=rdata, ttl=ttl))
            # Follow a CNAME to its target within the zone, as a recursive resolver would
            # (a DKIM TXT query at TOKEN._domainkey.DOMAIN ends at TOKEN.dkim.amazonses.com).
            seen = {name}
            while qtype not in (QTYPE.CNAME, QTYPE.ANY) and len(matches) == 1 and matches[0][0] == QTYPE.CNAME:
                target = _norm(str(matches[0][2].label))
                if target in seen or len(seen) > 8:
                    break
                seen.add(target)
                target_records = zone.by_name.get(target, [])
                matches = [r for r in target_records if r[0] == qtype] or [
                    r for r in target_records if r[0] == QTYPE.CNAME
                ]
                for rtype, ttl, rdata in matches:
                    reply.add_answer(RR(DNSLabel(target), rtype, rdata=rdata, ttl=ttl))
                present = present or target_records
            if not matches:
                if not present and name not in zone.ancestors:
                    reply.header.rcode = RCODE.NXDOMAIN
                soa = zone.soa_for(name)
                if soa is not None:
                    owner, ttl, rdata = soa
                    reply.add_auth(RR(DNSLabel(owner), QTYPE.SOA, rdata=rdata, ttl=ttl))
        except Exception:  # a bug here must cost a SERVFAIL, not a traceback on stderr
            _log.debug("DNS resolve failed", exc_info=True)
            reply = request.reply(ra=0, aa=0)
            reply.header.rcode = RCODE.SERVFAIL
        return reply


class _QuietMixin:
    """socketserver prints handler exceptions to stderr; the sandbox must stay silent. Each request
    runs in a daemon thread (a client that never sends cannot hold the process), and closing the
    server waits a moment for the ones still answering, so a stopped server leaves no thread behind."""

    daemon_threads = True
    block_on_close = False
    _REQUEST_JOIN_S = 1.0

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,  # type: ignore[attr-defined]
            args=(request, client_address),
            daemon=True,
        )
        with _REQUESTS_LOCK:
            live = [t for t in self.__dict__.get("_answering", []) if t.is_alive()]
            self.__dict__["_answering"] = [*live, thread]  # finished ones dropped: the list stays small
        thread.start()

    def server_close(self) -> None:
        super().server_close()  # type: ignore[misc]
        with _REQUESTS_LOCK:
            answering = self.__dict__.pop("_answering", [])
        for thread in answering:
            thread.join(timeout=self._REQUEST_JOIN_S)

    def handle_error(self, request: Any, client_address: Any) -> None:
        _log.debug("DNS request from %s failed", client_address, exc_info=True)


_REQUESTS_LOCK = threading.Lock()


class _UdpServer(_QuietMixin, socketserver.ThreadingMixIn, socketserver.UDPServer):
    # No SO_REUSEADDR on UDP: on Linux it would let two servers share a port silently.
    allow_reuse_address = False


class _TcpServer(_QuietMixin, socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True


def _bind_pair(resolver: BaseResolver, logger: DNSLogger, host: str, port: int) -> tuple[DNSServer, DNSServer]:
    """Bind UDP and TCP on the same port; with port 0, find one free for both."""
    attempts = 1 if port else _PORT_ATTEMPTS
    last_error: OSError | None = None
    for _ in range(attempts):
        tcp = DNSServer(resolver, address=host, port=port, tcp=True, logger=logger, server=_TcpServer)
        actual = tcp.server.server_address[1]
        try:
            udp = DNSServer(resolver, address=host, port=actual, tcp=False, logger=logger, server=_UdpServer)
        except OSError as exc:
            tcp.server.server_close()
            if exc.errno != errno.EADDRINUSE:
                raise
            last_error = exc
            continue
        return udp, tcp
    assert last_error is not None
    raise last_error


class DnsServer(LoopbackService):
    """An authoritative DNS server for a list of records, on ``host``, UDP and TCP, one port.

    >>> with DnsServer([{"name": "a.example", "type": "A", "value": "192.0.2.1"}]) as dns:
    ...     dns.port > 0
    True
    """

    def __init__(self, records: list[dict], host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self._port = port
        self._resolver = _ZoneResolver(_Zone(records))
        self._servers: list[DNSServer] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        """The port serving both UDP and TCP (the requested one until started)."""
        return self._port

    @property
    def running(self) -> bool:
        return bool(self._servers)

    def set_records(self, records: list[dict]) -> None:
        """Replace the zone; queries already in flight finish on the previous one."""
        self._resolver.zone = _Zone(records)

    def start(self) -> DnsServer:
        with self._lock:
            if self._servers:
                raise RuntimeError("DNS server already running")
            # Only errors (malformed packets), and only to our debug log: the sandbox is silent.
            logger = DNSLogger(log="error", prefix=False, logf=lambda line: _log.debug("%s", line))
            udp, tcp = _bind_pair(self._resolver, logger, self.host, self._port)
            self._port = tcp.server.server_address[1]
            self._servers = [udp, tcp]
            for server, proto in ((udp, "udp"), (tcp, "tcp")):
                thread = threading.Thread(
                    target=server.server.serve_forever,
                    kwargs={"poll_interval": _POLL_INTERVAL_S},
                    name=f"sandbox-dns-{proto}-{self._port}",
                    daemon=True,
                )
                thread.start()
                self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop serving and close both sockets; safe to call twice."""
        with self._lock:
            servers, threads = self._servers, self._threads
            self._servers, self._threads = [], []
            for server in servers:
                server.server.shutdown()  # returns within one poll interval
                server.server.server_close()
            for thread in threads:
                thread.join(timeout=2.0)
