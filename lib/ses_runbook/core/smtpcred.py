"""SES SMTP credentials: the password AWS derives from an IAM secret access key.

Both the SMTP check (to explain a 535) and the sandbox's SMTP server (to accept exactly
the passwords SES would accept) need the same derivation, so it lives here alone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

# AWS's version-4 algorithm: https://docs.aws.amazon.com/ses/latest/dg/smtp-credentials.html
_DATE = "11111111"
_SERVICE = "ses"
_TERMINAL = "aws4_request"
_MESSAGE = "SendRawEmail"
_VERSION = b"\x04"


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
