"""The sandbox's DNS and SMTP servers answer real clients the way production servers do.

The checks are only as good as the world they run against: if the sandbox DNS answered
NODATA where a real server says NXDOMAIN, or the SMTP server accepted a password SES would
refuse, the sandbox would teach the checks the wrong thing.
"""

from __future__ import annotations

import base64
import logging
import smtplib
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver
import pytest

from ses_runbook.core.smtpcred import derive_smtp_password
from ses_runbook.sandbox.dns import DnsServer
from ses_runbook.sandbox.smtp import ReceivedMessage, SmtpServer

ZONE = "thephenom.app"
DKIM_NAME = f"abcdef123456._domainkey.{ZONE}"
DKIM_TARGET = "abcdef123456.dkim.amazonses.com"
SPF = "v=spf1 include:amazonses.com ~all"
DMARC = "v=DMARC1; p=quarantine; rua=mailto:dmarc@thephenom.app"
# A 2048-bit DKIM key, as published for BYODKIM: longer than one TXT character-string.
LONG_TXT = "v=DKIM1; k=rsa; p=" + "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" * 9
MAIL_FROM = f"bounce.{ZONE}"

RECORDS: list[dict] = [
    {"name": ZONE, "type": "SOA", "value": f"ns1.{ZONE}. hostmaster.{ZONE}. 1 7200 900 1209600 300"},
    {"name": ZONE, "type": "NS", "value": f"ns1.{ZONE}"},
    {"name": ZONE, "type": "A", "value": "192.0.2.10"},
    {"name": ZONE, "type": "TXT", "value": SPF, "ttl": 600},
    {"name": f"_dmarc.{ZONE}", "type": "TXT", "value": DMARC},
    {"name": DKIM_NAME, "type": "CNAME", "value": DKIM_TARGET, "ttl": 1800},
    {"name": f"byodkim._domainkey.{ZONE}", "type": "TXT", "value": LONG_TXT},
    {"name": MAIL_FROM, "type": "MX", "value": "10 feedback-smtp.us-east-1.amazonses.com"},
]

ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
REGION = "us-east-1"


def _threads() -> set[threading.Thread]:
    return set(threading.enumerate())


# --------------------------------------------------------------------------- DNS


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    before = _threads()
    server = DnsServer(RECORDS).start()
    try:
        yield server
    finally:
        server.stop()
    assert _threads() <= before, "DnsServer.stop() left a thread behind"


def _resolver(server: DnsServer) -> dns.resolver.Resolver:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [server.host]
    resolver.port = server.port
    resolver.lifetime = 2.0
    resolver.timeout = 2.0
    resolver.cache = None
    return resolver


def _txt(answer: dns.resolver.Answer) -> list[str]:
    return sorted(b"".join(rdata.strings).decode() for rdata in answer)


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_dns_answers_each_record_type(dns_server: DnsServer, tcp: bool) -> None:
    resolver = _resolver(dns_server)

    a = resolver.resolve(ZONE, "A", tcp=tcp)
    assert [r.address for r in a] == ["192.0.2.10"]
    assert a.response.flags & dns.flags.AA, "the sandbox must answer authoritatively"

    assert _txt(resolver.resolve(ZONE, "TXT", tcp=tcp)) == [SPF]
    assert resolver.resolve(ZONE, "TXT", tcp=tcp).rrset.ttl == 600
    assert _txt(resolver.resolve(f"_dmarc.{ZONE}", "TXT", tcp=tcp)) == [DMARC]

    cname = resolver.resolve(DKIM_NAME, "CNAME", tcp=tcp)
    assert [r.target.to_text() for r in cname] == [DKIM_TARGET + "."]
    assert cname.rrset.ttl == 1800

    mx = resolver.resolve(MAIL_FROM, "MX", tcp=tcp)
    assert [(r.preference, r.exchange.to_text()) for r in mx] == [(10, "feedback-smtp.us-east-1.amazonses.com.")]
    assert [r.target.to_text() for r in resolver.resolve(ZONE, "NS", tcp=tcp)] == [f"ns1.{ZONE}."]
    assert resolver.resolve(ZONE, "SOA", tcp=tcp).rrset[0].minimum == 300


def test_dns_names_are_case_insensitive_and_the_trailing_dot_optional(dns_server: DnsServer) -> None:
    resolver = _resolver(dns_server)
    assert _txt(resolver.resolve("_DMARC.ThePhenom.App.", "TXT")) == [DMARC]
    assert _txt(resolver.resolve("_dmarc.thephenom.app", "TXT")) == [DMARC]


def test_dns_other_type_at_a_cname_returns_the_cname(dns_server: DnsServer) -> None:
    """A TXT query for a DKIM CNAME name gets the CNAME (no chasing), as from a real server."""
    query = dns.message.make_query(DKIM_NAME, "TXT")
    response = dns.query.udp(query, dns_server.host, port=dns_server.port, timeout=2.0)
    assert response.rcode() == dns.rcode.NOERROR
    assert [rrset.rdtype for rrset in response.answer] == [dns.rdatatype.CNAME]
    assert response.answer[0][0].target.to_text() == DKIM_TARGET + "."


def test_dns_nxdomain_vs_nodata(dns_server: DnsServer) -> None:
    resolver = _resolver(dns_server)
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver.resolve(f"missing._domainkey.{ZONE}", "CNAME")
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver.resolve("example.com", "A")
    # The name exists, just not with that type: NODATA, not NXDOMAIN.
    with pytest.raises(dns.resolver.NoAnswer):
        resolver.resolve(ZONE, "MX")
    # An empty non-terminal (parent of a record, owning none) exists too.
    with pytest.raises(dns.resolver.NoAnswer):
        resolver.resolve(f"_domainkey.{ZONE}", "TXT")

    query = dns.message.make_query(f"_dmarc.{ZONE}", "A")
    response = dns.query.tcp(query, dns_server.host, port=dns_server.port, timeout=2.0)
    assert response.rcode() == dns.rcode.NOERROR and response.answer == []
    assert response.flags & dns.flags.AA
    assert [rrset.rdtype for rrset in response.authority] == [dns.rdatatype.SOA]


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_dns_long_txt_round_trips_in_255_byte_chunks(dns_server: DnsServer, tcp: bool) -> None:
    assert len(LONG_TXT) > 255
    answer = _resolver(dns_server).resolve(f"byodkim._domainkey.{ZONE}", "TXT", tcp=tcp)
    (rdata,) = list(answer)
    assert [len(s) for s in rdata.strings] == [255, len(LONG_TXT) - 255]
    assert b"".join(rdata.strings).decode() == LONG_TXT


def test_dns_udp_answer_too_large_is_truncated_with_question_kept(dns_server: DnsServer) -> None:
    """Beyond 512 bytes a UDP client without EDNS gets TC=1 and must retry over TCP."""
    many = [{"name": ZONE, "type": "TXT", "value": f"{i:03d}" + "x" * 200} for i in range(5)]
    dns_server.set_records(many)
    query = dns.message.make_query(ZONE, "TXT")
    response = dns.query.udp(query, dns_server.host, port=dns_server.port, timeout=2.0)
    assert response.flags & dns.flags.TC
    assert response.question == query.question
    # The resolver falls back to TCP on its own.
    assert len(list(_resolver(dns_server).resolve(ZONE, "TXT"))) == 5


def test_dns_set_records_takes_effect(dns_server: DnsServer) -> None:
    resolver = _resolver(dns_server)
    assert _txt(resolver.resolve(f"_dmarc.{ZONE}", "TXT")) == [DMARC]

    broken = [r for r in RECORDS if not r["name"].startswith("_dmarc")]
    broken.append({"name": f"_dmarc.{ZONE}", "type": "TXT", "value": "v=DMARC1; p=none"})
    broken.append({"name": ZONE, "type": "TXT", "value": "v=spf1 -all"})
    dns_server.set_records(broken)

    assert _txt(resolver.resolve(f"_dmarc.{ZONE}", "TXT")) == ["v=DMARC1; p=none"]
    assert _txt(resolver.resolve(ZONE, "TXT")) == sorted([SPF, "v=spf1 -all"])

    dns_server.set_records([])
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver.resolve(f"_dmarc.{ZONE}", "TXT")


def test_dns_rejects_an_invalid_record_up_front() -> None:
    with pytest.raises(ValueError, match="record #0"):
        DnsServer([{"name": ZONE, "type": "MX", "value": "feedback-smtp.example"}])
    with pytest.raises(ValueError, match="unsupported"):
        DnsServer([{"name": ZONE, "type": "HINFO", "value": "x"}])


def test_dns_serves_udp_and_tcp_on_one_port_and_stop_frees_it() -> None:
    server = DnsServer(RECORDS).start()
    port = server.port
    try:
        assert port > 0
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            with socket.socket(socket.AF_INET, kind) as sock, pytest.raises(OSError):
                sock.bind((server.host, port))
    finally:
        server.stop()
    server.stop()  # idempotent
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((server.host, port))  # the UDP socket is really closed
    query = dns.message.make_query(ZONE, "A")
    with pytest.raises((dns.exception.Timeout, ConnectionError, OSError)):
        dns.query.tcp(query, server.host, port=port, timeout=0.5)


def test_dns_is_silent_even_for_garbage(dns_server: DnsServer, capfd: pytest.CaptureFixture[str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.3)
        sock.sendto(b"\x00\x01garbage", (dns_server.host, dns_server.port))
        with pytest.raises(socket.timeout):
            sock.recv(512)
    with socket.create_connection((dns_server.host, dns_server.port), timeout=2.0) as sock:
        sock.sendall(b"\x00")  # a TCP frame too short to hold a length
    _resolver(dns_server).resolve(ZONE, "A")  # still serving
    out, err = capfd.readouterr()
    assert out == "" and err == ""


# --------------------------------------------------------------------------- SMTP

SMTP_PASSWORD = derive_smtp_password(SECRET_ACCESS_KEY, REGION)
MESSAGE = b"From: noreply@thephenom.app\r\nSubject: t\r\n\r\nhi\r\n"  # lines end in CRLF: sent as they are


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[SmtpServer]:
    before = _threads()
    server = SmtpServer({ACCESS_KEY_ID: SMTP_PASSWORD}, tmp_path / "certs").start()
    try:
        yield server
    finally:
        server.stop()
    assert _threads() <= before, "SmtpServer.stop() left a thread behind"


def _client(server: SmtpServer, host: str | None = None) -> smtplib.SMTP:
    return smtplib.SMTP(host or server.host, server.port, timeout=5)


def _tls(server: SmtpServer) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=server.ca_file)


def test_smtp_accepts_the_ses_password_derived_from_the_key(smtp_server: SmtpServer) -> None:
    assert smtp_server.ca_file.is_file()
    with _client(smtp_server) as client:
        client.starttls(context=_tls(smtp_server))
        code, text = client.login(ACCESS_KEY_ID, SMTP_PASSWORD)
        assert (code, text) == (235, b"Authentication successful.")
        client.sendmail(f"noreply@{ZONE}", ["success@simulator.amazonses.com"], MESSAGE)
        client.sendmail(f"alerts@{ZONE}", ["a@example.com", "b@example.net"], MESSAGE.replace(b"hi", b"hello"))
    # each message recorded with its own envelope, and all of its bytes arrived: the server keeps
    # the envelope and the size only (a message's content may hold secrets)
    assert smtp_server.received == [
        ReceivedMessage(f"noreply@{ZONE}", ("success@simulator.amazonses.com",), len(MESSAGE)),
        ReceivedMessage(f"alerts@{ZONE}", ("a@example.com", "b@example.net"), len(MESSAGE) + 3),
    ]


@pytest.mark.parametrize(
    "user, password",
    [
        (ACCESS_KEY_ID, derive_smtp_password(SECRET_ACCESS_KEY, "eu-west-1")),  # wrong region
        (ACCESS_KEY_ID, SECRET_ACCESS_KEY),  # the secret key itself, a classic mistake
        ("AKIAOTHERKEY00000000", SMTP_PASSWORD),  # wrong user
    ],
    ids=["wrong-region", "secret-key-as-password", "wrong-user"],
)
def test_smtp_refuses_wrong_credentials_with_535(smtp_server: SmtpServer, user: str, password: str) -> None:
    with _client(smtp_server) as client:
        client.starttls(context=_tls(smtp_server))
        with pytest.raises(smtplib.SMTPAuthenticationError) as excinfo:
            client.login(user, password)
    assert excinfo.value.smtp_code == 535
    assert excinfo.value.smtp_error == b"Authentication Credentials Invalid"


def test_smtp_auth_login_mechanism_and_greeting(smtp_server: SmtpServer) -> None:
    with _client(smtp_server) as client:
        client.starttls(context=_tls(smtp_server))
        client.ehlo()
        assert set(client.esmtp_features["auth"].split()) == {"PLAIN", "LOGIN"}
        code, _ = client.docmd("AUTH", "LOGIN " + base64.b64encode(ACCESS_KEY_ID.encode()).decode())
        assert code == 334
        code, text = client.docmd(base64.b64encode(SMTP_PASSWORD.encode()).decode())
        assert (code, text) == (235, b"Authentication successful.")
    with socket.create_connection((smtp_server.host, smtp_server.port), timeout=5) as sock:
        banner = sock.recv(512)
    assert banner.startswith(b"220 email-smtp.sandbox.local ESMTP SimpleEmailService")


def test_smtp_auth_before_starttls_is_refused(smtp_server: SmtpServer) -> None:
    with _client(smtp_server) as client:
        client.ehlo()
        assert client.has_extn("starttls")
        assert not client.has_extn("auth"), "AUTH must not be offered before STARTTLS"
        with pytest.raises(smtplib.SMTPNotSupportedError):
            client.login(ACCESS_KEY_ID, SMTP_PASSWORD)
        plain = base64.b64encode(f"\0{ACCESS_KEY_ID}\0{SMTP_PASSWORD}".encode()).decode()
        assert client.docmd("AUTH", f"PLAIN {plain}") == (530, b"Must issue a STARTTLS command first")
        code, _ = client.docmd("MAIL", f"FROM:<noreply@{ZONE}>")
        assert code == 530
    assert smtp_server.received == []


def test_smtp_mail_needs_auth_even_after_starttls(smtp_server: SmtpServer) -> None:
    with _client(smtp_server) as client:
        client.starttls(context=_tls(smtp_server))
        client.ehlo()
        code, _ = client.docmd("MAIL", f"FROM:<noreply@{ZONE}>")
    assert code == 530


def test_smtp_certificate_is_not_trusted_without_the_ca(smtp_server: SmtpServer) -> None:
    client = _client(smtp_server)
    try:
        with pytest.raises(ssl.SSLCertVerificationError):
            client.starttls(context=ssl.create_default_context())
    finally:
        client.close()
    # The server survives a failed handshake and still serves the next client.
    with _client(smtp_server) as client:
        client.starttls(context=_tls(smtp_server))
        assert client.login(ACCESS_KEY_ID, SMTP_PASSWORD)[0] == 235


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "email-smtp.sandbox.local"])
def test_smtp_certificate_names(smtp_server: SmtpServer, name: str) -> None:
    """The certificate verifies for every name a parameter set may use for the host."""
    with _client(smtp_server) as client:
        client.ehlo()
        assert client.docmd("STARTTLS")[0] == 220
        with _tls(smtp_server).wrap_socket(client.sock, server_hostname=name) as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
    with _client(smtp_server) as client, pytest.raises(ssl.SSLCertVerificationError):
        client.ehlo()
        client.docmd("STARTTLS")
        _tls(smtp_server).wrap_socket(client.sock, server_hostname="email-smtp.us-east-1.amazonaws.com")


def test_smtp_staged_temporary_failure(smtp_server: SmtpServer) -> None:
    smtp_server.refuse_auth_with = (454, "Temporary authentication failure")
    with _client(smtp_server) as client:
        client.starttls(context=_tls(smtp_server))
        with pytest.raises(smtplib.SMTPAuthenticationError) as excinfo:
            client.login(ACCESS_KEY_ID, SMTP_PASSWORD)
        assert excinfo.value.smtp_code == 454
        assert excinfo.value.smtp_error == b"Temporary authentication failure"
        smtp_server.refuse_auth_with = None
        assert client.login(ACCESS_KEY_ID, SMTP_PASSWORD)[0] == 235


def test_smtp_credentials_callable_is_read_at_each_auth(tmp_path: Path) -> None:
    """A scenario can rotate the IAM key while the server runs."""
    current = {ACCESS_KEY_ID: SMTP_PASSWORD}
    with SmtpServer(lambda: current, tmp_path) as server:
        with _client(server) as client:
            client.starttls(context=_tls(server))
            assert client.login(ACCESS_KEY_ID, SMTP_PASSWORD)[0] == 235
        current = {ACCESS_KEY_ID: derive_smtp_password("rotated/secret", REGION)}
        with _client(server) as client:
            client.starttls(context=_tls(server))
            with pytest.raises(smtplib.SMTPAuthenticationError) as excinfo:
                client.login(ACCESS_KEY_ID, SMTP_PASSWORD)
        assert excinfo.value.smtp_code == 535
    assert not server.running


def test_smtp_stop_is_prompt_and_closes_open_connections(tmp_path: Path) -> None:
    before = _threads()
    server = SmtpServer({ACCESS_KEY_ID: SMTP_PASSWORD}, tmp_path).start()
    port = server.port
    client = _client(server)
    try:
        client.starttls(context=_tls(server))
        server.stop()
        server.stop()  # idempotent
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.noop()
    finally:
        client.close()
    assert _threads() <= before
    with pytest.raises(OSError):
        socket.create_connection((server.host, port), timeout=1).close()


def test_smtp_is_quiet(smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture) -> None:
    with _client(smtp_server) as client:
        client.starttls(context=_tls(smtp_server))
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.login(ACCESS_KEY_ID, "wrong")
    client = _client(smtp_server)
    try:
        with pytest.raises(ssl.SSLCertVerificationError):
            client.starttls(context=ssl.create_default_context())
    finally:
        client.close()
    with _client(smtp_server) as client:  # a round trip, so the server has handled the above
        client.noop()
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
