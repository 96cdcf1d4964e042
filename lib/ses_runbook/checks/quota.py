"""Runbook section "Check SES sending quota and stats": headroom under the 24-hour quota."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ses_runbook.checks import Context, Outcome, check
from ses_runbook.core.commands import aws_command
from ses_runbook.core.results import Status
from ses_runbook.sources import metrics, ses


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


def _peak_hours(points: list[tuple[datetime, float]], top: int = 3) -> list[dict[str, Any]]:
    """The hours (UTC) whose busiest period came closest to the limit, busiest first."""
    by_hour: dict[datetime, float] = {}
    for when, rate in points:
        hour = when.replace(minute=0, second=0, microsecond=0)
        by_hour[hour] = max(by_hour.get(hour, 0.0), rate)
    ranked = sorted(by_hour.items(), key=lambda item: (-item[1], item[0]))[:top]
    return [{"hour": f"{h:%Y-%m-%d %H}:00 UTC", "peak_per_second": round(r, 2)} for h, r in ranked]


@check(
    "quota.send_rate",
    "Peak sending rate stays under MaxSendRate",
    lambda p: (
        metrics.statistics_command(p, "Send", "Sum", 60)
        + "   # Sum / 60 per minute, against: "
        + aws_command(p, "ses", "get-send-quota", "--query", "MaxSendRate")
    ),
    remediation="sending-rate-exceeded",
)
def send_rate(ctx: Context) -> Outcome:
    """SES answers "454 Throttling: Maximum sending rate exceeded" for each message beyond MaxSendRate a
    second. CloudWatch's finest Send sums (1 minute) give the peak rate the account reached; the send
    statistics' 15-minute points are a second, coarser reading."""
    p = ctx.params
    limit = float(ses.account(ctx.aws).get("SendQuota", {}).get("MaxSendRate") or 0)
    series = metrics.send_rate_series(ctx.aws, p)
    points = series["points"]
    statistics = ses.send_statistics(ctx.aws)
    cutoff = p.as_of_datetime() - timedelta(hours=24)
    coarse = [
        float(s.get("DeliveryAttempts", 0)) / 900
        for s in statistics
        if ses.when(s["Timestamp"]) >= cutoff and ses.when(s["Timestamp"]) <= p.as_of_datetime()
    ]
    peak_at, peak = max(points, key=lambda item: item[1], default=(None, 0.0))
    details: dict[str, Any] = {
        "MaxSendRate": limit,
        "peak_per_second": round(peak, 2),
        "peak_at": f"{peak_at:%Y-%m-%d %H:%M} UTC" if peak_at else None,
        "period_s": series["period"],
        "headroom_per_second": round(limit - peak, 2),
        "used": round(peak / limit, 4) if limit else None,
        "peak_hours": _peak_hours(points),
        "send_statistics_peak_per_second": round(max(coarse, default=0.0), 2),
        "note": series["note"],
    }
    if not points:
        return Outcome(Status.OK, f"no sends in the last 24 h (MaxSendRate {limit:g}/s)", details)
    text = (
        f"peak {peak:.1f} messages/s (CloudWatch Send over {series['period']} s, at {details['peak_at']}) "
        f"against MaxSendRate {limit:g}/s; headroom {limit - peak:.1f}/s"
    )
    if limit and peak >= limit:
        return Outcome(
            Status.FAIL,
            f"sending rate at or over the limit: {text}; SES answers '454 Throttling: Maximum sending rate "
            "exceeded' to every message beyond it",
            details,
        )
    if limit and peak >= p.send_rate_warn * limit:
        return Outcome(Status.WARN, f"sending rate near the limit (warn at {p.send_rate_warn:.0%}): {text}", details)
    return Outcome(Status.OK, text, details)
