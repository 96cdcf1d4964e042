"""Bounce and complaint rates: what AWS reviews and pauses accounts on (CloudWatch Reputation.*)."""

from __future__ import annotations

from ses_runbook.checks import Context, Outcome, check
from ses_runbook.core.commands import Shell, aws_command
from ses_runbook.core.results import Status
from ses_runbook.sources import metrics


def _series(ctx: Context) -> dict:
    return ctx.once("metrics", lambda: metrics.metric_series(ctx.aws, ctx.params))


def _rate_check(ctx: Context, qid: str, label: str, warn: float, fail: float) -> Outcome:
    """Judge the latest whole period (the one still running at as_of is partial and left out) and name it."""
    data = _series(ctx)
    points = metrics.complete(data["series"][qid], data)
    last = metrics.latest(points)
    if last is None:
        return Outcome(
            Status.OK,
            f"no {label} rate published for a whole period yet (no sending, or a new account)",
            {"notes": data["notes"]},
        )
    at, value = last
    peak_at, peak = max(points, key=lambda p: p[1])
    period = metrics.period_text(at, data["period"])
    details = {
        "latest": round(value, 6),
        "latest_at": at.isoformat(),
        "period": period,
        "peak": round(peak, 6),
        "peak_at": peak_at.isoformat(),
        "warn_at": warn,
        "fail_at": fail,
        "period_s": data["period"],
        "partial_left_out": data["partial_from"].isoformat() if data.get("partial_from") else None,
    }
    text = f"{label} rate {value:.2%} for {period}, the latest whole period (peak {peak:.2%} in {ctx.params.lookback_days} days)"
    if value >= fail:
        return Outcome(
            Status.FAIL, f"{text}: at or above {fail:.2%}, the level at which AWS may pause sending", details
        )
    if value >= warn:
        return Outcome(
            Status.WARN, f"{text}: at or above {warn:.2%}, the level at which AWS reviews the account", details
        )
    return Outcome(Status.OK, text, details)


def _cli(metric: str):
    return lambda p: aws_command(
        p,
        "cloudwatch",
        "get-metric-statistics",
        "--namespace",
        "AWS/SES",
        "--metric-name",
        metric,
        "--statistics",
        "Average",
        "--period",
        p.metrics_period_s,
        "--start-time",
        Shell("\"$(date -u -d '24 hours ago' +%Y-%m-%dT%H:%M:%SZ)\""),
        "--end-time",
        Shell('"$(date -u +%Y-%m-%dT%H:%M:%SZ)"'),
    )


@check(
    "reputation.bounce_rate",
    "Bounce rate under AWS's levels",
    _cli("Reputation.BounceRate"),
    remediation="bounces-or-complaints-spike",
)
def bounce_rate(ctx: Context) -> Outcome:
    return _rate_check(ctx, "bounce_rate", "bounce", ctx.params.bounce_rate_warn, ctx.params.bounce_rate_fail)


@check(
    "reputation.complaint_rate",
    "Complaint rate under AWS's levels",
    _cli("Reputation.ComplaintRate"),
    remediation="bounces-or-complaints-spike",
)
def complaint_rate(ctx: Context) -> Outcome:
    return _rate_check(
        ctx, "complaint_rate", "complaint", ctx.params.complaint_rate_warn, ctx.params.complaint_rate_fail
    )
