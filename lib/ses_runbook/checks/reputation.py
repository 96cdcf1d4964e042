"""Bounce and complaint rates: what AWS reviews and pauses accounts on (CloudWatch Reputation.*)."""

from __future__ import annotations

import ipaddress
from typing import Any

import botocore.exceptions

from ses_runbook.checks import Context, Outcome, check
from ses_runbook.checks.domain import domain_identity
from ses_runbook.core.errors import DnsError
from ses_runbook.core.results import Status
from ses_runbook.sources import metrics
from ses_runbook.sources.mailauth.dns import Lookup, dig_command


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
    return lambda p: metrics.statistics_command(p, metric, "Average", p.metrics_period_s)


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


def dedicated_ips(ctx: Context) -> list[str]:
    """SESv2 ``GetDedicatedIps``: the account's dedicated IPs (none: it sends from AWS's shared IPs)."""
    found: list[str] = []
    token: str | None = None
    for _ in range(100):  # pages of 100: far beyond any account's dedicated IPs
        try:
            page = ctx.aws.call("sesv2", "GetDedicatedIps", PageSize=100, **({"NextToken": token} if token else {}))
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NotFoundException", "BadRequestException"):
                return found
            raise
        found += [str(ip["Ip"]) for ip in page.get("DedicatedIps", []) if ip.get("Ip")]
        token = page.get("NextToken")
        if not token:
            break
    return found


def _listing(lookup: Lookup, name: str) -> dict[str, Any]:
    """One blocklist question: listed (127.0.0.2 to 127.0.1.x: the list's return codes), not listed
    (NXDOMAIN or no A record), refused (127.255.255.x: queried through a public resolver, over quota or
    malformed: never a listing) or error (no answer: this list only)."""
    try:
        answer = lookup.query(name, "A")
    except DnsError as exc:
        return {"state": "error", "error": str(exc)}
    codes = sorted(answer.values)
    if not codes:
        return {"state": "not listed"}
    if any(c.startswith("127.255.255.") for c in codes):
        return {"state": "refused", "codes": codes}
    return {"state": "listed", "codes": codes}


@check(
    "reputation.blocklists",
    "Sending domains and IPs are on no DNS blocklist",
    lambda p: dig_command(p, "A", f"{p.domain}.{(p.blocklist_domain_zones or ['dbl.spamhaus.org'])[0]}"),
    remediation="emails-going-to-spam",
)
def blocklists(ctx: Context) -> Outcome:
    """The sending domain and the MAIL FROM domain against the domain lists, the sending IPs (dedicated,
    and ``sending_ips``) against the IP lists, through the parameters' resolver. Each zone has a resolver
    of its own, so a list that does not answer is that list's error and the others still answer."""
    p = ctx.params
    mail_from = (domain_identity(ctx).get("MailFromAttributes") or {}).get("MailFromDomain")
    domains = list(dict.fromkeys(d for d in (p.domain, mail_from) if d))
    dedicated = dedicated_ips(ctx)
    ips = list(dict.fromkeys(dedicated + list(p.sending_ips)))
    lookups: dict[str, Lookup] = {}
    rows: list[dict[str, Any]] = []
    for zone in p.blocklist_domain_zones:
        lookups[zone] = Lookup(p)
        for domain in domains:
            rows.append({"zone": zone, "item": domain, "kind": "domain", **_listing(lookups[zone], f"{domain}.{zone}")})
    for zone in p.blocklist_ip_zones:
        lookups[zone] = Lookup(p)
        for ip in ips:
            reverse = ".".join(reversed(str(ipaddress.IPv4Address(ip)).split(".")))
            rows.append({"zone": zone, "item": ip, "kind": "ip", **_listing(lookups[zone], f"{reverse}.{zone}")})
    details: dict[str, Any] = {
        "domains": domains,
        "ips": ips,
        "dedicated_ips": dedicated,
        "shared_ips": not dedicated,
        "results": rows,
        "queries": sum(lk.asked for lk in lookups.values()),
    }
    listed = [r for r in rows if r["state"] == "listed"]
    refused = sorted({r["zone"] for r in rows if r["state"] == "refused"})
    errors = sorted({r["zone"] for r in rows if r["state"] == "error"})
    shared = (
        "; the account sends from AWS's shared IPs, which AWS manages and monitors (the team cannot delist "
        "them: keep the bounce and complaint rates low, or lease dedicated IPs)"
        if not dedicated
        else ""
    )
    notes = (
        f"; refused by {', '.join(refused)} (127.255.255.x: a public resolver or over quota, not a listing)"
        if refused
        else ""
    ) + (f"; no answer from {', '.join(errors)}" if errors else "")
    asked = f"{len(domains)} domain(s) in {len(p.blocklist_domain_zones)} and {len(ips)} IP(s) in {len(p.blocklist_ip_zones)} lists"
    if listed:
        what = ", ".join(f"{r['item']} on {r['zone']} ({', '.join(r['codes'])})" for r in listed)
        return Outcome(Status.FAIL, f"listed: {what}{notes}{shared}", details)
    if errors and len(errors) == len(lookups):
        return Outcome(Status.ERROR, f"no blocklist answered{notes}", details)
    if refused or errors:
        return Outcome(Status.WARN, f"not listed where asked ({asked}){notes}{shared}", details)
    return Outcome(Status.OK, f"on no blocklist: {asked}{shared}", details)
