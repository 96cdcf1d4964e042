"""Read the SES account: one function per question, each saying which API call it makes.

Functions take an ``Aws`` (clients, memo, counters) and return plain Python data, so the
``check`` path needs neither pandas nor matplotlib; ``metrics`` builds the notebooks' DataFrames
from them (``send_statistics_frame``), importing pandas only then.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, overload
from urllib.parse import unquote

if TYPE_CHECKING:
    from ses_runbook.core.aws import Aws

BATCH = 100  # SES's limit of identities per Get*Attributes request


def account(aws: Aws) -> dict[str, Any]:
    """SESv2 ``GetAccount``: sending, production access, enforcement, quota, review details."""
    return aws.call("sesv2", "GetAccount")


def send_statistics(aws: Aws) -> list[dict[str, Any]]:
    """SES ``GetSendStatistics``: two weeks of 15-minute points, oldest first (AWS returns them unordered)."""
    points = aws.call("ses", "GetSendStatistics").get("SendDataPoints", [])
    return sorted(points, key=lambda p: p["Timestamp"])


def identities(aws: Aws) -> list[str]:
    """SES ``ListIdentities``, all pages (1,000 per page): every domain and address."""
    return aws.paginate("ses", "ListIdentities", "Identities", PaginationConfig={"PageSize": 1000})


def _batched(aws: Aws, operation: str, key: str, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    names = sorted(set(names))
    out: dict[str, dict[str, Any]] = {}
    for i in range(0, len(names), BATCH):
        out.update(aws.call("ses", operation, Identities=names[i : i + BATCH]).get(key, {}))
    return out


def verification(aws: Aws, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """SES ``GetIdentityVerificationAttributes``, 100 identities per call."""
    return _batched(aws, "GetIdentityVerificationAttributes", "VerificationAttributes", names)


def dkim(aws: Aws, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """SES ``GetIdentityDkimAttributes``, 100 identities per call."""
    return _batched(aws, "GetIdentityDkimAttributes", "DkimAttributes", names)


def email_identity(aws: Aws, name: str) -> dict[str, Any]:
    """SESv2 ``GetEmailIdentity``: DKIM tokens with their signing hosted zone, MAIL FROM, policies."""
    return aws.call("sesv2", "GetEmailIdentity", EmailIdentity=name)


def identity_inventory(aws: Aws, must_include: Iterable[str] = ()) -> list[dict[str, Any]]:
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
        rows.append(
            {
                "identity": name,
                "type": "email" if "@" in name else "domain",
                "verification": v.get("VerificationStatus", "NotFound"),
                "dkim_enabled": d.get("DkimEnabled", False),
                "dkim": d.get("DkimVerificationStatus", "NotStarted" if v else "NotFound"),
                "dkim_tokens": d.get("DkimTokens", []),
            }
        )
    return rows


V1_STATUS = {
    "SUCCESS": "Success",
    "PENDING": "Pending",
    "FAILED": "Failed",
    "TEMPORARY_FAILURE": "TemporaryFailure",
    "NOT_STARTED": "NotStarted",
}


def email_identities(aws: Aws) -> dict[str, dict[str, Any]]:
    """SESv2 ``ListEmailIdentities``, all pages of 1,000: every identity with its verification status.

    One call per thousand identities answers what ``GetIdentityVerificationAttributes`` needs one
    call per hundred for; statuses are given in SES v1's spelling (``Success``) like the page shows.
    """
    out: dict[str, dict[str, Any]] = {}
    token = None
    while True:
        page = aws.call("sesv2", "ListEmailIdentities", PageSize=1000, **({"NextToken": token} if token else {}))
        for item in page.get("EmailIdentities", []):
            status = V1_STATUS.get(item.get("VerificationStatus", ""), item.get("VerificationStatus", "Unknown"))
            out[item["IdentityName"]] = {
                "identity": item["IdentityName"],
                "type": item.get("IdentityType"),
                "verification": status,
                "sending_enabled": item.get("SendingEnabled"),
            }
        token = page.get("NextToken")
        if not token:
            return out


def suppressed_destinations(aws: Aws) -> list[dict[str, Any]]:
    """SESv2 ``ListSuppressedDestinations``, all pages (1,000 per page): the account-level suppression list.

    botocore has no paginator for it, so the pages are followed by ``NextToken`` here.
    """
    items: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"PageSize": 1000, **({"NextToken": token} if token else {})}
        page = aws.call("sesv2", "ListSuppressedDestinations", **kwargs)
        items.extend(page.get("SuppressedDestinationSummaries", []))
        token = page.get("NextToken")
        if not token:
            return items


@overload
def when(value: None) -> None: ...
@overload
def when(value: datetime | str) -> datetime: ...
def when(value: Any) -> datetime | None:
    """Timestamps arrive as datetimes from botocore; tolerate ISO strings from JSON."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


# -- IAM: SES SMTP credentials are IAM users' access keys ------------------------------------
def user_policies(aws: Aws) -> dict[str, dict[str, dict[str, Any]]]:
    """Every IAM user with the documents of its inline and attached policies: user -> name -> document.

    IAM ``GetAccountAuthorizationDetails`` (users and the account's own managed policies, all pages)
    answers in one paged call what ``ListUsers`` plus four calls per user would; AWS-managed
    policies attached to a user (not in that answer) are read with ``GetPolicy``/``GetPolicyVersion``.
    """
    details = aws.paginate(
        "iam", "GetAccountAuthorizationDetails", ("UserDetailList", "Policies"), Filter=["User", "LocalManagedPolicy"]
    )
    local = {
        p["Arn"]: next((v.get("Document") for v in p.get("PolicyVersionList", []) if v.get("IsDefaultVersion")), None)
        for p in details["Policies"]
    }
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for user in details["UserDetailList"]:
        docs = {p["PolicyName"]: policy_document(p.get("PolicyDocument")) for p in user.get("UserPolicyList", [])}
        for attached in user.get("AttachedManagedPolicies", []):
            arn = attached["PolicyArn"]
            document = local[arn] if arn in local else managed_policy_document(aws, arn)
            docs[attached.get("PolicyName") or arn] = policy_document(document)
        out[user["UserName"]] = docs
    return out


def managed_policy_document(aws: Aws, arn: str) -> Any:
    """IAM ``GetPolicy`` then ``GetPolicyVersion``: the default version's document of one managed policy."""
    version = aws.call("iam", "GetPolicy", PolicyArn=arn)["Policy"]["DefaultVersionId"]
    return aws.call("iam", "GetPolicyVersion", PolicyArn=arn, VersionId=version)["PolicyVersion"].get("Document")


def policy_document(value: Any) -> dict[str, Any]:
    """A policy document as a dict: botocore usually decodes it, the raw API sends URL-encoded JSON."""

    if isinstance(value, dict):
        return value
    text = str(value or "").strip()
    if text and not text.startswith("{"):
        text = unquote(text)
    return json.loads(text) if text else {}


def access_keys(aws: Aws, user: str) -> list[dict[str, Any]]:
    """IAM ``ListAccessKeys``: the user's keys with status and creation date (no secrets exist here)."""
    return aws.paginate("iam", "ListAccessKeys", "AccessKeyMetadata", UserName=user)


def access_key_last_used(aws: Aws, key_id: str) -> dict[str, Any]:
    """IAM ``GetAccessKeyLastUsed``: the key's owner (UserName) and its last use (date, service, region)."""
    return aws.call("iam", "GetAccessKeyLastUsed", AccessKeyId=key_id)


CREDENTIAL_REPORT_WAIT_S = 20.0  # IAM builds a report in seconds; give up after this


def credential_report(aws: Aws) -> dict[str, Any]:
    """IAM ``GenerateCredentialReport`` then ``GetCredentialReport``: every user's access keys
    (active, created, last used: date, region, service) in two calls, whatever the number of users.

    IAM makes a new report at most every 4 hours (Generate answers COMPLETE while the last one is
    younger), so the key data may be up to 4 hours old: ``generated`` says when it was made.
    Returns ``{"generated": datetime, "account": id or None, "users": {name: row}}``; a row is the
    report's CSV line as a dict (``access_key_1_active``, ``access_key_1_last_rotated``...).
    """

    state = aws.call("iam", "GenerateCredentialReport").get("State")
    deadline = time.monotonic() + CREDENTIAL_REPORT_WAIT_S
    while True:
        try:
            report = aws.call("iam", "GetCredentialReport")
            break
        except Exception as exc:  # noqa: BLE001 - only "not ready yet" is waited for
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
            if (
                state == "COMPLETE"
                or "ReportInProgress" not in code
                and "NotReady" not in code
                or time.monotonic() > deadline
            ):
                raise
            time.sleep(1.0)
    content = report.get("Content") or b""
    text = content.decode("utf-8") if isinstance(content, bytes) else str(content)
    users = {row["user"]: row for row in csv.DictReader(io.StringIO(text))}
    root = users.pop("<root_account>", None)
    arn = (root or next(iter(users.values()), {})).get("arn", "")
    account = arn.split(":")[4] if arn.count(":") >= 5 else None
    aws.learn_account(account)  # the report names the account: the run needs no STS call for it
    return {"generated": when(report.get("GeneratedTime")), "account": account, "users": users}


def report_keys(row: dict[str, str]) -> list[dict[str, Any]]:
    """The access keys of one credential-report row: slot, status, created, last use (None when never)."""

    def value(name: str) -> str | None:
        text = (row.get(name) or "").strip()
        return None if text in ("", "N/A", "no_information", "not_supported") else text

    keys = []
    for slot in (1, 2):
        created = value(f"access_key_{slot}_last_rotated")
        if created is None:
            continue
        keys.append(
            {
                "slot": slot,
                "Status": "Active" if row.get(f"access_key_{slot}_active") == "true" else "Inactive",
                "CreateDate": when(created),
                "LastUsedDate": when(value(f"access_key_{slot}_last_used_date")),
                "Region": value(f"access_key_{slot}_last_used_region"),
                "ServiceName": value(f"access_key_{slot}_last_used_service"),
            }
        )
    return keys


def vdm(aws: Aws) -> dict[str, Any]:
    """Virtual Deliverability Manager: whether it is on (SESv2 ``GetAccount`` ``VdmAttributes``) and,
    when it is, its open recommendations (SESv2 ``ListRecommendations``). Turning it on is a paid write
    (``PutAccountVdmAttributes``), never made here."""
    attributes = account(aws).get("VdmAttributes") or {}
    enabled = attributes.get("VdmEnabled") == "ENABLED"
    recommendations: list[dict[str, Any]] = []
    token = None
    while enabled:
        page = aws.call("sesv2", "ListRecommendations", **({"NextToken": token} if token else {}))
        recommendations += page.get("Recommendations", [])
        token = page.get("NextToken")
        if not token:
            break
    return {"enabled": enabled, "attributes": attributes, "recommendations": recommendations}
