"""The account-level suppression list: addresses SES silently drops after a bounce or complaint.

Mail to a suppressed address is "sent" from the application's point of view and never
delivered, so a list that grows fast is a delivery problem hiding behind a healthy send count.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from ses_runbook.checks import Context, Outcome, check
from ses_runbook.core.commands import aws_command
from ses_runbook.core.results import Status
from ses_runbook.sources import ses

RECENT_DAYS = 7
RECENT_WARN = 30  # more additions than this in RECENT_DAYS warn ("a few dozen")
NEWEST = 10


@check(
    "suppression.list",
    "Suppression list is not growing fast",
    lambda p: aws_command(p, "sesv2", "list-suppressed-destinations"),
    remediation="suppression-list-growth",
)
def suppression_list(ctx: Context) -> Outcome:
    as_of = ctx.params.as_of_datetime()
    entries = []
    for item in ses.suppressed_destinations(ctx.aws):
        when = ses.when(item.get("LastUpdateTime"))
        if when is not None and when.tzinfo is None:
            when = when.replace(tzinfo=as_of.tzinfo)
        entries.append((when, item))
    entries.sort(key=lambda e: (e[0] is not None, e[0]), reverse=True)
    since = as_of - timedelta(days=RECENT_DAYS)
    recent = [item for when, item in entries if when is not None and when >= since]
    by_reason = dict(sorted(Counter(item.get("Reason", "?") for _, item in entries).items()))
    newest: list[dict[str, Any]] = [
        {
            "email": item.get("EmailAddress"),
            "reason": item.get("Reason"),
            "last_update": when.strftime("%Y-%m-%dT%H:%M:%SZ") if when else None,
        }
        for when, item in entries[:NEWEST]
    ]
    recent_by_reason = dict(sorted(Counter(item.get("Reason", "?") for item in recent).items()))
    details = {
        "total": len(entries),
        "by_reason": by_reason,
        f"added_last_{RECENT_DAYS}_days": len(recent),
        "recent_by_reason": recent_by_reason,
        "recent_warn": RECENT_WARN,
        "newest": newest,
    }
    counts = ", ".join(f"{n} {r}" for r, n in by_reason.items()) or "empty"
    if len(recent) > RECENT_WARN:
        reasons = ", ".join(f"{n} {r}" for r, n in recent_by_reason.items())
        return Outcome(
            Status.WARN,
            f"{len(recent)} addresses suppressed in the last {RECENT_DAYS} days ({reasons}), "
            f"more than {RECENT_WARN}: SES drops mail to them; {len(entries)} in total ({counts})",
            details,
        )
    return Outcome(
        Status.OK,
        f"{len(entries)} suppressed addresses ({counts}); {len(recent)} added in the last {RECENT_DAYS} days",
        details,
    )
