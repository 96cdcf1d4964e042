"""The domain's SES identity, read once per run for the identity checks and the DNS checks.

Not a runbook section (it registers no check): ``identity.dkim``, ``identity.mail_from``, ``dns.dkim``
and ``dns.dmarc`` all start from SESv2 ``GetEmailIdentity`` for ``params.domain``, and whether the
domain is an identity at all is decided here alone.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ses_runbook.checks import Context
from ses_runbook.sources import ses

NOT_FOUND = ("NotFoundException", "NotFound")  # the error codes of a name that is no identity


def domain_identity(ctx: Context) -> dict[str, Any]:
    """SESv2 GetEmailIdentity for the domain, asked once per run (an answer that it is not an
    identity included); ``{}`` when the domain is not an identity at all, which
    identity.verification fails."""

    def fetch() -> dict[str, Any]:
        try:
            return ses.email_identity(ctx.aws, ctx.params.domain)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in NOT_FOUND:
                raise
            return {}

    return ctx.once("domain_identity", fetch)
