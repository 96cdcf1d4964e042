"""What notebooks display, derived from check results and the ``ses``/``metrics`` reads.

Notebooks stay thin: they call one function here and hand its rows, object or frame to a
``notebook.Runbook`` display method. Nothing here calls AWS except through the memoized
``Aws``, so a view never repeats a call a check already made.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ses_runbook.checks import dns as dns_checks
from ses_runbook.core.results import CheckResult
from ses_runbook.sources import ses

if TYPE_CHECKING:
    import pandas as pd

    from ses_runbook.core.aws import Aws

COUNTS = ["DeliveryAttempts", "Bounces", "Complaints", "Rejects"]


# -- 01: quota and statistics -----------------------------------------------------------------
def last_send_points(aws: Aws, n: int = 5) -> list[dict[str, Any]]:
    """``aws ses get-send-statistics --query 'SendDataPoints[-n:]'``: the last points as the CLI prints them."""
    points = ses.send_statistics(aws)[-n:]
    return [
        {"Timestamp": ses.when(p["Timestamp"]).isoformat(), **{k: int(p.get(k, 0)) for k in COUNTS}} for p in points
    ]


def daily_send_statistics(frame: pd.DataFrame) -> pd.DataFrame:
    """The two weeks of ``metrics.send_statistics_frame`` summed per UTC day, rates in per cent."""
    # deferred: pandas and numpy (about 40 MiB, 0.3 s): only where a frame is built; `check` never loads them
    import pandas as pd

    daily = frame[COUNTS].resample("1D").sum().astype(int)
    attempts = daily["DeliveryAttempts"].where(daily["DeliveryAttempts"] > 0)
    daily["Bounce %"] = (100 * daily["Bounces"] / attempts).fillna(0.0).round(3)
    daily["Complaint %"] = (100 * daily["Complaints"] / attempts).fillna(0.0).round(4)
    daily.index = pd.Index([t.strftime("%Y-%m-%d") for t in daily.index], name="day (UTC)")
    return daily


# -- 03: identities ---------------------------------------------------------------------------
IDENTITY_COLUMNS = ["identity", "type", "verification", "dkim_enabled", "dkim"]


# -- 04: DKIM and DNS ------------------------------------------------------------------------
def dkim_token_rows(result: CheckResult, signing_zone: str | None = None) -> list[dict[str, Any]]:
    """The DKIM tokens of the ``identity.dkim`` result as the CNAME records they must be in DNS, pointing
    where ``dns.dkim`` expects them: under ``signing_zone``, by default the SigningHostedZone the
    result read."""
    domain = result.details.get("identity", "")
    zone = signing_zone or result.details.get("SigningHostedZone")
    return [
        {"token": t, "type": "CNAME", "name": f"{t}._domainkey.{domain}", "value": dns_checks.dkim_target(t, zone)}
        for t in result.details.get("DkimTokens", [])
    ]


def records_to_add(results: Iterable[CheckResult]) -> list[dict[str, Any]]:
    """Every record the DNS checks found missing or wrong, as the zone-file line to paste."""
    rows = []
    for r in results:
        for record, line in zip(r.details.get("records_to_add", []), r.details.get("zone_lines", []), strict=False):
            rows.append(
                {
                    "check": r.id,
                    "status": r.status.value,
                    "type": record.get("type"),
                    "name": record.get("name"),
                    "zone line": line,
                }
            )
    return rows


def zone_lines(results: Iterable[CheckResult]) -> list[str]:
    """Just the zone-file lines of ``records_to_add``, for copy and paste into Cloudflare's import."""
    return [row["zone line"] for row in records_to_add(results)]


# -- 05: account -----------------------------------------------------------------------------
def account_rows(aws: Aws) -> list[dict[str, Any]]:
    """SESv2 ``GetAccount`` (the answer the account checks already read) as one row."""
    account = ses.account(aws)
    quota = account.get("SendQuota", {})
    review = (account.get("Details") or {}).get("ReviewDetails", {})
    return [
        {
            "SendingEnabled": account.get("SendingEnabled"),
            "ProductionAccessEnabled": account.get("ProductionAccessEnabled"),
            "EnforcementStatus": account.get("EnforcementStatus"),
            "review": review.get("Status", "never requested"),
            "Max24HourSend": quota.get("Max24HourSend"),
            "MaxSendRate": quota.get("MaxSendRate"),
            "MailType": (account.get("Details") or {}).get("MailType"),
        }
    ]


# -- 06: SMTP users --------------------------------------------------------------------------
SMTP_USER_COLUMNS = [
    "user",
    "can_send",
    "key",
    "status",
    "age_days",
    "last_used",
    "days_unused",
    "depended_on",
    "finding",
]


def smtp_user_rows(result: CheckResult) -> list[dict[str, Any]]:
    """The ``iam.smtp_users`` rows (access key ids already masked by the check)."""
    return list(result.details.get("users", []))


# -- 10: mail tester -------------------------------------------------------------------------
VDM_ADDS = (
    "Virtual Deliverability Manager is not enabled on this account. It adds: open and click tracking per "
    "mailbox provider, inbox-placement and reputation dashboards, and recommendations (missing DMARC, "
    "SPF or DKIM problems, bounce and complaint hot spots) listed here once it is on. It is a paid feature: "
    "turn it on in the SES console (Virtual Deliverability Manager > Get started) or with "
    "'aws sesv2 put-account-vdm-attributes --vdm-attributes VdmEnabled=ENABLED'; this runbook never does."
)


def vdm_rows(aws: Aws) -> tuple[list[dict[str, Any]], str]:
    """VDM's open recommendations (when it is enabled), or what enabling it would add."""
    info = ses.vdm(aws)
    if not info["enabled"]:
        return [], VDM_ADDS
    rows = [
        {
            "type": r.get("Type"),
            "impact": r.get("Impact"),
            "status": r.get("Status"),
            "resource": str(r.get("ResourceArn", "")).rsplit("/", 1)[-1],
            "description": r.get("Description"),
        }
        for r in info["recommendations"]
    ]
    return rows, f"Virtual Deliverability Manager is enabled: {len(rows)} recommendation(s)."
