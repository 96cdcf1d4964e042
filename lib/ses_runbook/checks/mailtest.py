"""Where the message ``mail-test`` judges comes from: a saved file, or a probe read back from S3 or IMAP.

The probe is one SESv2 ``SendEmail`` from ``sender`` to ``inbound_address`` (a write: only with
``send_test_email``). SES receiving stores what arrives at that address in S3 through a receipt
rule (``inbound_bucket``/``inbound_prefix``); the object key is SES receiving's own id, so the
probe is found by its Message-ID header among the objects that arrived since it was sent
(``ListObjectsV2`` + ``GetObject``: reads), within ``inbound_timeout_s``. With ``imap_host`` the
probe is also looked up in every folder of a mailbox at a provider (``mailbox.py``): the folder
it landed in is the inbox placement.
"""

from __future__ import annotations

import imaplib
import os
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import botocore.exceptions

from ses_runbook import __version__
from ses_runbook.checks.suite import run_block
from ses_runbook.core.aws import Aws, describe_error
from ses_runbook.core.commands import aws_command
from ses_runbook.core.display import table_text
from ses_runbook.core.errors import MessageError, RunbookError
from ses_runbook.core.results import CheckResult, Report, Status
from ses_runbook.sources.message import Message, header_rows, judge, parse, read_file, requirements, verdict_rows

if TYPE_CHECKING:
    from ses_runbook.core.aws import Aws
    from ses_runbook.core.params import Params

CHECK_ID = "message.probe"
TITLE = "A probe sent through SES arrives at the inbound address"


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
    extra = f" --list-management-options ContactListName={params.contact_list}" if _uses_list(params) else ""
    return aws_command(
        params,
        "sesv2",
        "send-email",
        f"--from-email-address {params.sender}",
        f"--destination ToAddresses={params.inbound_address or 'INBOUND_ADDRESS'}",
        f"--content 'Simple={{Subject={{Data=\"{subject(params)}\"}},Body={{Text={{Data=mail-test}}}}}}'" + extra,
    )


def _uses_list(params: Params) -> bool:
    return params.message_kind == "subscribed" and bool(params.contact_list)


def _location(params: Params) -> str:
    return f"s3://{params.inbound_bucket}/{params.inbound_prefix or ''}"


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


def read_back(
    aws: Aws, params: Params, message_id: str, since: datetime, sleep: Callable[[float], None] = time.sleep
) -> tuple[Message | None, dict[str, Any]]:
    """Find the probe in the receipt rule's bucket by its Message-ID, waiting at most ``inbound_timeout_s``.

    Lists the prefix (ListObjectsV2) and reads each object that arrived since the send (GetObject)
    once; a bucket that never holds it ends with the bucket and prefix named.
    """
    s3 = aws.client("s3")
    deadline = time.monotonic() + params.inbound_timeout_s
    seen: set[str] = set()
    delay = 0.2
    wanted = message_id.split("@")[0].strip("<>")
    while True:
        kwargs: dict[str, Any] = {"Bucket": params.inbound_bucket}
        if params.inbound_prefix:
            kwargs["Prefix"] = params.inbound_prefix
        for page in s3.get_paginator("list_objects_v2").paginate(**kwargs):
            for obj in page.get("Contents", []):
                if obj["Key"] in seen or obj["LastModified"] < since - timedelta(minutes=5):
                    continue
                seen.add(obj["Key"])
                raw = s3.get_object(Bucket=params.inbound_bucket, Key=obj["Key"])["Body"].read()
                try:
                    msg = parse(raw, f"s3://{params.inbound_bucket}/{obj['Key']}")
                except MessageError:
                    continue
                if wanted in (msg.message_id or ""):
                    return msg, {"key": obj["Key"], "looked_at": len(seen)}
        if time.monotonic() >= deadline:
            return None, {"looked_at": len(seen)}
        sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, 5.0)


def newest(aws: Aws, params: Params) -> Found:
    """Read-only: the newest message the receipt rule stored (ListObjectsV2 + one GetObject), judged without sending."""
    hint = (
        f"to send a probe from {params.sender} to {params.inbound_address} and read it back, set send_test_email "
        "to true (-p send_test_email true)"
    )
    cli = aws_command(
        params,
        "s3api",
        "list-objects-v2",
        f"--bucket {params.inbound_bucket}",
        f"--prefix '{params.inbound_prefix or ''}'",
        regional=False,
    )
    details: dict[str, Any] = {"bucket": params.inbound_bucket, "prefix": params.inbound_prefix or ""}
    try:
        kwargs: dict[str, Any] = {"Bucket": params.inbound_bucket}
        if params.inbound_prefix:
            kwargs["Prefix"] = params.inbound_prefix
        objects = aws.paginate("s3", "ListObjectsV2", "Contents", **kwargs)
        if not objects:
            return Found(
                None,
                _result(
                    Status.SKIP,
                    f"no probe sent (read-only run) and {_location(params)} holds no message yet: {hint}",
                    details,
                    cli,
                ),
            )
        latest = max(objects, key=lambda o: (o["LastModified"], o["Key"]))
        raw = aws.call("s3", "GetObject", Bucket=params.inbound_bucket, Key=latest["Key"])["Body"].read()
    except Exception as exc:  # noqa: BLE001
        return Found(
            None, _result(Status.ERROR, f"reading {_location(params)}: {describe_error(exc, params)}", details, cli)
        )
    details.update(key=latest["Key"], stored=latest["LastModified"].strftime("%Y-%m-%d %H:%M:%S UTC"))
    try:
        msg = parse(raw, f"s3://{params.inbound_bucket}/{latest['Key']}")
    except MessageError as exc:
        return Found(None, _result(Status.ERROR, str(exc), details, cli))
    found = Found(
        msg,
        _result(
            Status.SKIP,
            f"no probe sent (read-only run): judged the newest message stored at "
            f"s3://{params.inbound_bucket}/{latest['Key']}; {hint}",
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
    get_cli = aws_command(
        params,
        "s3api",
        "list-objects-v2",
        f"--bucket {params.inbound_bucket}",
        f"--prefix '{params.inbound_prefix or ''}'",
        regional=False,
    )
    result.cli = send_command(params) + " ; " + get_cli
    try:
        msg, info = read_back(aws, params, message_id, since, sleep)
    except botocore.exceptions.ClientError as exc:
        exc.ses_runbook_call = ("s3", "ListObjectsV2")  # type: ignore[attr-defined]
        code = exc.response.get("Error", {}).get("Code", "")
        result.status = Status.ERROR if code not in ("NoSuchBucket",) else Status.FAIL
        result.summary = f"probe {message_id} sent; reading {_location(params)} failed: {describe_error(exc, params)}"
        return Found(None, result)
    except Exception as exc:  # noqa: BLE001
        result.status, result.summary = (
            Status.ERROR,
            f"probe {message_id} sent; reading {_location(params)}: {describe_error(exc, params)}",
        )
        return Found(None, result)
    result.details.update(info)
    if msg is None:
        result.status = Status.FAIL
        result.remediation = "emails-not-delivered"
        result.summary = (
            f"probe {message_id} was accepted by SES but did not arrive in {_location(params)} within "
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

    judgement: Any  # message.Judgement | None
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
        run = run_block(params, aws, started, time.monotonic() - clock)
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
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def _imap_connect(params: Params) -> Any:
    """An IMAP connection: TLS on 993, STARTTLS elsewhere (plain text only to a loopback server)."""

    host, port = params.imap_host or "", params.imap_port or 993  # called only with an imap_host
    timeout = params.connect_timeout_s
    if port == 993:
        return imaplib.IMAP4_SSL(
            host, port, ssl_context=ssl.create_default_context(cafile=params.imap_tls_ca_file), timeout=timeout
        )
    client = imaplib.IMAP4(host, port, timeout=timeout)
    if "STARTTLS" in client.capabilities:  # the context (reading the system's CAs) only when TLS is spoken
        client.starttls(ssl_context=ssl.create_default_context(cafile=params.imap_tls_ca_file))
    elif host not in _LOOPBACK:
        client.shutdown()
        raise RunbookError(
            f"IMAP {host}:{port} offers no STARTTLS: refusing to send the password in plain text (use port 993)"
        )
    return client


def placement(params: Params, message_id: str, sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Find a message by Message-ID in every folder of the test mailbox (IMAP LIST, SELECT read-only, SEARCH):
    the folder it landed in is its inbox placement. Waits at most ``inbound_timeout_s``; read-only."""

    user = os.environ.get(params.imap_username_env, "")
    password = os.environ.get(params.imap_password_env, "")
    where = f"{params.imap_host}:{params.imap_port or 993}"
    if not user or not password:
        raise RunbookError(
            f"IMAP credentials missing: set the environment variables {params.imap_username_env} and "
            f"{params.imap_password_env} (imap_username_env, imap_password_env)"
        )
    try:
        client = _imap_connect(params)
    except (OSError, imaplib.IMAP4.error) as exc:
        raise RunbookError(f"IMAP {where}: cannot connect ({type(exc).__name__}: {exc})") from None
    try:
        try:
            client.login(user, password)
        except imaplib.IMAP4.error as exc:
            reason = str(exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc)
            raise RunbookError(f"IMAP login to {where} as {user} refused: {reason.replace(password, '***')}") from None
        deadline = time.monotonic() + params.inbound_timeout_s
        delay = 0.2
        while True:
            _, listing = client.list()
            folders = [_folder_name(line) for line in listing or [] if line]
            for folder in folders:
                typ, _ = client.select(_quote(folder), readonly=True)
                if typ != "OK":
                    continue
                typ, data = client.search(None, "HEADER", "Message-ID", message_id)
                if typ == "OK" and data and data[0].split():
                    return {"folder": folder, "folders": folders, "mailbox": f"imap://{user}@{where}"}
            if time.monotonic() >= deadline:
                return {"folder": None, "folders": folders, "mailbox": f"imap://{user}@{where}"}
            sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 5.0)
    finally:
        try:
            client.logout()
        except Exception:  # noqa: BLE001
            pass


def _folder_name(line: bytes) -> str:
    text = line.decode("utf-7", "replace") if isinstance(line, bytes) else str(line)
    name = text.rsplit(' "/" ', 1)[-1] if ' "/" ' in text else text.rsplit(" ", 1)[-1]
    return name.strip().strip('"')


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


SPAM_FOLDERS = ("spam", "junk", "bulk", "[gmail]/spam", "junk e-mail", "junk email")


def add_placement(
    result: CheckResult, msg: Message, params: Params, sleep: Callable[[float], None] = time.sleep
) -> None:
    """With ``imap_host``: where the message landed; a spam folder fails the result, a login refused is an error."""
    if not params.imap_host or not msg.message_id:
        return
    try:
        found = placement(params, msg.message_id, sleep)
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
