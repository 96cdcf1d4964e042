"""The guarded fixes: the few the runbook may make itself, each followed by a re-check.

``apply_fixes`` re-enables sending, enables DKIM signing, removes named addresses from the
suppression list or creates a new SMTP credential, only with ``allow_writes``, each followed by a
re-check that really asks AWS again (a write empties the run's memo). Without ``allow_writes`` it
says what it would do and calls nothing that writes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ses_runbook.checks import Context, run_one, select
from ses_runbook.core.aws import describe_error
from ses_runbook.core.commands import aws_command
from ses_runbook.core.feedbackpipe import (
    ALARM_TOPIC,
    ALARMS,
    FEEDBACK_QUEUE,
    FEEDBACK_TOPIC,
    NOTIFICATION_KINDS,
    alarm_request,
    queue_arn,
    queue_attributes,
)
from ses_runbook.core.redact import mask_key_id, mask_key_ids
from ses_runbook.core.results import CheckResult, Status
from ses_runbook.core.smtpcred import derive_smtp_password
from ses_runbook.remediation.catalogue import smtp_user
from ses_runbook.remediation.diagnosis import Diagnosis, FixResult
from ses_runbook.remediation.feedback_steps import alarm_commands, pipeline_commands, suppress_commands
from ses_runbook.sources import feedback, ses
from ses_runbook.sources import trace as trace_sources

if TYPE_CHECKING:
    from ses_runbook.checks.trace import TraceReport
    from ses_runbook.core.aws import Aws
    from ses_runbook.core.params import Params


def _write(aws: Aws, service: str, operation: str, **kwargs: Any) -> dict[str, Any]:
    """A write through the guarded client; it also drops the run's memo, so re-checks ask AWS again."""
    return aws.call(service, operation, **kwargs)


def _recheck(diagnosis: Diagnosis, check_id: str, fix_id: str) -> CheckResult:
    """Run one check again after a fix (the write emptied the memo; a fresh check cache)."""

    result = run_one(select([check_id])[0], Context(params=diagnosis.params, aws=diagnosis.aws))
    before = next((r for r in diagnosis.results if r.id == check_id), None)
    result.summary = f"re-check after fix {fix_id}: {result.summary}"
    result.details = {
        **result.details,
        "fix": fix_id,
        "before": {"status": before.status.value, "summary": before.summary} if before else None,
    }
    return result


def _fix_sending(d: Diagnosis, fix: FixResult) -> None:
    _write(d.aws, "sesv2", "PutAccountSendingAttributes", SendingEnabled=True)
    fix.applied = True
    fix.recheck = _recheck(d, "account.sending_enabled", fix.id)
    fix.ok = fix.recheck.status == Status.OK
    fix.message = "sending re-enabled" if fix.ok else "sending still disabled after the write"


def _fix_dkim(d: Diagnosis, fix: FixResult) -> None:
    _write(d.aws, "sesv2", "PutEmailIdentityDkimAttributes", EmailIdentity=d.params.domain, SigningEnabled=True)
    fix.applied = True
    fix.recheck = _recheck(d, "identity.dkim", fix.id)
    fix.ok = fix.recheck.status == Status.OK
    fix.message = f"DKIM signing enabled for {d.params.domain}" if fix.ok else "DKIM still not ok after the write"


def _suppressed_rows(d: Diagnosis) -> list[dict[str, Any]]:
    rows = []
    for item in ses.suppressed_destinations(d.aws):
        when = ses.when(item.get("LastUpdateTime"))
        rows.append(
            {
                "email": item.get("EmailAddress"),
                "reason": item.get("Reason"),
                "last_update": when.strftime("%Y-%m-%dT%H:%M:%SZ") if when else None,
            }
        )
    return sorted(rows, key=lambda r: r["last_update"] or "", reverse=True)


def _fix_unsuppress(d: Diagnosis, fix: FixResult) -> None:
    listed = {r["email"].lower() for r in fix.rows}
    wanted = list(d.params.unsuppress)
    absent = [a for a in wanted if a.lower() not in listed]
    removed = []
    for address in wanted:
        if address.lower() in listed:
            _write(d.aws, "sesv2", "DeleteSuppressedDestination", EmailAddress=address)
            removed.append(address)
    fix.applied = bool(removed)
    fix.recheck = _recheck(d, "suppression.list", fix.id)
    still = {r["email"].lower() for r in _suppressed_rows(d)} & {a.lower() for a in removed}
    fix.ok = not still
    fix.message = (
        f"removed {len(removed)} address(es) from the suppression list"
        + (f"; still listed: {', '.join(sorted(still))}" if still else "")
        + (f"; not on the list: {', '.join(absent)}" if absent else "")
    )


def _fix_credential(d: Diagnosis, fix: FixResult) -> None:
    p = d.params
    results = {r.id: r for r in d.results}
    user = smtp_user(p, results)
    if user is None:
        fix.message = "no SMTP user known: set the smtp_users parameter to the IAM user the services send with"
        return
    if not p.smtp_credentials_file:
        fix.message = (
            "not made: set smtp_credentials_file to a path; the new password is written there (mode 600), "
            "never shown in the notebook"
        )
        return
    path = os.path.expanduser(p.smtp_credentials_file)
    if os.path.exists(path):
        fix.message = f"not made: {path} exists; name a new file (it is never overwritten)"
        return
    created = _write(d.aws, "iam", "CreateAccessKey", UserName=user)["AccessKey"]
    key_id, secret = created["AccessKeyId"], created["SecretAccessKey"]
    password = derive_smtp_password(secret, p.region)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(
            f"# SES SMTP credential for IAM user {user}, region {p.region}; move it into the services' secret store, "
            "then delete this file\n"
        )
        handle.write(f"{p.smtp_username_env}={key_id}\n{p.smtp_password_env}={password}\n")
    del secret, password
    fix.applied = True
    fix.recheck = _recheck(d, "iam.smtp_users", fix.id)

    active = any(k.get("AccessKeyId") == key_id and k.get("Status") == "Active" for k in ses.access_keys(d.aws, user))
    fix.ok = active and fix.recheck.status != Status.FAIL
    fix.message = (
        f"new access key {mask_key_id(key_id)} for {user} is {'Active' if active else 'NOT active'}; username and "
        f"derived password written to {path} (mode 600). Next: put them in {p.smtp_username_env} / "
        f"{p.smtp_password_env} of NEST, the API and webmail, restart them, run 'ses-runbook check --only smtp.auth', "
        "then deactivate the old key"
    )


def _fix_suppress_export(d: Diagnosis, fix: FixResult) -> None:
    """SESv2 ``PutSuppressedDestination`` for every address of ``feedback_export_file``; then every one is looked for."""

    if not d.params.feedback_export_file:
        fix.message = "not made: set feedback_export_file to the CSV 09_feedback wrote (the addresses to remove)"
        return
    rows = feedback.read_export(d.params.feedback_export_file)
    for row in rows:
        _write(
            d.aws, "sesv2", "PutSuppressedDestination", EmailAddress=row["address"], Reason=row["reason"] or "BOUNCE"
        )
    fix.applied = bool(rows)
    fix.recheck = _recheck(d, "suppression.list", fix.id)
    listed = {item.get("EmailAddress", "").lower() for item in ses.suppressed_destinations(d.aws)}
    missing = [r["address"] for r in rows if r["address"].lower() not in listed]
    fix.ok = not missing
    fix.message = (
        f"{len(rows) - len(missing)} of {len(rows)} exported address(es) are on the account's suppression list"
        + (f"; {len(missing)} are not (see the export file)" if missing else "")
    )


def _fix_feedback_pipeline(d: Diagnosis, fix: FixResult) -> None:
    """SNS ``CreateTopic``, SQS ``CreateQueue`` (policy for the topic), SNS ``Subscribe``, SES
    ``SetIdentityNotificationTopic`` for Bounce and Complaint; then feedback.notifications again."""

    p = d.params
    topic = _write(d.aws, "sns", "CreateTopic", Name=FEEDBACK_TOPIC)["TopicArn"]
    queue = queue_arn(p.region, d.aws.account_id())
    url = _write(d.aws, "sqs", "CreateQueue", QueueName=FEEDBACK_QUEUE, Attributes=queue_attributes(queue, topic))[
        "QueueUrl"
    ]
    _write(d.aws, "sns", "Subscribe", TopicArn=topic, Protocol="sqs", Endpoint=queue)
    for kind in NOTIFICATION_KINDS:
        _write(d.aws, "ses", "SetIdentityNotificationTopic", Identity=p.domain, NotificationType=kind, SnsTopic=topic)
    fix.applied = True
    fix.recheck = _recheck(d, "feedback.notifications", fix.id)
    fix.ok = fix.recheck.status == Status.OK
    fix.message = (
        f"bounces and complaints of {p.domain} now go to SNS {FEEDBACK_TOPIC} and the SQS queue {url}; "
        f"set feedback_queue_url to it so 09_feedback reads it"
        if fix.ok
        else "feedback still not flowing after the writes"
    )


def _fix_alarms(d: Diagnosis, fix: FixResult) -> None:
    """CloudWatch ``PutMetricAlarm`` on both reputation rates at the warn levels (SNS ``CreateTopic`` ses-alarms
    when no ``alarm_topic_arn`` is given); then feedback.alarms again."""

    p = d.params
    topic = p.alarm_topic_arn or _write(d.aws, "sns", "CreateTopic", Name=ALARM_TOPIC)["TopicArn"]
    for alarm in ALARMS:
        _write(d.aws, "cloudwatch", "PutMetricAlarm", **alarm_request(alarm, getattr(p, alarm.level), topic))
    fix.applied = True
    fix.recheck = _recheck(d, "feedback.alarms", fix.id)
    fix.ok = fix.recheck.status == Status.OK
    fix.message = (
        f"alarms {' and '.join(a.name for a in ALARMS)} notify " + topic.rsplit(":", 1)[-1]
        if fix.ok
        else f"alarms created; nobody subscribes to {topic.rsplit(':', 1)[-1]} yet: subscribe the on-call "
        "(aws sns subscribe --protocol email), or set alarm_topic_arn to the on-call's topic"
    )


FIXES: dict[str, tuple[str, Callable[[Diagnosis, FixResult], None]]] = {
    "suppress-exported": ("Add the exported addresses to the suppression list", _fix_suppress_export),
    "feedback-pipeline": (
        "Create the bounce and complaint pipeline (SNS topic, SQS queue, identity topics)",
        _fix_feedback_pipeline,
    ),
    "reputation-alarms": ("Create the bounce and complaint rate alarms", _fix_alarms),
    "reenable-sending": ("Re-enable account sending", _fix_sending),
    "enable-dkim-signing": ("Enable DKIM signing for the domain", _fix_dkim),
    "unsuppress": ("Remove named addresses from the suppression list", _fix_unsuppress),
    "new-smtp-credential": ("Create a new SMTP credential", _fix_credential),
}


def _fix_commands(fix_id: str, d: Diagnosis) -> list[str]:
    p = d.params
    if fix_id == "reenable-sending":
        return [aws_command(p, "sesv2", "put-account-sending-attributes", "--sending-enabled")]
    if fix_id == "enable-dkim-signing":
        return [
            aws_command(
                p, "sesv2", "put-email-identity-dkim-attributes", "--email-identity", p.domain, "--signing-enabled"
            )
        ]
    if fix_id in ("suppress-exported", "feedback-pipeline", "reputation-alarms"):
        return {
            "suppress-exported": suppress_commands,
            "feedback-pipeline": pipeline_commands,
            "reputation-alarms": alarm_commands,
        }[fix_id](p)
    if fix_id == "unsuppress":
        return [
            aws_command(p, "sesv2", "delete-suppressed-destination", "--email-address", a) for a in p.unsuppress
        ] or ["(name the addresses with -p unsuppress ADDR,ADDR)"]
    user = smtp_user(p, {r.id: r for r in d.results}) or "SMTP_USER"
    return [aws_command(p, "iam", "create-access-key", "--user-name", user, regional=False)]


def plan_fixes(diagnosis: Diagnosis) -> list[FixResult]:
    """The guarded fixes for the confirmed causes (and ``unsuppress`` when addresses are named); nothing is called."""
    planned: dict[str, FixResult] = {}
    for finding in diagnosis.confirmed:
        fid = finding.cause.fix
        if fid == "suppress-exported" and not diagnosis.params.feedback_export_file:
            continue  # nothing to suppress without 09_feedback's export; the cause's steps say how
        if fid and fid not in planned:
            planned[fid] = FixResult(fid, FIXES[fid][0], finding.cause.id, _fix_commands(fid, diagnosis))
    if diagnosis.params.unsuppress and "unsuppress" not in planned:
        planned["unsuppress"] = FixResult(
            "unsuppress", FIXES["unsuppress"][0], "recipients-suppressed", _fix_commands("unsuppress", diagnosis)
        )
    fixes = list(planned.values())
    for fix in fixes:
        fix.before = next((r for f in diagnosis.confirmed if f.cause.id == fix.cause for r in f.evidence), None)
        if fix.id == "unsuppress":
            try:
                fix.rows = _suppressed_rows(diagnosis)
            except Exception as exc:  # noqa: BLE001 - the table is a help, the fix says why it cannot run
                fix.message = describe_error(exc, diagnosis.params)
        if not diagnosis.params.allow_writes:
            fix.message = fix.message or "read-only run: set allow_writes=true to make this fix (nothing was changed)"
    return fixes


def apply_fixes(diagnosis: Diagnosis, session: Any = None) -> list[FixResult]:
    """Make the planned fixes when ``allow_writes`` is true, each followed by its re-check.

    Read-only: returns the plan and calls nothing that writes. ``session`` (a notebook ``Runbook``)
    gets its recorded results replaced by the re-checks, so ``summary.json`` shows the state after the fix.
    """

    fixes = plan_fixes(diagnosis)
    diagnosis.fixes = fixes
    if diagnosis.params.allow_writes:
        for fix in fixes:
            try:
                FIXES[fix.id][1](diagnosis, fix)
            except Exception as exc:  # noqa: BLE001 - one failed fix never hides the others
                fix.ok = False
                fix.message = f"fix failed: {mask_key_ids(describe_error(exc, diagnosis.params))}"
    if session is not None:
        latest = {f.recheck.id: f.recheck for f in fixes if f.recheck is not None}
        session.results[:] = [latest.get(r.id, r) for r in session.results]
    return fixes


# -- one traced recipient off the suppression list (12_trace, ses-runbook trace) -------------------
def unsuppress_traced(params: Params, aws: Aws, report: TraceReport) -> list[FixResult]:
    """The guarded removal of each traced address that is on the account suppression list.

    Offered only when ``trace_mailbox_fixed`` says the mailbox works now, and for a COMPLAINT only with
    ``trace_unsuppress_complaint`` as well (the recipient asked for our mail again): removing an address
    that still bounces or complains hurts the account's reputation. Made only with ``allow_writes``
    (SESv2 ``DeleteSuppressedDestination``), then re-checked with ``GetSuppressedDestination`` (the write
    emptied the memo, so it really asks again); without it, the ``aws`` command is printed instead.
    """
    fixes: list[FixResult] = []
    for t in report.traces:
        if t.verdict != "suppressed-account" or not t.suppression or t.kind != "recipient":
            continue
        reason = t.suppression.get("reason")
        command = aws_command(params, "sesv2", "delete-suppressed-destination", "--email-address", t.target)
        fix = FixResult(
            "unsuppress-traced",
            f"Remove {t.target} from the account suppression list",
            "recipient-suppressed-account",
            [],
        )
        fixes.append(fix)
        if reason == "COMPLAINT" and not (params.trace_mailbox_fixed and params.trace_unsuppress_complaint):
            fix.message = (
                "not offered: the address complained; remove it only when the recipient asked for our mail again "
                "(set trace_mailbox_fixed=true and trace_unsuppress_complaint=true)"
            )
            continue
        if not params.trace_mailbox_fixed:
            fix.message = (
                "not offered: set trace_mailbox_fixed=true once the recipient confirms the mailbox works again "
                "(it would bounce, and be suppressed, again)"
            )
            continue
        fix.commands = [command]
        if not params.allow_writes:
            fix.message = (
                "read-only run: run the command above, or set allow_writes=true to make this fix (nothing was changed)"
            )
            continue
        try:
            _write(aws, "sesv2", "DeleteSuppressedDestination", EmailAddress=t.target)
            fix.applied = True
            still, read = trace_sources.suppression(aws, params, [t.target])
            listed = t.target.lower() in still
            fix.ok = not listed and read.error is None
            fix.recheck = CheckResult(
                "trace.suppression",
                f"{t.target} is off the account suppression list",
                Status.OK if fix.ok else (Status.ERROR if read.error else Status.FAIL),
                f"re-check after fix unsuppress-traced: {read.error or ('still listed' if listed else 'not on the list any more')}",
                {"address": t.target, "reason_before": reason},
            )
            fix.message = f"removed {t.target} (was {reason})" if fix.ok else f"{t.target} still listed after the write"
        except Exception as exc:  # noqa: BLE001 - one failed fix never hides the others
            fix.ok = False
            fix.message = f"fix failed: {mask_key_ids(describe_error(exc, params))}"
    return fixes
