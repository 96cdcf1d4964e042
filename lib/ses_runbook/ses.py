"""Read the SES account: one function per question, each saying which API call it makes.

Functions take an ``Aws`` (clients, memo, counters) and return plain Python data, so the
``check`` path needs neither pandas nor matplotlib; ``frames.py`` turns them into DataFrames.
"""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:
    from .aws import Aws

BATCH = 100  # SES's limit of identities per Get*Attributes request


def account(aws: "Aws") -> dict[str, Any]:
    """SESv2 ``GetAccount``: sending, production access, enforcement, quota, review details."""
    return aws.call("sesv2", "GetAccount")


def sending_enabled(aws: "Aws") -> bool:
    """SES ``GetAccountSendingEnabled``: the runbook page's own sandbox/paused question."""
    return bool(aws.call("ses", "GetAccountSendingEnabled").get("Enabled"))


def send_quota(aws: "Aws") -> dict[str, float]:
    """SES ``GetSendQuota``: Max24HourSend, MaxSendRate, SentLast24Hours."""
    return aws.call("ses", "GetSendQuota")


def send_statistics(aws: "Aws") -> list[dict[str, Any]]:
    """SES ``GetSendStatistics``: two weeks of 15-minute points, oldest first (AWS returns them unordered)."""
    points = aws.call("ses", "GetSendStatistics").get("SendDataPoints", [])
    return sorted(points, key=lambda p: p["Timestamp"])


def identities(aws: "Aws") -> list[str]:
    """SES ``ListIdentities``, all pages (1,000 per page): every domain and address."""
    return aws.paginate("ses", "ListIdentities", "Identities", PaginationConfig={"PageSize": 1000})


def _batched(aws: "Aws", operation: str, key: str, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    names = sorted(set(names))
    out: dict[str, dict[str, Any]] = {}
    for i in range(0, len(names), BATCH):
        out.update(aws.call("ses", operation, Identities=names[i:i + BATCH]).get(key, {}))
    return out


def verification(aws: "Aws", names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """SES ``GetIdentityVerificationAttributes``, 100 identities per call."""
    return _batched(aws, "GetIdentityVerificationAttributes", "VerificationAttributes", names)


def dkim(aws: "Aws", names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """SES ``GetIdentityDkimAttributes``, 100 identities per call."""
    return _batched(aws, "GetIdentityDkimAttributes", "DkimAttributes", names)


def mail_from(aws: "Aws", names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """SES ``GetIdentityMailFromDomainAttributes``, 100 identities per call."""
    return _batched(aws, "GetIdentityMailFromDomainAttributes", "MailFromDomainAttributes", names)


def email_identity(aws: "Aws", name: str) -> dict[str, Any]:
    """SESv2 ``GetEmailIdentity``: DKIM tokens with their signing hosted zone, MAIL FROM, policies."""
    return aws.call("sesv2", "GetEmailIdentity", EmailIdentity=name)


def identity_inventory(aws: "Aws", must_include: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Every identity with its verification and DKIM state: ListIdentities plus two batched look-ups.

    ``must_include`` adds names the account may not list (an unverified domain still has to be
    reported as missing rather than silently skipped).
    """
    names = sorted(set(identities(aws)) | set(must_include))
    verified = verification(aws, names)
    signing = dkim(aws, names)
    rows = []
    for name in names:
        v = verified.get(name, {})
        d = signing.get(name, {})
        rows.append({"identity": name, "type": "email" if "@" in name else "domain",
                     "verification": v.get("VerificationStatus", "NotFound"),
                     "dkim_enabled": d.get("DkimEnabled", False),
                     "dkim": d.get("DkimVerificationStatus", "NotStarted" if v else "NotFound"),
                     "dkim_tokens": d.get("DkimTokens", [])})
    return rows


def suppressed_destinations(aws: "Aws") -> list[dict[str, Any]]:
    """SESv2 ``ListSuppressedDestinations``, all pages: the account-level suppression list."""
    return aws.paginate("sesv2", "ListSuppressedDestinations", "SuppressedDestinationSummaries")


def when(value: Any) -> datetime | None:
    """Timestamps arrive as datetimes from botocore; tolerate ISO strings from JSON."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
