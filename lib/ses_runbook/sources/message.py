"""One received message, as data: its bytes and headers, its Received chain, body defects, the receiver's verdicts.

The runbook's "Emails going to spam" row ends with "run mail tester". DNS records that look
right do not prove that a delivered message passes, so the mail tester reads the message itself:
a saved ``.eml`` (``read_file``), or what SES receiving stored in S3 and a test mailbox holds over
IMAP (``sources.inbound``). This module parses it and reads out what a deliverability engineer
reads first (the Received chain with TLS or not, the connecting hop, body defects) and what the
receiving side wrote into it (``Authentication-Results``, ARC, SES receiving's ``X-SES-*-Verdict``,
parsed with ``authres``). It decides nothing: ``checks.message`` judges the message from these.

Every function returns data; nothing prints. Bad input is a ``MessageError`` (one line, exit 2),
never a traceback.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ses_runbook.core.errors import MessageError
from ses_runbook.core.identities import domain_of

MAX_BYTES = 25 * 1024 * 1024  # larger than any provider accepts: not a message a support ticket brings
_PRIVATE = [
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "127.0.0.0/8",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
        "169.254.0.0/16",
        "100.64.0.0/10",
    )
]
_IP_IN_FROM = re.compile(
    r"\[(?:IPv6:)?([0-9A-Fa-f:.]+)\]|\(\s*([0-9]{1,3}(?:\.[0-9]{1,3}){3})\s*\)|\b([0-9]{1,3}(?:\.[0-9]{1,3}){3})\b"
)


# -- reading -------------------------------------------------------------------------------------
@dataclass
class Message:
    """A message as received: its bytes (DKIM needs them exactly) and the parsed headers."""

    raw: bytes
    source: str  # where it came from: a file path, s3://bucket/key, imap://host/folder
    parsed: email.message.Message = field(repr=False)
    folder: str | None = None  # the IMAP folder it was found in (inbox placement)

    def header(self, name: str) -> str | None:
        value = self.parsed.get(name)
        return None if value is None else _unfold(str(value))

    def headers(self, name: str) -> list[str]:
        return [_unfold(str(v)) for v in (self.parsed.get_all(name) or [])]

    @property
    def from_address(self) -> str | None:
        addresses = email.utils.getaddresses(self.headers("From"))
        return addresses[0][1] if addresses and addresses[0][1] else None

    @property
    def from_domain(self) -> str | None:
        return domain_of(self.from_address)

    @property
    def return_path(self) -> str | None:
        value = self.header("Return-Path")
        if value is None:
            return None
        address = email.utils.parseaddr(value)[1]
        return address or ""  # "" is the null sender <> (bounces)

    @property
    def message_id(self) -> str | None:
        return self.header("Message-ID")


def _unfold(value: str) -> str:
    return re.sub(r"\r?\n[ \t]+", " ", value).strip()


def parse(raw: bytes, source: str) -> Message:
    """Parse message bytes; ``MessageError`` when they are not an RFC 5322 message at all."""
    if not raw.strip():
        raise MessageError(f"{source} is empty: not a message")
    if b"\x00" in raw[:65536]:
        raise MessageError(
            f"{source} is binary (NUL bytes): not a message; save the message as .eml or 'show original' text"
        )
    if not re.match(rb"^[!-9;-~]+:", raw.lstrip(b"\r\n")):
        raise MessageError(
            f"{source} does not start with a header line ('Name: value'): not a message; "
            "save it as .eml or use the provider's 'show original'"
        )
    parsed = email.message_from_bytes(raw, policy=email.policy.compat32)
    if parsed.get("From") is None:
        raise MessageError(f"{source} has no From header: not a message (or only its body was saved)")
    return Message(raw=raw, source=source, parsed=parsed)


def read_file(path: str | Path) -> Message:
    """Read a saved message (``.eml`` or the provider's 'show original' text) from a file."""
    path = Path(path).expanduser()
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise MessageError(
                f"message file '{path}' is {size:,} bytes: larger than any provider accepts; not a message"
            )
        raw = path.read_bytes()
    except FileNotFoundError:
        raise MessageError(f"message file '{path}' does not exist") from None
    except IsADirectoryError:
        raise MessageError(f"message file '{path}' is a folder, not a message") from None
    except OSError as exc:
        raise MessageError(f"message file '{path}' cannot be read: {exc.strerror}") from None
    return parse(raw, str(path))


# -- what a deliverability engineer reads first --------------------------------------------------
def received_hops(msg: Message) -> list[dict[str, Any]]:
    """The Received chain, newest first: from, IP, by, TLS or not, date."""
    rows = []
    for i, value in enumerate(msg.headers("Received")):
        head, _, date = value.rpartition(";")
        head = head or value
        from_part = re.search(r"\bfrom\s+(.*?)(?=\s+by\s|\s+with\s|\s+id\s|$)", head, re.IGNORECASE | re.DOTALL)
        by_part = re.search(r"\bby\s+(\S+)", head, re.IGNORECASE)
        with_part = re.search(r"\bwith\s+(\S+)", head, re.IGNORECASE)
        ip = _ip_of(from_part.group(1)) if from_part else None
        proto = with_part.group(1) if with_part else ""
        tls = bool(re.search(r"ESMTPS|ESMTPSA|TLS|version=TLS", head, re.IGNORECASE))
        helo = from_part.group(1).split()[0] if from_part and from_part.group(1).split() else None
        rows.append(
            {
                "hop": i + 1,
                "from": helo,
                "ip": ip,
                "by": by_part.group(1) if by_part else None,
                "with": proto,
                "tls": "yes" if tls else "no",
                "date": date.strip() if date else "",
            }
        )
    return rows


def _ip_of(text: str) -> str | None:
    for match in _IP_IN_FROM.finditer(text):
        candidate = next(g for g in match.groups() if g)
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
    return None


def _public(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    return not any(address in net for net in _PRIVATE if net.version == address.version)


def connecting_hop(msg: Message) -> dict[str, Any] | None:
    """The hop where the message entered the receiver: the newest Received whose sender has a public IP."""
    for hop in received_hops(msg):
        if hop["ip"] and _public(hop["ip"]):
            return hop
    return None


def header_rows(msg: Message) -> list[dict[str, Any]]:
    """From, Return-Path, Message-ID, Subject, Date and the Received hops with TLS or not."""
    rows = [
        {"header": name, "value": msg.header(name) if msg.header(name) is not None else "(absent)"}
        for name in (
            "From",
            "Return-Path",
            "Message-ID",
            "Subject",
            "Date",
            "List-Unsubscribe",
            "List-Unsubscribe-Post",
        )
    ]
    for hop in received_hops(msg):
        rows.append(
            {
                "header": f"Received #{hop['hop']}",
                "value": f"from {hop['from'] or '?'} [{hop['ip'] or 'no IP'}] by {hop['by'] or '?'} with {hop['with'] or '?'}"
                f"; TLS {hop['tls']}",
            }
        )
    return rows


def body_defects(msg: Message) -> list[str]:
    """What is wrong with the body itself: truncated MIME, 8-bit data where 7-bit was declared."""
    found = []
    for part in msg.parsed.walk():
        for defect in getattr(part, "defects", []) or []:
            found.append(type(defect).__name__)
    _, _, body = msg.raw.partition(b"\r\n\r\n") if b"\r\n\r\n" in msg.raw else msg.raw.partition(b"\n\n")
    declared = (msg.header("Content-Transfer-Encoding") or "7bit").lower()
    if (
        declared in ("7bit", "quoted-printable", "base64")
        and re.search(rb"[\x80-\xff]", body)
        and not msg.parsed.is_multipart()
    ):
        found.append(f"8-bit bytes in a body declared {declared}")
    if b"\xef\xbf\xbd" in body:
        found.append("U+FFFD replacement characters (the body was re-encoded)")
    return sorted(set(found))


# -- the receiver's own verdicts -----------------------------------------------------------------
def receiver_verdicts(msg: Message) -> list[dict[str, Any]]:
    """What the receiving side wrote into the message: Authentication-Results, ARC, SES receiving verdicts."""
    # deferred: authres: only when a message is judged
    import authres

    rows = []
    for header in ("Authentication-Results", "ARC-Authentication-Results"):
        for value in msg.headers(header):
            text = re.sub(r"^\s*i=\d+\s*;", "", value) if header.startswith("ARC") else value
            try:
                parsed = authres.AuthenticationResultsHeader.parse_value(text)
            except Exception:  # noqa: BLE001 - a header we cannot parse is shown as it is
                rows.append({"source": header, "by": "?", "method": "?", "result": "unparsed", "detail": value[:200]})
                continue
            for res in parsed.results:
                detail = " ".join(f"{p.type}.{p.name}={p.value}" for p in res.properties)
                rows.append(
                    {
                        "source": header,
                        "by": parsed.authserv_id,
                        "method": res.method,
                        "result": res.result,
                        "detail": detail,
                    }
                )
    for header in ("X-SES-Spam-Verdict", "X-SES-Virus-Verdict"):
        verdict = msg.header(header)
        if verdict:
            rows.append(
                {
                    "source": header,
                    "by": "SES receiving",
                    "method": header[6:-8].lower(),
                    "result": verdict.lower(),
                    "detail": "",
                }
            )
    for value in msg.headers("Received-SPF"):
        rows.append(
            {
                "source": "Received-SPF",
                "by": "?",
                "method": "spf",
                "result": value.split()[0].lower() if value else "?",
                "detail": value[:200],
            }
        )
    return rows
