"""Runbook section "List SMTP credentials (for services using SMTP)".

SES SMTP credentials are IAM users' access keys with ``ses:SendRawEmail``. The page lists users
with ``ses`` in the name; this check also finds users whose inline or attached managed policies
allow sending, and reports every key of those users: status, age, last use. Group policies,
permission boundaries and SCPs are not evaluated.

Key data comes from IAM's credential report (two calls for every user of the account, instead
of two per user): IAM refreshes it at most every 4 hours, so the summary says when it was made.
The report has no key ids; the services' own key (the SMTP username) is looked up by id with
``GetAccessKeyLastUsed``, which names its owner, and its row is marked with the masked id.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from typing import Any

from ses_runbook.checks import Context, Outcome, check
from ses_runbook.checks.smtp import key_owner
from ses_runbook.core import iampolicy
from ses_runbook.core.commands import aws_command
from ses_runbook.core.redact import mask_key_id
from ses_runbook.core.results import Status
from ses_runbook.sources import ses

SEND_ACTION = iampolicy.SEND_ACTION
_KEY_ID = re.compile(r"^(AKIA|ASIA)[A-Z0-9]{12,}$")


def allows(document: dict[str, Any], action: str = SEND_ACTION) -> bool:
    """Whether one policy document allows ``action`` (sending, by default)."""
    return iampolicy.allows(document, action)


def _iso(value: Any) -> str | None:
    when = ses.when(value)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when else None


def _days(as_of: datetime, value: Any) -> int | None:
    when = ses.when(value)
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=as_of.tzinfo)
    return max(0, (as_of - when).days)


def service_key_owner(ctx: Context, known: dict[str, str] | None = None) -> dict[str, Any] | None:
    """The IAM user owning the access key id in the SMTP username variable, if it is set.

    ``known`` maps key ids already listed to their users; otherwise IAM ``GetAccessKeyLastUsed``
    names the owner. A key that IAM does not know is reported, not failed (smtp.auth explains it).
    """
    key_id = os.environ.get(ctx.params.smtp_username_env, "").strip()
    if not key_id:
        return None
    info: dict[str, Any] = {
        "key": mask_key_id(key_id),
        "env": ctx.params.smtp_username_env,
        "user": (known or {}).get(key_id),
    }
    if not _KEY_ID.match(key_id):
        info["note"] = "not an access key id"
        return info
    if info["user"] is None:
        owner = key_owner(ctx, key_id)
        if "error" in owner:
            info["note"] = f"not found in this account ({owner['error']})"
        else:
            info["user"] = owner.get("user")
            info["last_used"] = _iso((owner.get("last_used") or {}).get("LastUsedDate"))
    return info


def _key_row(ctx: Context, user: dict[str, Any], key: dict[str, Any], label: str) -> dict[str, Any]:
    p = ctx.params
    as_of = p.as_of_datetime()
    age = _days(as_of, key.get("CreateDate"))
    last_used = key.get("LastUsedDate")
    unused = _days(as_of, last_used) if last_used else age
    findings = []
    if key.get("Status") == "Active":
        if age is not None and age > p.key_max_age_days:
            findings.append(f"older than {p.key_max_age_days} days")
        if unused is not None and unused > p.key_unused_days:
            findings.append(f"unused for {unused} days" if last_used else f"never used in {unused} days")
    return {
        **user,
        "key": label,
        "status": key.get("Status"),
        "created": _iso(key.get("CreateDate")),
        "age_days": age,
        "last_used": _iso(last_used),
        "last_used_service": key.get("ServiceName"),
        "last_used_region": key.get("Region"),
        "days_unused": unused,
        "finding": "; ".join(findings),
    }


def _service_slot(keys: list[dict[str, Any]], owner: dict[str, Any] | None, user: str) -> int | None:
    """Which of ``user``'s report keys is the services' key: the one whose last use matches what
    ``GetAccessKeyLastUsed`` said about that key id (or the only key)."""
    if not owner or owner.get("user") != user or not keys:
        return None
    if len(keys) == 1:
        return keys[0]["slot"]
    used = ses.when((owner.get("last_used") or {}).get("LastUsedDate"))
    match = [k["slot"] for k in keys if used is not None and k.get("LastUsedDate") == used]
    return match[0] if len(match) == 1 else None


@check(
    "iam.smtp_users",
    "SMTP IAM users have active, recently used, not too old keys",
    lambda p: aws_command(
        p, "iam", "list-users", "--query", "Users[?contains(UserName,`ses`)].UserName", regional=False
    ),
    remediation="smtp-auth-failure",
)
def smtp_users(ctx: Context) -> Outcome:
    p = ctx.params
    users = ses.user_policies(ctx.aws)
    candidates: dict[str, dict[str, Any]] = {}
    for name, policies in users.items():
        senders = sorted(n for n, doc in policies.items() if allows(doc))
        if "ses" in name.lower() or senders:
            candidates[name] = {"user": name, "can_send": bool(senders), "send_policies": ", ".join(senders)}
    report = ses.credential_report(ctx.aws)
    keys = {name: ses.report_keys(report["users"].get(name, {})) for name in users}
    owner = service_key_owner(ctx)
    depended = {u: "smtp_users" for u in p.smtp_users}
    if owner and owner.get("user"):
        depended.setdefault(owner["user"], p.smtp_username_env)
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    for name, why in depended.items():
        if name not in users:
            problems.append(f"IAM user {name} ({why}) does not exist")
        elif name not in candidates:
            candidates[name] = {"user": name, "can_send": False, "send_policies": ""}
    for name, user in candidates.items():
        user = {**user, "depended_on": depended.get(name, "")}
        service_slot = _service_slot(keys[name], owner, name)
        user_rows = [
            _key_row(ctx, user, k, owner["key"] if owner and k["slot"] == service_slot else f"key {k['slot']}")
            for k in keys[name]
        ]
        rows.extend(
            user_rows
            or [
                {
                    **user,
                    "key": "",
                    "status": "no key",
                    "created": None,
                    "age_days": None,
                    "last_used": None,
                    "last_used_service": None,
                    "last_used_region": None,
                    "days_unused": None,
                    "finding": "",
                }
            ]
        )
        if name in depended and name in users:
            if not any(r["status"] == "Active" for r in user_rows):
                problems.append(f"{name} (used by the services via {depended[name]}) has no active access key")
            if not user["can_send"]:
                problems.append(
                    f"{name} (used by the services via {depended[name]}) is not allowed {SEND_ACTION} "
                    "by its own policies (group policies not evaluated)"
                )
    warnings = [f"{r['user']} {r['key']}: {r['finding']}" for r in rows if r["finding"]]
    active = [r for r in rows if r["status"] == "Active"]
    generated = report["generated"]
    details = {
        "users": rows,
        "service_key": owner,
        "depended_on": depended,
        "key_max_age_days": p.key_max_age_days,
        "key_unused_days": p.key_unused_days,
        "as_of": p.as_of_datetime().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "credential_report_generated": _iso(generated),
    }
    service = ""
    if owner:
        service = (
            f"; the services' key {owner['key']} belongs to {owner['user']}"
            if owner.get("user")
            else f"; the services' key {owner['key']} is {owner.get('note', 'unknown')}"
        )
    service += (
        f" (key data from IAM's credential report of {generated:%Y-%m-%d %H:%M} UTC, up to 4 h old)"
        if generated
        else " (key data from IAM's credential report, up to 4 h old)"
    )
    if problems:
        return Outcome(Status.FAIL, "; ".join(problems) + service, details)
    if warnings:
        return Outcome(
            Status.WARN, f"{len(warnings)} key(s) to rotate or remove: {'; '.join(warnings)}{service}", details
        )
    if not candidates:
        return Outcome(
            Status.OK, f"no IAM user has 'ses' in its name or {SEND_ACTION} in its own policies{service}", details
        )
    oldest = max((r["age_days"] or 0 for r in active), default=0)
    return Outcome(
        Status.OK,
        f"{len(candidates)} SMTP users ({', '.join(candidates)}), {len(active)} active keys, "
        f"oldest {oldest} days, all used within {p.key_unused_days} days{service}",
        details,
    )
