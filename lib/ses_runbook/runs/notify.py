"""Telling someone about a run (opt-in, a write): an SNS topic or a Slack-compatible webhook.

Sent when the worst status changed since the previous run (``change``, the default), on every
run that is not ok (``non-ok``) or always. The body holds account, region, worst status, what
changed and the link to the report; never a parameter value that could be a secret, never a
recipient address. A notification that cannot be delivered changes neither the run's result nor
its exit code: it is said on stderr and recorded in ``summary.json`` (``notification``).
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.config import Config

from ses_runbook.core.errors import NotifyError
from ses_runbook.core.redact import mask_key_ids
from ses_runbook.runs.history import changes_text

if TYPE_CHECKING:
    from ses_runbook.core.params import Params

WHEN = ("change", "non-ok", "always")
_SNS_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")


def parse_target(target: str) -> tuple[str, str]:
    """``sns:ARN`` or ``webhook:URL``, checked before anything runs."""
    kind, _, address = target.partition(":")
    if kind == "sns" and _SNS_ARN.match(address):
        return kind, address
    if kind == "webhook" and re.match(r"^https?://[^\s/]+(/\S*)?$", address):
        return kind, address
    raise NotifyError(
        f"--notify '{mask_key_ids(target)[:80]}': allowed: sns:arn:aws:sns:REGION:ACCOUNT:TOPIC or webhook:https://..."
    )


def should_send(when: str, summary: dict[str, Any]) -> bool:
    """``change``: the worst status differs from the previous run's (a first run counts as a change)."""
    if when == "always":
        return True
    if when == "non-ok":
        return summary["worst"] != "ok"
    change = summary.get("changes")
    return not change or change["worst"]["before"] != change["worst"]["after"]


def message(summary: dict[str, Any], link: str) -> dict[str, Any]:
    """The Slack-compatible body (``text`` plus ``blocks``), with the fields also at the top level."""
    run = summary["run"]
    changed = changes_text(summary.get("changes"))
    previous = (summary.get("changes") or {}).get("worst", {}).get("before")
    head = f"SES runbook: account {run['account']} {run['region']}: worst status *{summary['worst']}*" + (
        f" (was {previous})" if previous and previous != summary["worst"] else ""
    )
    text = head + "\n" + "\n".join(f"• {line}" for line in changed) + f"\n<{link}|report>"
    return {
        "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
        "account": run["account"],
        "region": run["region"],
        "label": run.get("label"),
        "worst": summary["worst"],
        "previous_worst": previous,
        "changes": changed,
        "report": link,
    }


def send(
    target: str,
    when: str,
    summary: dict[str, Any],
    link: str,
    params: Params | None = None,
    session: Any = None,
    warn: Callable[[str], None] | None = None,
) -> str:
    """Deliver (or not) and record the outcome in ``summary["notification"]``; returns it."""
    kind, address = parse_target(target)
    if not should_send(when, summary):
        outcome = f"not sent ({when}: worst status unchanged)" if when == "change" else f"not sent ({when})"
    else:
        body = message(summary, link)
        try:
            if kind == "webhook":
                _post(address, body)
            else:
                _publish(address, body, params, session)
            outcome = f"sent to {kind}"
        except Exception as exc:  # noqa: BLE001 - a notification never changes the run's result
            outcome = (
                f"failed ({kind}): {mask_key_ids(str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)}"
            )
            if warn:
                warn(f"notification {outcome}")
    summary["notification"] = outcome
    return outcome


def _post(url: str, body: dict[str, Any], timeout: float = 10.0) -> None:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "ses-runbook"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - the user's own webhook
        if answer.status >= 300:
            raise OSError(f"HTTP {answer.status}")


def _publish(arn: str, body: dict[str, Any], params: Params | None, session: Any) -> None:
    """SNS Publish with the parameters' credentials and endpoint (a plain client: this write is
    the one the user asked for with ``--notify``)."""
    # deferred: boto3 loads s3transfer: only the S3 reports root and SNS need it
    import boto3

    region = arn.split(":")[3]
    session = session or boto3.Session(profile_name=params.aws_profile if params else None)
    client = session.client(
        "sns",
        region_name=region,
        endpoint_url=params.endpoint_url if params else None,
        config=Config(retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=5, read_timeout=10),
    )
    subject = f"SES runbook {body['account']} {body['region']}: {body['worst']}"[:100]
    client.publish(TopicArn=arn, Subject=subject, Message=json.dumps(body))
