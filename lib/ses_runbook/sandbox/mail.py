"""Messages the way SES builds them, for the sandbox's inbound path and for tests.

SES signs every accepted message twice with DKIM: once with ``d=`` the sending domain (Easy DKIM:
selector = one of the identity's tokens, whose public key sits behind the token's ``_domainkey``
CNAME at ``TOKEN.dkim.amazonses.com``) and once with ``d=amazonses.com``. The envelope sender
(Return-Path) is on the custom MAIL FROM domain, or on amazonses.com without one, and the
receiving side's Received line names an address inside amazonses.com's SPF. dkimpy signs here, the
library the mail tester verifies with, so a sandbox message passes or fails for the reasons a real one would.
"""

from __future__ import annotations

import base64
import email
import functools
import os
import random
import tempfile
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

SES_SELECTOR = "ug7nbtf4gccmlpwj322ax3p6ow6yfsug"  # the amazonses.com selector of the second signature
SES_IP = "54.240.8.30"  # inside ip4:54.240.0.0/18 of amazonses.com's SPF
SES_HOST = "a8-30.smtp-out.amazonses.com"
SIGNED_HEADERS = [
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"mime-version",
    b"content-type",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
]


_SMALL_PRIMES = [n for n in range(3, 2000, 2) if all(n % d for d in range(3, int(n**0.5) + 1, 2))]


def _probable_prime(n: int, rng: random.Random) -> bool:
    """Miller-Rabin with 40 rounds after trial division: error below 2**-80."""
    for p in _SMALL_PRIMES:
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(40):
        x = pow(rng.randrange(2, n - 2), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(bits: int, rng: random.Random) -> int:
    while True:
        n = rng.getrandbits(bits) | (3 << (bits - 2)) | 1
        if (n - 1) % 65537 and _probable_prime(n, rng):
            return n


@functools.lru_cache(maxsize=8)
def keypair(label: str = "default", bits: int = 2048) -> tuple[bytes, str]:
    """An RSA key: the private key in PEM (what signs) and the DKIM TXT value (what DNS publishes).

    Derived from ``label`` (a sandbox-only key, never a secret): a message saved from one sandbox run
    still verifies against the DNS of the next. Cached per process (a second of arithmetic).
    """
    # deferred: cryptography: only when the sandbox makes its keys
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    cache = Path(tempfile.gettempdir()) / f"ses-runbook-sandbox-dkim-{label}-{bits}.pem"  # same bytes every time
    try:
        key = serialization.load_pem_private_key(cache.read_bytes(), password=None)
    except (OSError, ValueError):
        rng = random.Random(f"ses-runbook sandbox DKIM key|{label}|{bits}")
        p, q = _prime(bits // 2, rng), _prime(bits // 2, rng)
        e, phi = 65537, (p - 1) * (q - 1)
        d = pow(e, -1, phi)
        key = rsa.RSAPrivateNumbers(
            p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p), rsa.RSAPublicNumbers(e, p * q)
        ).private_key()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    if not cache.exists():
        try:
            fd = os.open(cache, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(private)
        except OSError:
            pass  # another process wrote it first, or no temp dir: computed again next time
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, "v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode("ascii")


def sign(
    raw: bytes, domain: str, selector: str, private_key: bytes, headers: list[bytes] | None = None, length: bool = False
) -> bytes:
    """``raw`` with a DKIM-Signature (relaxed/relaxed, rsa-sha256) prepended."""
    # deferred: dkimpy and its crypto: only when a signature is verified or made
    import dkim

    present = [
        h
        for h in (headers or SIGNED_HEADERS)
        if f"\n{h.decode()}:".encode() in b"\n" + raw.lower().split(b"\r\n\r\n")[0].split(b"\n\n")[0]
    ]
    signature = dkim.sign(
        raw,
        selector.encode(),
        domain.encode(),
        private_key,
        include_headers=present or [b"from"],
        canonicalize=(b"relaxed", b"relaxed"),
        length=length,
    )
    return signature + raw


def compose(
    sender: str,
    to: str,
    subject: str,
    text: str,
    message_id: str,
    when: datetime,
    extra_headers: dict[str, str] | None = None,
) -> bytes:
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


def ses_deliver(
    raw: bytes,
    *,
    signing: list[tuple[str, str, bytes]],
    return_path: str,
    received_by: str,
    when: datetime,
    spam_verdict: str = "PASS",
) -> bytes:
    """What the receiving side stores: SES's signatures, then Return-Path, Received and SES receiving's verdicts.

    ``signing`` is a list of (domain, selector, private key), applied in order (the first ends up lowest).
    """
    for domain, selector, private_key in signing:
        raw = sign(raw, domain, selector, private_key)
    stamp = format_datetime(when)
    trace = (
        f"Return-Path: <{return_path}>\r\n"
        f"Received: from {SES_HOST} ({SES_HOST} [{SES_IP}])\r\n by {received_by} with ESMTPS id sandbox\r\n"
        f" for <{_first_to(raw)}>; {stamp}\r\n"
        f"X-SES-Spam-Verdict: {spam_verdict}\r\n"
        "X-SES-Virus-Verdict: PASS\r\n"
    )
    return trace.encode() + raw


def _first_to(raw: bytes) -> str:
    parsed = email.message_from_bytes(raw)
    return email.utils.parseaddr(parsed.get("To", ""))[1]


def records(domain: str, tokens: list[str], public_txt: str) -> list[dict[str, Any]]:
    """The TXT records behind the Easy DKIM CNAMEs and amazonses.com's own selector."""
    out = [{"name": f"{t}.dkim.amazonses.com", "type": "TXT", "value": public_txt} for t in tokens]
    out.append({"name": f"{SES_SELECTOR}._domainkey.amazonses.com", "type": "TXT", "value": public_txt})
    return out
