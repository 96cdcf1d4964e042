"""Runbook section "Send a test email": one SES ``SendEmail``, only when asked for.

Sending is a write, so it is not a registered check (``ses-runbook check`` never sends): the
notebook builds the ``send.test_email`` result here and adds it to its own results. Without
``send_test_email`` the result is ``skip`` and nothing is called; a send that SES rejects
(MessageRejected in the sandbox, AccountSendingPausedException when sending is paused) is a
``fail`` carrying SES's own error text, never a traceback.
"""
from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

import botocore.exceptions

from .aws import describe_error
from .commands import aws_command
from .exceptions import RunbookError
from .results import CheckResult, Status

if TYPE_CHECKING:
    from .aws import Aws
    from .params import Params

CHECK_ID = "send.test_email"
TITLE = "A test email is accepted by SES"
# SES error code -> the failure mode (remediation catalogue id) that explains it
_REMEDIATION = {"MessageRejected": "emails-not-delivered", "AccountSendingPausedException": "sending-paused",
                "SendingPausedException": "sending-paused", "MailFromDomainNotVerifiedException": "domain-not-verified",
                "Throttling": "sending-quota-hit"}


def subject(params: "Params") -> str:
    """The page's ``SES Test - $(date)``, dated at the run's ``as_of`` so a report says which run sent it."""
    return f"SES Test - {params.as_of_datetime():%Y-%m-%d %H:%M:%S} UTC"


def text(params: "Params") -> str:
    return f"This is a test email from SES to verify {params.domain} sending."


def command(params: "Params") -> str:
    """The page's ``aws ses send-email`` with these parameters."""
    return aws_command(params, "ses", "send-email", "--from", shlex.quote(params.sender), "--to", shlex.quote(params.test_recipient),
                       "--subject", shlex.quote(subject(params)), "--text", shlex.quote(text(params)))


def send_test_email(aws: "Aws", params: "Params") -> CheckResult:
    """Send one test email from ``sender`` to ``test_recipient`` when ``send_test_email`` is true; never raises."""
    details = {"from": params.sender, "to": params.test_recipient, "subject": subject(params), "sent": False}
    result = CheckResult(id=CHECK_ID, title=TITLE, status=Status.SKIP, summary="", details=details, cli=command(params))
    if not params.send_test_email:
        result.summary = (f"not sent (read-only run): to send one test email from {params.sender} to {params.test_recipient}, "
                          "set the parameter send_test_email to true (-p send_test_email true)")
        return result
    try:
        answer = aws.call("ses", "SendEmail", Source=params.sender, Destination={"ToAddresses": [params.test_recipient]},
                          Message={"Subject": {"Data": subject(params), "Charset": "UTF-8"},
                                   "Body": {"Text": {"Data": text(params), "Charset": "UTF-8"}}})
    except botocore.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        details["error_code"] = code
        result.status = Status.FAIL
        result.summary = f"SES refused the test email from {params.sender} to {params.test_recipient}: {describe_error(exc, params)}"
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
