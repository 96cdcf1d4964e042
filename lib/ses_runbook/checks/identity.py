"""Runbook sections "Check domain verification status" and "Check DKIM status".

Whether the sender is covered is SES's rule, kept in ``core.identities``: its own verified
address identity, or a verified domain identity of its domain or of any parent domain
(``no-reply@mail.thephenom.app`` sends under verified ``thephenom.app``).
"""

from __future__ import annotations

from ses_runbook.checks import Context, Outcome, check
from ses_runbook.checks.domain import domain_identity
from ses_runbook.core.commands import aws_command
from ses_runbook.core.identities import VERIFIED, covering_identity, nearest_domain_identity
from ses_runbook.core.results import Status
from ses_runbook.sources import ses


@check(
    "identity.verification",
    "Domain and sender are verified",
    lambda p: aws_command(p, "ses", "get-identity-verification-attributes", "--identities", p.domain, p.sender),
    remediation="emails-not-delivered",
)
def verification(ctx: Context) -> Outcome:
    p = ctx.params
    rows = ses.email_identities(ctx.aws)
    statuses = {name: row["verification"] for name, row in rows.items()}
    domain = rows.get(p.domain, {}).get("verification", "NotFound")
    own = rows.get(p.sender, {}).get("verification")
    covering = covering_identity(p.sender, statuses)
    parent = covering if covering and "@" not in covering else nearest_domain_identity(p.sender, statuses)
    via = statuses.get(parent) if parent else None
    others = [
        r["identity"]
        for r in rows.values()
        if r["verification"] != VERIFIED and r["identity"] not in (p.domain, p.sender)
    ]
    details = {
        "domain": {"identity": p.domain, "VerificationStatus": domain},
        "sender": {"identity": p.sender, "VerificationStatus": own or "not an identity", "via_domain": via},
        "identities": len(rows),
        "unverified_others": others[:20],
    }
    if domain != VERIFIED:
        return Outcome(
            Status.FAIL,
            f"domain {p.domain} is not verified (VerificationStatus {domain}): SES rejects mail from it",
            details,
            "domain-not-verified",
        )
    if covering is None:
        why = (
            f"the nearest domain identity, {parent}, is {via}"
            if parent
            else "neither the address nor its domain or a parent domain is an identity"
        )
        return Outcome(
            Status.FAIL,
            f"sender {p.sender} is not covered by a verified identity ({why})",
            details,
            "domain-not-verified",
        )
    extra = f"; {len(others)} other identities not verified" if others else ""
    how = "its own identity" if "@" in covering else f"the domain {covering}"
    return Outcome(
        Status.WARN if others else Status.OK, f"{p.domain} verified; {p.sender} verified through {how}{extra}", details
    )


@check(
    "identity.dkim",
    "DKIM signing is enabled and verified for the domain",
    lambda p: aws_command(p, "ses", "get-identity-dkim-attributes", "--identities", p.domain),
    remediation="dkim-verification-failed",
)
def dkim(ctx: Context) -> Outcome:
    p = ctx.params
    identity = domain_identity(ctx)
    if not identity:
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
    if status != VERIFIED:
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
