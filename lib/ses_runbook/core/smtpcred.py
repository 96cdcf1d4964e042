"""SES SMTP credentials: the password AWS derives from an IAM secret access key.

Both the SMTP check (to explain a 535) and the sandbox's SMTP server (to accept exactly
the passwords SES would accept) need the same derivation, so it lives here alone.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re

# AWS's version-4 algorithm: https://docs.aws.amazon.com/ses/latest/dg/smtp-credentials.html
_DATE = "11111111"
_SERVICE = "ses"
_TERMINAL = "aws4_request"
_MESSAGE = "SendRawEmail"
_VERSION = b"\x04"
_VERSION_2 = b"\x02"


def _sign(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def derive_smtp_password(secret_access_key: str, region: str) -> str:
    """Return the SES SMTP password for an IAM secret access key in ``region``.

    The password is region-specific: a password derived for us-east-1 fails with 535 in
    eu-west-1, which is one of the causes the SMTP check has to tell apart.
    """
    signature = _sign(("AWS4" + secret_access_key).encode("utf-8"), _DATE)
    for part in (region, _SERVICE, _TERMINAL, _MESSAGE):
        signature = _sign(signature, part)
    return base64.b64encode(_VERSION + signature).decode("ascii")


def derive_sigv2_password(secret_access_key: str) -> str:
    """The retired version-2 SMTP password (HMAC-SHA256 of "SendRawEmail", first byte 0x02).

    SES stopped accepting these: a service still holding one gets 535. The sandbox hands one out
    to stage that cause; nothing in the runbook derives one for use.
    """
    signature = hmac.new(secret_access_key.encode("utf-8"), _MESSAGE.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(_VERSION_2 + signature).decode("ascii")


def password_kind(password: str) -> str:
    """What a configured SMTP password is, without saying anything that helps guess it.

    ``smtp-v4`` (base64 of 0x04 plus a 32-byte HMAC: the current, region-specific form),
    ``smtp-v2`` (first byte 0x02: the retired SigV2 form), ``iam-secret`` (40 characters: the raw
    IAM secret access key, never valid for SMTP) or ``unknown``.
    """
    try:
        raw = base64.b64decode(password, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) == 33 and raw[:1] == _VERSION:
        return "smtp-v4"
    if len(raw) == 33 and raw[:1] == _VERSION_2:
        return "smtp-v2"
    if re.fullmatch(r"[A-Za-z0-9/+]{40}", password):
        return "iam-secret"
    return "unknown"
