"""Stored mail, read back: what SES receiving put in S3 for the inbound address, and where a test mailbox filed it.

SES receiving stores what arrives at ``inbound_address`` in S3 through a receipt rule
(``inbound_bucket``/``inbound_prefix``); the object key is SES receiving's own id, not the
sending message id, so a probe is found by its Message-ID header among the objects that arrived
since it was sent (``ListObjectsV2`` + ``GetObject``: reads). With ``imap_host`` the message is
also looked up in every folder of a mailbox at a provider (IMAP, read-only): the folder it landed
in is its inbox placement.

Every function returns data and decides no status (``checks.mailtest`` does): AWS errors come
through as botocore raises them, for the caller to describe; an unusable mailbox is a
``MessageError`` with one line saying why.
"""

from __future__ import annotations

import imaplib
import os
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ses_runbook.core.commands import aws_command
from ses_runbook.core.errors import MessageError
from ses_runbook.sources.message import Message, parse

if TYPE_CHECKING:
    from ses_runbook.core.aws import Aws
    from ses_runbook.core.params import Params

_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def location(params: Params) -> str:
    """Where the receipt rule stores mail: ``s3://bucket/prefix``."""
    return f"s3://{params.inbound_bucket}/{params.inbound_prefix or ''}"


def list_command(params: Params) -> str:
    """The by-hand look at what the receipt rule stored."""
    return aws_command(
        params,
        "s3api",
        "list-objects-v2",
        "--bucket",
        params.inbound_bucket,
        "--prefix",
        params.inbound_prefix or "",
        regional=False,
    )


def _listing(params: Params) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"Bucket": params.inbound_bucket}
    if params.inbound_prefix:
        kwargs["Prefix"] = params.inbound_prefix
    return kwargs


# -- S3: what the receipt rule stored ------------------------------------------------------------
@dataclass
class Stored:
    """One object the receipt rule stored: where, when, and its bytes (parsed only when asked, so a
    caller can say which object it was even when it is not a message)."""

    bucket: str
    key: str
    stored: datetime
    raw: bytes = field(repr=False)

    @property
    def source(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def message(self) -> Message:
        """The stored bytes as a message; ``MessageError`` when they are not one."""
        return parse(self.raw, self.source)


def newest(aws: Aws, params: Params) -> Stored | None:
    """The newest object under the receipt rule's prefix (ListObjectsV2 + one GetObject); None when it holds none."""
    objects = aws.paginate("s3", "ListObjectsV2", "Contents", **_listing(params))
    if not objects:
        return None
    latest = max(objects, key=lambda o: (o["LastModified"], o["Key"]))
    raw = aws.call("s3", "GetObject", Bucket=params.inbound_bucket, Key=latest["Key"])["Body"].read()
    return Stored(bucket=params.inbound_bucket or "", key=latest["Key"], stored=latest["LastModified"], raw=raw)


def read_back(
    aws: Aws, params: Params, message_id: str, since: datetime, sleep: Callable[[float], None] = time.sleep
) -> tuple[Message | None, dict[str, Any]]:
    """Find a sent message in the receipt rule's bucket by its Message-ID, waiting at most ``inbound_timeout_s``.

    Lists the prefix (ListObjectsV2) and reads each object that arrived since the send (GetObject)
    once; returns the message (None when it never arrived) and what was looked at: ``key`` of the
    object found, ``looked_at`` the number of objects read.
    """
    s3 = aws.client("s3")
    deadline = time.monotonic() + params.inbound_timeout_s
    seen: set[str] = set()
    delay = 0.2
    wanted = message_id.split("@")[0].strip("<>")
    while True:
        for page in s3.get_paginator("list_objects_v2").paginate(**_listing(params)):
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


# -- IMAP: which folder of the test mailbox holds it ---------------------------------------------
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
        raise MessageError(
            f"IMAP {host}:{port} offers no STARTTLS: refusing to send the password in plain text (use port 993)"
        )
    return client


def placement(params: Params, message_id: str, sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Find a message by Message-ID in every folder of the test mailbox (IMAP LIST, SELECT read-only, SEARCH):
    the folder it landed in is its inbox placement (``folder``; None when not found within
    ``inbound_timeout_s``), with every folder looked in and the mailbox. Read-only."""

    user = os.environ.get(params.imap_username_env, "")
    password = os.environ.get(params.imap_password_env, "")
    where = f"{params.imap_host}:{params.imap_port or 993}"
    if not user or not password:
        raise MessageError(
            f"IMAP credentials missing: set the environment variables {params.imap_username_env} and "
            f"{params.imap_password_env} (imap_username_env, imap_password_env)"
        )
    try:
        client = _imap_connect(params)
    except (OSError, imaplib.IMAP4.error) as exc:
        raise MessageError(f"IMAP {where}: cannot connect ({type(exc).__name__}: {exc})") from None
    try:
        try:
            client.login(user, password)
        except imaplib.IMAP4.error as exc:
            reason = str(exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc)
            raise MessageError(f"IMAP login to {where} as {user} refused: {reason.replace(password, '***')}") from None
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
