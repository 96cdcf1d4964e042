"""Runbook sections "Check domain verification status" and "Check DKIM status"."""
from __future__ import annotations

from .. import ses
from ..commands import aws_command
from ..results import Status
from . import Context, Outcome, check


def inventory(ctx: Context) -> list[dict]:
    """All identities with verification and DKIM, fetched once per run (batched)."""
    if "identities" not in ctx.cache:
        ctx.cache["identities"] = ses.identity_inventory(ctx.aws, must_include=[ctx.params.domain])
    return ctx.cache["identities"]


@check("identity.verification", "Domain and sender are verified",
       lambda p: aws_command(p, "ses", "get-identity-verification-attributes", f"--identities {p.domain} {p.sender}"),
       remediation="emails-not-delivered", needs=("ses",))
def verification(ctx: Context) -> Outcome:
    p = ctx.params
    rows = {r["identity"]: r for r in inventory(ctx)}
    domain = rows.get(p.domain, {}).get("verification", "NotFound")
    sender_domain = p.sender.rpartition("@")[2].lower()
    own = rows.get(p.sender, {}).get("verification")
    via = rows.get(sender_domain, {}).get("verification")
    sender_ok = own == "Success" or via == "Success"
    others = [r["identity"] for r in rows.values() if r["verification"] not in ("Success",) and r["identity"] not in (p.domain, p.sender)]
    details = {"domain": {"identity": p.domain, "VerificationStatus": domain},
               "sender": {"identity": p.sender, "VerificationStatus": own or "not an identity", "via_domain": via},
               "identities": len(rows), "unverified_others": others[:20]}
    if domain != "Success":
        return Outcome(Status.FAIL, f"domain {p.domain} is not verified (VerificationStatus {domain}): SES rejects mail from it",
                       details, "domain-not-verified")
    if not sender_ok:
        return Outcome(Status.FAIL, f"sender {p.sender} is not covered by a verified identity", details, "domain-not-verified")
    extra = f"; {len(others)} other identities not verified" if others else ""
    how = "its own identity" if own == "Success" else f"the domain {sender_domain}"
    return Outcome(Status.WARN if others else Status.OK,
                   f"{p.domain} verified; {p.sender} verified through {how}{extra}", details)


@check("identity.dkim", "DKIM signing is enabled and verified for the domain",
       lambda p: aws_command(p, "ses", "get-identity-dkim-attributes", f"--identities {p.domain}"),
       remediation="dkim-verification-failed", needs=("ses",))
def dkim(ctx: Context) -> Outcome:
    p = ctx.params
    row = next((r for r in inventory(ctx) if r["identity"] == p.domain), None)
    if row is None or row["verification"] == "NotFound":
        return Outcome(Status.FAIL, f"{p.domain} is not an SES identity, so nothing is DKIM-signed", {"identity": p.domain})
    details = {"identity": p.domain, "DkimEnabled": row["dkim_enabled"], "DkimVerificationStatus": row["dkim"],
               "DkimTokens": row["dkim_tokens"]}
    if row["dkim"] != "Success":
        return Outcome(Status.FAIL, f"DKIM verification for {p.domain} is {row['dkim']}: SES cannot find the CNAME records "
                       f"for its {len(row['dkim_tokens'])} tokens", details)
    if not row["dkim_enabled"]:
        return Outcome(Status.FAIL, f"DKIM is verified but signing is DISABLED for {p.domain}: mail goes out unsigned",
                       details, "emails-going-to-spam")
    return Outcome(Status.OK, f"DKIM enabled and verified for {p.domain} ({len(row['dkim_tokens'])} tokens)", details)
