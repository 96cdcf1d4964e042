"""Messages the way SES builds them, for the sandbox's inbound path and for tests.

SES signs every accepted message twice with DKIM: once with ``d=`` the sending domain (Easy DKIM:
selector = one of the identity's tokens, whose public key sits behind the token's ``_domainkey``
CNAME at ``TOKEN.dkim.amazonses.com``) and once with ``d=amazonses.com``. The envelope sender
(Return-Path) is on the custom MAIL FROM domain, or on amazonses.com without one, and the
receiving side's Received line names an address inside amazonses.com's SPF. dkimpy signs here
exactly as it verifies in ``message.py``.
"""
from __future__ import annotations

import base64
import functools
from email.message import EmailMessage
from email.utils import format_datetime
from datetime import datetime
from typing import Any

SES_SELECTOR = "ug7nbtf4gccmlpwj322ax3p6ow6yfsug"  # the amazonses.com selector of the second signature
SES_IP = "54.240.8.30"  # inside ip4:54.240.0.0/18 of amazonses.com's SPF
SES_HOST = "a8-30.smtp-out.amazonses.com"
SIGNED_HEADERS = [b"from", b"to", b"subject", b"date", b"message-id", b"mime-version", b"content-type",
                  b"list-unsubscribe", b"list-unsubscribe-post"]


@functools.lru_cache(maxsize=8)
def keypair(label: str = "default", bits: int = 2048) -> tuple[bytes, str]:
    """An RSA key: the private key in PEM (what signs) and the DKIM TXT value (what DNS publishes).

    Cached per label for the process: generating 2048-bit keys costs a noticeable fraction of a second.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, "v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode("ascii")


def sign(raw: bytes, domain: str, selector: str, private_key: bytes, headers: list[bytes] | None = None,
         length: bool = False) -> bytes:
    """``raw`` with a DKIM-Signature (relaxed/relaxed, rsa-sha256) prepended."""
    import dkim

    present = [h for h in (headers or SIGNED_HEADERS) if f"\n{h.decode()}:".encode() in b"\n" + raw.lower().split(b"\r\n\r\n")[0].split(b"\n\n")[0]]
    signature = dkim.sign(raw, selector.encode(), domain.encode(), private_key, include_headers=present or [b"from"],
                          canonicalize=(b"relaxed", b"relaxed"), length=length)
    return signature + raw


def compose(sender: str, to: str, subject: str, text: str, message_id: str, when: datetime,
            extra_headers: dict[str, str] | None = None) -> bytes:
    """The MIME message a sender hands to SES (what SES then signs and delivers), CRLF line ends."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = message_id
    for name, value in (extra_headers or {}).items():
        msg[name] = value
    msg.set_content(text)
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def ses_deliver(raw: bytes, *, signing: list[tuple[str, str, bytes]], return_path: str, received_by: str,
                when: datetime, spam_verdict: str = "PASS") -> bytes:
    """What the receiving side stores: SES's signatures, then Return-Path, Received and SES receiving's verdicts.

    ``signing`` is a list of (domain, selector, private key), applied in order (the first ends up lowest).
    """
    for domain, selector, private_key in signing:
        raw = sign(raw, domain, selector, private_key)
    stamp = format_datetime(when)
    trace = (f"Return-Path: <{return_path}>\r\n"
             f"Received: from {SES_HOST} ({SES_HOST} [{SES_IP}])\r\n by {received_by} with ESMTPS id sandbox\r\n"
             f" for <{_first_to(raw)}>; {stamp}\r\n"
             f"X-SES-Spam-Verdict: {spam_verdict}\r\n"
             "X-SES-Virus-Verdict: PASS\r\n")
    return trace.encode() + raw


def _first_to(raw: bytes) -> str:
    import email

    parsed = email.message_from_bytes(raw)
    return email.utils.parseaddr(parsed.get("To", ""))[1]


def records(domain: str, tokens: list[str], public_txt: str) -> list[dict[str, Any]]:
    """The TXT records behind the Easy DKIM CNAMEs and amazonses.com's own selector."""
    out = [{"name": f"{t}.dkim.amazonses.com", "type": "TXT", "value": public_txt} for t in tokens]
    out.append({"name": f"{SES_SELECTOR}._domainkey.amazonses.com", "type": "TXT", "value": public_txt})
    return out
