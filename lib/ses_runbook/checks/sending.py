"""Runbook section "Send a test email": one SES ``SendEmail``, only when asked for.

Sending is a write, so it is not a registered check: ``ses-runbook check`` sends only when
``send.test_email`` is named with ``--only`` (``checks.ON_REQUEST``), and the notebook builds the
result here and adds it to its own results. Without ``send_test_email`` the result is ``skip`` and
nothing is called; a send that SES rejects (MessageRejected in the sandbox,
AccountSendingPausedException when sending is paused) is a ``fail`` carrying SES's own error text,
never a traceback.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import botocore.exceptions

from ses_runbook.core.aws import RECEIVE_VISIBILITY_S, describe_error
from ses_runbook.core.commands import aws_command
from ses_runbook.core.errors import FeedbackError, RunbookError
from ses_runbook.core.results import CheckResult, Status
from ses_runbook.sources import feedback

if TYPE_CHECKING:
    from ses_runbook.core.aws import Aws
    from ses_runbook.core.params import Params

CHECK_ID = "send.test_email"
TITLE = "A test email is accepted by SES"
# SES error code -> the failure mode (remediation catalogue id) that explains it
_REMEDIATION = {
    "MessageRejected": "emails-not-delivered",
    "AccountSendingPausedException": "sending-paused",
    "SendingPausedException": "sending-paused",
    "MailFromDomainNotVerifiedException": "domain-not-verified",
    "Throttling": "sending-quota-hit",
}


def subject(params: Params) -> str:
    """The page's ``SES Test - $(date)``, dated at the run's ``as_of`` so a report says which run sent it."""
    return f"SES Test - {params.as_of_datetime():%Y-%m-%d %H:%M:%S} UTC"


def text(params: Params) -> str:
    return f"This is a test email from SES to verify {params.domain} sending."


def command(params: Params) -> str:
    """The page's ``aws ses send-email`` with these parameters."""
    return aws_command(
        params,
        "ses",
        "send-email",
        "--from",
        params.sender,
        "--to",
        params.test_recipient,
        "--subject",
        subject(params),
        "--text",
        text(params),
    )


def send_test_email(aws: Aws, params: Params) -> CheckResult:
    """The test send: with a ``feedback_queue_url`` and the mailbox simulator as ``test_recipient`` (the
    default), the simulator round trip (four sends, four notifications awaited); otherwise one email to
    ``test_recipient``. Never raises."""
    if (
        params.send_test_email
        and params.feedback_queue_url
        and params.test_recipient.lower().endswith("@simulator.amazonses.com")
    ):
        return simulator_round_trip(aws, params)
    return send_one(aws, params)


# The mailbox simulator: each address and the notification SES answers a send to it with.
SIMULATOR = (
    ("success@simulator.amazonses.com", "Delivery"),
    ("bounce@simulator.amazonses.com", "Bounce Permanent/General"),
    ("complaint@simulator.amazonses.com", "Complaint"),
    ("suppressionlist@simulator.amazonses.com", "Bounce Permanent/OnAccountSuppressionList or Reject"),
)


def _outcome(row: dict) -> str:
    if row["type"] == "Bounce":
        return f"Bounce {row.get('bounce_type')}/{row.get('bounce_subtype')}"
    return str(row["type"])


def _expected(expected: str, outcome: str) -> bool:
    return any(outcome == option.strip() for option in expected.split(" or "))


def simulator_round_trip(aws: Aws, params: Params) -> CheckResult:
    """Send to the four mailbox simulator addresses and wait, at most ``feedback_wait_s``, for each one's
    notification on the feedback queue, matched by SES message id: the proof that the pipeline works.

    Calls SES ``SendEmail`` four times, then SQS ``ReceiveMessage`` (each message hidden for a minute at most)
    and ``ChangeMessageVisibilityBatch`` (visible again at the end): nothing is consumed.
    """

    rows: list[dict[str, Any]] = []
    url = params.feedback_queue_url or ""  # the caller sends nothing without a queue
    result = CheckResult(
        id=CHECK_ID,
        title="The mailbox simulator's four outcomes arrive as notifications",
        status=Status.OK,
        summary="",
        details={"round_trip": rows, "queue": params.feedback_queue_url, "wait_s": params.feedback_wait_s},
        cli=command(params),
    )
    try:  # before sending: a queue that cannot be read, or must not be (low redrive), sends nothing
        feedback.refuse_low_redrive(feedback.queue_attributes(aws, url), params, url)
    except FeedbackError as exc:
        result.status, result.summary = Status.ERROR, f"nothing sent: {exc}"
        return result
    for address, expected in SIMULATOR:
        started = time.time()
        try:
            answer = aws.call(
                "ses",
                "SendEmail",
                Source=params.sender,
                Destination={"ToAddresses": [address]},
                Message={
                    "Subject": {"Data": subject(params), "Charset": "UTF-8"},
                    "Body": {"Text": {"Data": text(params), "Charset": "UTF-8"}},
                },
            )
        except Exception as exc:  # noqa: BLE001 - a refused send is a finding, the others still go out
            rows.append(
                {
                    "recipient": address,
                    "expected": expected,
                    "message_id": None,
                    "arrived": None,
                    "delay_s": None,
                    "error": describe_error(exc, params),
                }
            )
            continue
        rows.append(
            {
                "recipient": address,
                "expected": expected,
                "message_id": answer.get("MessageId"),
                "arrived": None,
                "delay_s": None,
                "sent_at": started,
            }
        )
    waiting = {r["message_id"]: r for r in rows if r["message_id"]}
    deadline = time.time() + params.feedback_wait_s
    handles: list[str] = []
    try:
        while waiting and time.time() < deadline:
            remaining = deadline - time.time()
            batch = aws.call(
                "sqs",
                "ReceiveMessage",
                QueueUrl=url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=int(min(5, max(1, remaining))),
                VisibilityTimeout=RECEIVE_VISIBILITY_S,  # a message seen again after it is matched is skipped
                MessageSystemAttributeNames=["SentTimestamp"],
            ).get("Messages", [])
            for message in batch:
                handles.append(message["ReceiptHandle"])
                try:
                    found = feedback.parse_body(message.get("Body", "")) or []
                except ValueError:
                    continue
                for parsed in found:
                    row = waiting.get(parsed.get("ses_message_id"))
                    if row is None or row["arrived"]:
                        continue
                    stamp = message.get("Attributes", {}).get("SentTimestamp")
                    arrived_at = int(stamp) / 1000 if stamp else time.time()
                    row["arrived"] = _outcome(parsed)
                    row["delay_s"] = round(max(0.0, arrived_at - row["sent_at"]), 1)
                    waiting.pop(row["message_id"], None)
    except Exception as exc:  # noqa: BLE001
        result.status, result.summary = (
            Status.ERROR,
            f"the feedback queue could not be read: {describe_error(exc, params)}",
        )
    finally:
        feedback.release(aws, url, handles)
    for row in rows:
        row.pop("sent_at", None)
        row["ok"] = bool(row["arrived"]) and _expected(row["expected"], row["arrived"])
    if result.status == Status.ERROR:
        return result
    bad = [r for r in rows if not r["ok"]]
    arrived = ", ".join(
        f"{r['recipient'].split('@')[0]}@ -> {r['arrived']} after {r['delay_s']:g} s" for r in rows if r["ok"]
    )
    if bad:
        missing = ", ".join(
            f"{r['recipient']} ({r.get('error') or ('got ' + r['arrived'] if r['arrived'] else 'no ' + r['expected'] + ' notification')})"
            for r in bad
        )
        result.status = Status.FAIL
        result.summary = (
            f"no expected notification within {params.feedback_wait_s} s for: {missing}"
            + (f"; arrived: {arrived}" if arrived else "")
            + ": the feedback pipeline does not deliver it to the queue"
        )
        result.remediation = "bounces-or-complaints-spike"
    else:
        result.summary = f"all four simulator outcomes arrived on {url.rsplit('/', 1)[-1]}: {arrived}"
    return result


def round_trip_rows(result: CheckResult) -> list[dict]:
    """The round trip's table: each simulator address, what was expected, what arrived and after how long."""
    return [
        {
            "recipient": r.get("recipient"),
            "expected": r.get("expected"),
            "arrived": r.get("arrived") or f"nothing ({r.get('error') or 'not within the wait'})",
            "delay": f"{r['delay_s']:.1f} s" if r.get("delay_s") is not None else "",
            "message_id": r.get("message_id"),
        }
        for r in result.details.get("round_trip", [])
    ]


def send_one(aws: Aws, params: Params) -> CheckResult:
    """Send one test email from ``sender`` to ``test_recipient`` when ``send_test_email`` is true; never raises."""
    details = {"from": params.sender, "to": params.test_recipient, "subject": subject(params), "sent": False}
    result = CheckResult(id=CHECK_ID, title=TITLE, status=Status.SKIP, summary="", details=details, cli=command(params))
    if not params.send_test_email:
        result.summary = (
            f"not sent (read-only run): to send one test email from {params.sender} to {params.test_recipient}, "
            "set the parameter send_test_email to true (-p send_test_email true)"
        )
        return result
    try:
        answer = aws.call(
            "ses",
            "SendEmail",
            Source=params.sender,
            Destination={"ToAddresses": [params.test_recipient]},
            Message={
                "Subject": {"Data": subject(params), "Charset": "UTF-8"},
                "Body": {"Text": {"Data": text(params), "Charset": "UTF-8"}},
            },
        )
    except botocore.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        details["error_code"] = code
        result.status = Status.FAIL
        result.summary = (
            f"SES refused the test email from {params.sender} to {params.test_recipient}: {describe_error(exc, params)}"
        )
        result.remediation = _REMEDIATION.get(code, "emails-not-delivered")
        return result
    except RunbookError as exc:
        result.status, result.summary = Status.ERROR, str(exc)
        return result
    except Exception as exc:  # noqa: BLE001 - a send that could not be tried is an error result
        result.status, result.summary = Status.ERROR, describe_error(exc, params)
        return result
    details.update(sent=True, MessageId=answer.get("MessageId"))
    result.status = Status.OK
    result.summary = f"SES accepted the test email from {params.sender} to {params.test_recipient}: message id {answer.get('MessageId')}"
    return result
