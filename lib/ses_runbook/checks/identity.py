"""Runbook sections "Check domain verification status" and "Check DKIM status"."""

from __future__ import annotations

from ses_runbook.checks import Context, Outcome, check
from ses_runbook.core.commands import aws_command
from ses_runbook.core.results import Status
from ses_runbook.sources import ses


def _domain_identity(ctx: Context) -> dict | None:
    """SESv2 GetEmailIdentity for the domain (shared with the DNS checks); None when it is not an identity."""
    from botocore.exceptions import ClientError

    try:
        return ses.email_identity(ctx.aws, ctx.params.domain)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NotFoundException", "NotFound"):
            return None
        raise


@check(
    "identity.verification",
    "Domain and sender are verified",
    lambda p: aws_command(p, "ses", "get-identity-verification-attributes", f"--identities {p.domain} {p.sender}"),
    remediation="emails-not-delivered",
)
def verification(ctx: Context) -> Outcome:
    p = ctx.params
    rows = ses.email_identities(ctx.aws)
    domain = rows.get(p.domain, {}).get("verification", "NotFound")
    sender_domain = p.sender.rpartition("@")[2].lower()
    own = rows.get(p.sender, {}).get("verification")
    via = rows.get(sender_domain, {}).get("verification")
    sender_ok = own == "Success" or via == "Success"
    others = [
        r["identity"]
        for r in rows.values()
        if r["verification"] not in ("Success",) and r["identity"] not in (p.domain, p.sender)
    ]
    details = {
        "domain": {"identity": p.domain, "VerificationStatus": domain},
        "sender": {"identity": p.sender, "VerificationStatus": own or "not an identity", "via_domain": via},
        "identities": len(rows),
        "unverified_others": others[:20],
    }
    if domain != "Success":
        return Outcome(
            Status.FAIL,
            f"domain {p.domain} is not verified (VerificationStatus {domain}): SES rejects mail from it",
            details,
            "domain-not-verified",
        )
    if not sender_ok:
        return Outcome(
            Status.FAIL, f"sender {p.sender} is not covered by a verified identity", details, "domain-not-verified"
        )
    extra = f"; {len(others)} other identities not verified" if others else ""
    how = "its own identity" if own == "Success" else f"the domain {sender_domain}"
    return Outcome(
        Status.WARN if others else Status.OK, f"{p.domain} verified; {p.sender} verified through {how}{extra}", details
    )


@check(
    "identity.dkim",
    "DKIM signing is enabled and verified for the domain",
    lambda p: aws_command(p, "ses", "get-identity-dkim-attributes", f"--identities {p.domain}"),
    remediation="dkim-verification-failed",
)
def dkim(ctx: Context) -> Outcome:
    p = ctx.params
    identity = _domain_identity(ctx)
    if identity is None:
        return Outcome(
            Status.FAIL, f"{p.domain} is not an SES identity, so nothing is DKIM-signed", {"identity": p.domain}
        )
    attrs = identity.get("DkimAttributes", {})
    status = ses.V1_STATUS.get(attrs.get("Status", ""), attrs.get("Status", "NotStarted"))
    tokens = attrs.get("Tokens", [])
    details = {
        "identity": p.domain,
        "DkimEnabled": bool(attrs.get("SigningEnabled")),
        "DkimVerificationStatus": status,
        "DkimTokens": tokens,
        "SigningHostedZone": attrs.get("SigningHostedZone"),
    }
    if status != "Success":
        return Outcome(
            Status.FAIL,
            f"DKIM verification for {p.domain} is {status}: SES cannot find the CNAME records "
            f"for its {len(tokens)} tokens",
            details,
        )
    if not attrs.get("SigningEnabled"):
        return Outcome(
            Status.FAIL,
            f"DKIM is verified but signing is DISABLED for {p.domain}: mail goes out unsigned",
            details,
            "emails-going-to-spam",
        )
    return Outcome(Status.OK, f"DKIM enabled and verified for {p.domain} ({len(tokens)} tokens)", details)
