"""Runbook section "Check SES sending quota and stats": headroom under the 24-hour quota."""

from __future__ import annotations

from ses_runbook.checks import Context, Outcome, check
from ses_runbook.core.commands import aws_command
from ses_runbook.core.results import Status
from ses_runbook.sources import ses


@check(
    "quota.headroom",
    "24-hour sending quota has headroom",
    lambda p: aws_command(p, "ses", "get-send-quota"),
    remediation="sending-quota-hit",
)
def headroom(ctx: Context) -> Outcome:
    quota = ses.account(ctx.aws).get("SendQuota", {})
    limit = float(quota.get("Max24HourSend", 0))
    sent = float(quota.get("SentLast24Hours", 0))
    used = sent / limit if limit > 0 else 1.0
    details = {
        "Max24HourSend": limit,
        "MaxSendRate": quota.get("MaxSendRate"),
        "SentLast24Hours": sent,
        "used": round(used, 4),
        "remaining": max(0.0, limit - sent),
    }
    text = f"{sent:,.0f} of {limit:,.0f} sent in the last 24 h ({used:.1%}); {max(0.0, limit - sent):,.0f} left"
    p = ctx.params
    if used >= p.quota_fail:
        return Outcome(Status.FAIL, f"quota exhausted: {text}", details)
    if used >= p.quota_warn:
        return Outcome(Status.WARN, f"quota nearly exhausted (warn at {p.quota_warn:.0%}): {text}", details)
    return Outcome(Status.OK, text, details)
