"""``mail-test``: find the message to judge, judge it, and say how it was found (``message.probe``).

The message is a saved file, or what SES receiving stored for ``inbound_address`` (read back by
``sources.inbound``). With ``send_test_email`` a probe is sent first: one SESv2 ``SendEmail``
from ``sender`` to ``inbound_address`` (a write), then found in the receipt rule's bucket by its
Message-ID within ``inbound_timeout_s``; without it the newest stored message is judged and
nothing is sent. With ``imap_host`` the folder of the test mailbox the message landed in is its
inbox placement, and a spam folder fails ``message.probe``. The four ``message.*`` verdicts are
``checks.message``'s.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import botocore.exceptions

from ses_runbook import __version__
from ses_runbook.checks.message import Judgement, judge, requirements, verdict_rows
from ses_runbook.core import context
from ses_runbook.core.aws import Aws, describe_error
from ses_runbook.core.commands import aws_command
from ses_runbook.core.display import table_text
from ses_runbook.core.errors import MessageError, RunbookError
from ses_runbook.core.results import CheckResult, Report, Status
from ses_runbook.sources import inbound
from ses_runbook.sources.message import Message, header_rows, read_file

if TYPE_CHECKING:
    from ses_runbook.core.params import Params

CHECK_ID = "message.probe"
TITLE = "A probe sent through SES arrives at the inbound address"
SPAM_FOLDERS = ("spam", "junk", "bulk", "[gmail]/spam", "junk e-mail", "junk email")


@dataclass
class Found:
    """The message to judge (None when there is none) and how it was obtained."""

    message: Message | None
    result: CheckResult
    placement: dict[str, Any] = field(default_factory=dict)


def _result(
    status: Status, summary: str, details: dict[str, Any], cli: str, remediation: str | None = None
) -> CheckResult:
    return CheckResult(
        id=CHECK_ID,
        title=TITLE,
        status=status,
        summary=summary,
        details=details,
        cli=cli,
        remediation=remediation if status in (Status.WARN, Status.FAIL) else None,
    )


def subject(params: Params) -> str:
    return f"SES mail test - {params.as_of_datetime():%Y-%m-%d %H:%M:%S} UTC"


def send_command(params: Params) -> str:
    content = {"Simple": {"Subject": {"Data": subject(params)}, "Body": {"Text": {"Data": "mail-test"}}}}
    extra = ["--list-management-options", f"ContactListName={params.contact_list}"] if _uses_list(params) else []
    return aws_command(
        params,
        "sesv2",
        "send-email",
        "--from-email-address",
        params.sender,
        "--destination",
        f"ToAddresses={params.inbound_address or 'INBOUND_ADDRESS'}",
        "--content",
        json.dumps(content),
        *extra,
    )


def _uses_list(params: Params) -> bool:
    return params.message_kind == "subscribed" and bool(params.contact_list)


def send_probe(aws: Aws, params: Params) -> tuple[str | None, CheckResult]:
    """Send the probe (SESv2 SendEmail); returns its SES message id, or None and a fail/error result."""
    cli = send_command(params)
    details: dict[str, Any] = {
        "from": params.sender,
        "to": params.inbound_address,
        "subject": subject(params),
        "message_kind": params.message_kind,
        "contact_list": params.contact_list if _uses_list(params) else None,
    }
    request: dict[str, Any] = {
        "FromEmailAddress": params.sender,
        "Destination": {"ToAddresses": [params.inbound_address]},
        "Content": {
            "Simple": {
                "Subject": {"Data": subject(params), "Charset": "UTF-8"},
                "Body": {"Text": {"Data": f"mail-test probe for {params.domain}", "Charset": "UTF-8"}},
            }
        },
    }
    if _uses_list(params):
        request["ListManagementOptions"] = {"ContactListName": params.contact_list}
    try:
        answer = aws.call("sesv2", "SendEmail", **request)
    except botocore.exceptions.ClientError as exc:
        return None, _result(
            Status.FAIL,
            f"SES refused the probe from {params.sender} to {params.inbound_address}: {describe_error(exc, params)}",
            details,
            cli,
            "test-email-rejected",
        )
    except RunbookError as exc:
        return None, _result(Status.ERROR, str(exc), details, cli)
    except Exception as exc:  # noqa: BLE001 - a send that could not be tried is an error result
        return None, _result(Status.ERROR, describe_error(exc, params), details, cli)
    return answer.get("MessageId"), _result(Status.OK, "", details, cli)


def newest(aws: Aws, params: Params) -> Found:
    """Read-only: the newest message the receipt rule stored (ListObjectsV2 + one GetObject), judged without sending."""
    hint = (
        f"to send a probe from {params.sender} to {params.inbound_address} and read it back, set send_test_email "
        "to true (-p send_test_email true)"
    )
    cli = inbound.list_command(params)
    details: dict[str, Any] = {"bucket": params.inbound_bucket, "prefix": params.inbound_prefix or ""}
    try:
        stored = inbound.newest(aws, params)
    except Exception as exc:  # noqa: BLE001
        return Found(
            None,
            _result(Status.ERROR, f"reading {inbound.location(params)}: {describe_error(exc, params)}", details, cli),
        )
    if stored is None:
        return Found(
            None,
            _result(
                Status.SKIP,
                f"no probe sent (read-only run) and {inbound.location(params)} holds no message yet: {hint}",
                details,
                cli,
            ),
        )
    details.update(key=stored.key, stored=stored.stored.strftime("%Y-%m-%d %H:%M:%S UTC"))
    try:
        msg = stored.message()
    except MessageError as exc:
        return Found(None, _result(Status.ERROR, str(exc), details, cli))
    found = Found(
        msg,
        _result(
            Status.SKIP,
            f"no probe sent (read-only run): judged the newest message stored at {stored.source}; {hint}",
            details,
            cli,
        ),
    )
    _spam_verdict(found.result, msg)
    add_placement(found.result, msg, params)
    return found


def _spam_verdict(result: CheckResult, msg: Message) -> None:
    """SES receiving's own spam verdict on the stored message: anything but PASS fails the result."""
    spam = (msg.header("X-SES-Spam-Verdict") or "").upper()
    result.details["spam_verdict"] = spam or None
    if spam and spam != "PASS":
        result.status, result.remediation = Status.FAIL, "emails-going-to-spam"
        result.summary += f"; SES receiving judged it spam (X-SES-Spam-Verdict: {spam}): providers will file it in Spam"


def from_inbound(aws: Aws, params: Params, sleep: Callable[[float], None] = time.sleep) -> Found:
    """Send the probe and read it back from S3 (and IMAP when configured); never raises for AWS trouble."""
    if not params.inbound_address or not params.inbound_bucket:
        return Found(
            None,
            _result(
                Status.SKIP,
                "no message to judge: give a saved message (ses-runbook mail-test MESSAGE.eml, "
                "or message_file), or set inbound_address and inbound_bucket to send a probe",
                {},
                "ses-runbook mail-test MESSAGE.eml",
            ),
        )
    if not params.send_test_email:
        return newest(aws, params)
    since = datetime.now(timezone.utc)
    message_id, result = send_probe(aws, params)
    if message_id is None:
        return Found(None, result)
    result.details["MessageId"] = message_id
    result.cli = send_command(params) + " ; " + inbound.list_command(params)
    try:
        msg, info = inbound.read_back(aws, params, message_id, since, sleep)
    except botocore.exceptions.ClientError as exc:
        exc.ses_runbook_call = ("s3", "ListObjectsV2")  # type: ignore[attr-defined]
        code = exc.response.get("Error", {}).get("Code", "")
        result.status = Status.ERROR if code not in ("NoSuchBucket",) else Status.FAIL
        result.summary = (
            f"probe {message_id} sent; reading {inbound.location(params)} failed: {describe_error(exc, params)}"
        )
        return Found(None, result)
    except Exception as exc:  # noqa: BLE001
        result.status, result.summary = (
            Status.ERROR,
            f"probe {message_id} sent; reading {inbound.location(params)}: {describe_error(exc, params)}",
        )
        return Found(None, result)
    result.details.update(info)
    if msg is None:
        result.status = Status.FAIL
        result.remediation = "emails-not-delivered"
        result.summary = (
            f"probe {message_id} was accepted by SES but did not arrive in {inbound.location(params)} within "
            f"{params.inbound_timeout_s:g} s (inbound_timeout_s; {info['looked_at']} new object(s) read, none "
            f"with Message-ID <{message_id}@email.amazonses.com>): check the receipt rule of {params.inbound_address} "
            f"(active rule set, S3 action to bucket {params.inbound_bucket}, prefix '{params.inbound_prefix or ''}')"
        )
        return Found(None, result)
    result.summary = (
        f"probe {message_id} sent from {params.sender} to {params.inbound_address} and read back from "
        f"s3://{params.inbound_bucket}/{info['key']}"
    )
    _spam_verdict(result, msg)
    add_placement(result, msg, params, sleep)
    return Found(msg, result)


@dataclass
class MailTest:
    """One mail test: the message judged (if any), every result, and the run block of its report."""

    judgement: Judgement | None
    results: list[CheckResult]
    run: dict[str, Any]
    aws: Aws | None = None

    def report(self) -> Any:
        return Report(run=self.run, checks=self.results)

    # -- what the notebook and the terminal show (empty when there was no message) ----------------
    def headers(self) -> list[dict[str, Any]]:
        """From, Return-Path, Message-ID and the Received hops with TLS or not."""

        return header_rows(self.judgement.message) if self.judgement else []

    def signatures(self) -> list[dict[str, Any]]:
        """Each DKIM-Signature: domain, selector, algorithm, key length, body hash, result, alignment."""
        dkim = self.judgement.by_id().get("message.dkim") if self.judgement else None
        columns = ("d", "s", "a", "key_bits", "body_hash", "l", "result", "aligned", "reason")
        return [{c: row.get(c) for c in columns} for row in (dkim.details.get("signatures", []) if dkim else [])]

    def verdicts(self) -> list[dict[str, Any]]:
        """Our verdicts beside the receiver's (Authentication-Results, ARC, SES receiving)."""

        return verdict_rows(self.judgement) if self.judgement else []

    def requirements(self, complaint: Iterable[CheckResult] = ()) -> list[dict[str, str]]:
        """The Gmail/Yahoo checklist; the complaint rate comes from ``reputation.complaint_rate`` when given."""

        rate = next((r.details.get("latest") for r in complaint if r.id == "reputation.complaint_rate"), None)
        return requirements(self.judgement, complaint_rate=rate)

    def commands(self) -> list[str]:
        """The same look-ups by hand."""
        return [r.cli for r in self.results if r.cli]

    def text(self) -> str:
        """The terminal's view beside the results table: headers, signatures, verdicts, the providers' checklist."""

        if self.judgement is None:
            return ""
        parts = [
            ("Headers", self.headers()),
            ("DKIM signatures", self.signatures()),
            ("Our verdicts beside the receiver's", self.verdicts()),
            ("Gmail/Yahoo sender requirements", self.requirements()),
        ]
        return "\n\n".join(f"{title}\n{table_text(rows)}" for title, rows in parts if rows)


def mail_test(
    params: Params,
    message_file: str | None = None,
    aws: Aws | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> MailTest:
    """Judge a saved message (DNS only, no AWS call at all), or send a probe and judge what arrived.

    ``MessageError`` (exit 2) for a file that is not a message; everything else is a result.
    """

    started, clock = time.time(), time.monotonic()
    path = message_file or params.message_file
    results: list[CheckResult] = []
    if path:
        msg = read_file(path)
    elif not (params.inbound_address and params.inbound_bucket) and aws is None:
        msg = None  # nothing to read: say what to give, without asking AWS anything
        results.append(
            _result(
                Status.SKIP,
                "no message to judge: give a saved message (ses-runbook mail-test MESSAGE.eml, "
                "or message_file), or set inbound_address and inbound_bucket to read what SES receiving "
                "stored (and send_test_email to send a probe)",
                {},
                "ses-runbook mail-test MESSAGE.eml",
            )
        )
    else:
        aws = aws or Aws(params)
        aws.check_credentials()
        found = from_inbound(aws, params, sleep)
        msg = found.message
        results.append(found.result)
    judgement = judge(msg, params) if msg is not None else None
    if judgement is not None:
        results.extend(judgement.results)
    if aws is not None:
        run = context.run_block(params, aws, started=started, duration_s=time.monotonic() - clock)
    else:
        run = {
            "as_of": params.as_of_datetime().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "account": "not used (DNS only)",
            "endpoint_url": "no AWS call",
            "region": params.region,
            "version": __version__,
            "duration_s": round(time.monotonic() - clock, 3),
            "aws_calls": {"total": 0, "retries": 0, "writes": 0, "by_operation": {}},
            "parameters": params.public(),
        }
    run["message"] = (
        None
        if msg is None
        else {"source": msg.source, "message_id": msg.message_id, "from": msg.from_address, "folder": msg.folder}
    )
    return MailTest(judgement=judgement, results=results, run=run, aws=aws)


# -- inbox placement over IMAP -----------------------------------------------------------------------
def add_placement(
    result: CheckResult, msg: Message, params: Params, sleep: Callable[[float], None] = time.sleep
) -> None:
    """With ``imap_host``: where the message landed; a spam folder fails the result, a login refused is an error."""
    if not params.imap_host or not msg.message_id:
        return
    try:
        found = inbound.placement(params, msg.message_id, sleep)
    except RunbookError as exc:
        result.status = Status.ERROR
        result.summary += f"; inbox placement unknown: {exc}"
        return
    result.details["placement"] = found
    if found["folder"] is None:
        if result.status in (Status.OK, Status.SKIP):
            result.status = Status.WARN
        result.summary += (
            f"; not found in any folder of {found['mailbox']} within {params.inbound_timeout_s:g} s "
            f"(looked in {', '.join(found['folders']) or 'no folder'})"
        )
        return
    msg.folder = found["folder"]
    result.summary += f"; landed in {found['folder']} of {found['mailbox']}"
    if found["folder"].lower() in SPAM_FOLDERS:
        result.status, result.remediation = Status.FAIL, "emails-going-to-spam"
