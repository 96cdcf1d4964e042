"""``review-evidence.md``: what AWS looks at when it reviews or pauses an account, for the team's reply.

Only measured facts are stated (the enforcement status and review details from ``GetAccount``, the
rates and the volume AWS judges, the suppression list, where the feedback goes, what the run history
shows changed); everything else is a ``<<FILL: ...>>`` or ``<<CONFIRM: ...>>`` placeholder, so the text
cannot be sent unedited by mistake. The file is written only to the path ``review_evidence_file``
names: created, never overwritten, never through a symlink, mode 0600.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ses_runbook.checks import Context, run
from ses_runbook.core.aws import Aws
from ses_runbook.core.errors import ParameterError
from ses_runbook.core.results import CheckResult, Status
from ses_runbook.runs import history
from ses_runbook.sources import ses

if TYPE_CHECKING:
    from ses_runbook.core.params import Params

EVIDENCE_CHECKS = (
    "account.enforcement",
    "quota.headroom",
    "reputation.bounce_rate",
    "reputation.complaint_rate",
    "suppression.list",
    "feedback.notifications",
    "feedback.event_destinations",
)
NOT_OK = ("warn", "fail", "error")


def _measured(results: dict[str, CheckResult], check_id: str) -> dict[str, Any]:
    r = results.get(check_id)
    return r.details if r is not None and r.status not in (Status.ERROR, Status.SKIP) else {}


def _since(runs: list[history.Run]) -> str | None:
    """When the enforcement status stopped being HEALTHY, from the runs (newest back to the last ok one)."""
    since = None
    for r in reversed(runs):
        if r.statuses.get("account.enforcement") not in NOT_OK:
            break
        since = r.as_of
    return since


def _changes(runs: list[history.Run]) -> list[str]:
    """Checks that went from ok to not ok over the history: each once, with the run it happened in."""
    out: list[str] = []
    for before, after in zip(runs, runs[1:], strict=False):
        for cid, status in sorted(after.statuses.items()):
            if status in NOT_OK and before.statuses.get(cid) == "ok":
                out.append(f"{cid}: ok -> {status} between the runs of {before.as_of} and {after.as_of}")
    return out


def evidence_text(
    params: Params, results: dict[str, CheckResult], account: dict[str, Any], runs: list[history.Run], notes: list[str]
) -> str:
    """The pack as Markdown (measured sentences, placeholders for the rest)."""
    review = (account.get("Details") or {}).get("ReviewDetails") or {}
    status = account.get("EnforcementStatus", "?")
    lines = [
        f"# Review evidence: {params.domain} ({params.region})",
        "",
        f"Prepared from measurements as of {params.as_of_datetime():%Y-%m-%d %H:%M} UTC. Replace every <<FILL: ...>> "
        "and check every <<CONFIRM: ...>> before sending.",
        "",
        "## Status",
        f"- Enforcement status: {status}"
        + (f"; review case {review['CaseId']}" if review.get("CaseId") else "")
        + (f"; review status {review['Status']}" if review.get("Status") else ""),
    ]
    since = _since(runs)
    lines.append(
        f"- Not HEALTHY since the run of {since} (run history)"
        if since
        else "- Since: <<FILL: when AWS's notice arrived (no run history shows it: set reports_root)>>"
    )
    lines += ["", "## Rates and volume AWS judges"]
    for check_id, label in (("reputation.bounce_rate", "Bounce"), ("reputation.complaint_rate", "Complaint")):
        d = _measured(results, check_id)
        if "latest" in d:
            lines.append(
                f"- {label} rate (Reputation.{label}Rate): {float(d['latest']):.2%} for {d['period']}; peak "
                f"{float(d['peak']):.2%} in the last {params.lookback_days} days"
            )
        else:
            lines.append(f"- {label} rate: <<FILL: not measured in this run ({check_id})>>")
    quota = _measured(results, "quota.headroom")
    lines.append(
        f"- Volume: {float(quota.get('SentLast24Hours') or 0):,.0f} messages in the last 24 hours (quota "
        f"{float(quota.get('Max24HourSend') or 0):,.0f})"
        if quota
        else "- Volume: <<FILL: messages sent a day (quota.headroom)>>"
    )
    lines += ["", "## What changed"]
    changed = _changes(runs)
    lines += [f"- {c}" for c in changed] or ["- <<FILL: what changed (no change in the run history)>>"]
    lines.append("- <<CONFIRM: what caused the bounces or complaints and what was changed to stop it>>")
    lines += ["", "## List hygiene in place"]
    reasons = (account.get("SuppressionAttributes") or {}).get("SuppressedReasons") or []
    lines.append(
        f"- Account-level suppression list on for {', '.join(reasons)}"
        if reasons
        else "- Account-level suppression list: OFF (<<CONFIRM: why, and how bounced addresses are kept out>>)"
    )
    for check_id in ("feedback.notifications", "feedback.event_destinations"):
        r = results.get(check_id)
        if r is not None and r.status == Status.OK:
            lines.append(f"- Feedback ({check_id}): {r.summary}")
        elif r is not None and r.status in (Status.WARN, Status.FAIL):
            lines.append(f"- Feedback ({check_id}, {r.status.value}): <<CONFIRM: {r.summary}>>")
    lines.append(
        "- <<CONFIRM: the feedback pipeline was proven end to end (ses-runbook check --only send.test_email "
        "-p send_test_email true)>>"
    )
    lines.append("- <<CONFIRM: subscribed mail carries List-Unsubscribe and List-Unsubscribe-Post (RFC 8058)>>")
    lines += ["", "## Addresses removed"]
    listed = _measured(results, "suppression.list")
    if listed:
        reasons_text = ", ".join(f"{n} {r}" for r, n in (listed.get("by_reason") or {}).items()) or "none"
        lines.append(
            f"- The suppression list holds {int(listed.get('total', 0))} addresses ({reasons_text}), "
            f"{listed.get('added_last_7_days', 0)} added in the last 7 days"
        )
    else:
        lines.append("- <<FILL: the suppression list (suppression.list)>>")
    lines.append("- <<FILL: addresses removed from the team's own lists (09_feedback's export)>>")
    if notes:
        lines += ["", "## Notes", *[f"- {n}" for n in notes]]
    return "\n".join(lines) + "\n"


def write_review_evidence(params: Params, aws: Aws | None = None, results: list[CheckResult] | None = None) -> Path:
    """Measure what the pack needs (the checks not in ``results``), read the history when ``reports_root`` is
    set, and write ``review_evidence_file``: O_EXCL and O_NOFOLLOW (an existing file or a symlink is refused),
    mode 0600. Raises ``ParameterError`` when the parameter is unset or the path exists."""
    if not params.review_evidence_file:
        raise ParameterError("review_evidence_file", "not set: name the file the review evidence is written to")
    path = Path(params.review_evidence_file).expanduser()
    if path.exists() or path.is_symlink():
        raise ParameterError("review_evidence_file", f"{path} exists; name a new file (it is never overwritten)")
    aws = aws or Aws(params)
    have = {r.id: r for r in results or []}
    missing = [cid for cid in EVIDENCE_CHECKS if cid not in have]
    if missing:
        have.update({r.id: r for r in run(Context(params=params, aws=aws), ids=missing)})
    runs, notes = history.for_params(params, aws) if params.reports_root else ([], [])
    text = evidence_text(params, have, ses.account(aws), runs, notes)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise ParameterError("review_evidence_file", f"{path} exists; name a new file") from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


def review_evidence_note(session: Any) -> str:
    """Notebook entry (05_account_sending): write the pack when the account is under review or paused and
    ``review_evidence_file`` names a path; say what was done either way."""
    params = session.params
    status = ses.account(session.aws).get("EnforcementStatus", "HEALTHY")
    if status == "HEALTHY":
        return "Enforcement status HEALTHY: no review evidence to prepare."
    if not params.review_evidence_file:
        return (
            f"Enforcement status {status}: set review_evidence_file to a new file to write review-evidence.md "
            "(measured facts, <<FILL>>/<<CONFIRM>> placeholders, mode 600)."
        )
    path = write_review_evidence(params, session.aws, list(session.results))
    return f"Enforcement status {status}: review evidence written to {path} (mode 600); fill in its placeholders."
