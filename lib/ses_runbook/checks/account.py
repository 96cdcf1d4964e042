"""Runbook section "Check if account is in sandbox": sending, production access, enforcement."""

from __future__ import annotations

from ses_runbook.checks import Context, Outcome, check
from ses_runbook.core.commands import aws_command
from ses_runbook.core.results import Status
from ses_runbook.sources import ses


@check(
    "account.sending_enabled",
    "Account sending is enabled",
    lambda p: aws_command(p, "ses", "get-account-sending-enabled"),
    remediation="sending-paused",
)
def sending_enabled(ctx: Context) -> Outcome:
    account = ses.account(ctx.aws)
    if account.get("SendingEnabled"):
        return Outcome(Status.OK, "sending is enabled for the account", {"SendingEnabled": True})
    return Outcome(
        Status.FAIL,
        "sending is DISABLED for the whole account: no email leaves SES",
        {"SendingEnabled": False, "EnforcementStatus": account.get("EnforcementStatus")},
    )


@check(
    "account.production_access",
    "Account has production access (out of the SES sandbox)",
    lambda p: aws_command(
        p,
        "sesv2",
        "get-account",
        "--query",
        "{ProductionAccessEnabled: ProductionAccessEnabled, Review: Details.ReviewDetails}",
    ),
    remediation="emails-not-delivered",
)
def production_access(ctx: Context) -> Outcome:
    account = ses.account(ctx.aws)
    review = (account.get("Details") or {}).get("ReviewDetails", {})
    details = {
        "ProductionAccessEnabled": bool(account.get("ProductionAccessEnabled")),
        "ReviewStatus": review.get("Status"),
    }
    if account.get("ProductionAccessEnabled"):
        return Outcome(Status.OK, "production access: mail can go to any recipient", details)
    quota = account.get("SendQuota", {})
    return Outcome(
        Status.FAIL,
        f"the account is in the SES sandbox: only verified addresses receive mail "
        f"(quota {quota.get('Max24HourSend', 0):,.0f}/day; review {review.get('Status', 'never requested')})",
        details,
    )


@check(
    "account.enforcement",
    "Account is not under review or paused by AWS",
    lambda p: aws_command(p, "sesv2", "get-account", "--query", "EnforcementStatus"),
    remediation="sending-paused",
)
def enforcement(ctx: Context) -> Outcome:
    account = ses.account(ctx.aws)
    status = account.get("EnforcementStatus", "HEALTHY")
    review = (account.get("Details") or {}).get("ReviewDetails") or {}
    details = {"EnforcementStatus": status, "ReviewDetails": review}
    if status == "HEALTHY":
        return Outcome(Status.OK, "enforcement status HEALTHY", details)
    if status == "PROBATION":
        return Outcome(
            Status.WARN,
            "the account is under review (PROBATION): fix bounces/complaints before AWS pauses it"
            + (f" (case {review['CaseId']})" if review.get("CaseId") else ""),
            details,
            "bounces-or-complaints-spike",
        )
    return Outcome(Status.FAIL, f"enforcement status {status}: AWS has paused sending for the account", details)
