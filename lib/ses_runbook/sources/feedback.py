"""Bounce, complaint and delivery notifications, read from an SQS queue without consuming it, as DataFrames.

SES sends feedback in two formats, and both are read here:

- identity notifications (``SetIdentityNotificationTopic``): ``{"notificationType": "Bounce", "mail": ..., "bounce": ...}``;
- event publishing (a configuration set's event destination): ``{"eventType": "Bounce", "mail": ..., "bounce": ...}``,
  with ``Send``, ``Open``, ``Click`` ... events as well;

each either wrapped in an SNS envelope (``{"Type": "Notification", "Message": "<json>"}``, an SQS
subscription without raw delivery) or raw. One row per affected recipient.

Reading never consumes: a batch is received with a short visibility timeout (it is hidden from the
queue's other readers for at most that long), and every message read is made visible again with
``ChangeMessageVisibilityBatch`` (timeout 0) as soon as the pass ends. Resetting after each batch
instead would hand the same first messages back on the next receive, so a queue of thousands could
not be paged. Nothing is deleted (``DeleteMessage`` is a write; the guard refuses it without
``allow_writes``).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import botocore.exceptions

from ses_runbook.core.aws import RECEIVE_VISIBILITY_S, describe_error
from ses_runbook.core.commands import aws_command
from ses_runbook.core.errors import FeedbackError, OutputError
from ses_runbook.core.files import open_for_writing
from ses_runbook.core.foreign import expect, read_json
from ses_runbook.core.identities import domain_of
from ses_runbook.core.redact import csv_cell, csv_value, mask_address

if TYPE_CHECKING:
    import pandas as pd

    from ses_runbook.core.aws import Aws
    from ses_runbook.core.params import Params

MIN_RECEIVE_COUNT = 10  # a redrive policy that dead-letters after fewer receives is refused unless told
TYPES = ("Bounce", "Complaint", "Delivery", "Reject", "DeliveryDelay")
COLUMNS = [
    "time",
    "type",
    "recipient",
    "recipient_domain",
    "bounce_type",
    "bounce_subtype",
    "diagnostic_code",
    "status",
    "complaint_type",
    "delay_type",
    "reject_reason",
    "source",
    "source_arn",
    "caller",
    "tags",
    "ses_message_id",
    "mail_time",
    "format",
]


@dataclass
class QueueRead:
    """What one pass over the queue found: the message bodies and what to say about the pass."""

    bodies: list[str] = field(default_factory=list)
    sent: list[datetime | None] = field(default_factory=list)  # SQS SentTimestamp of each body
    notes: dict[str, Any] = field(default_factory=dict)


# -- parsing ------------------------------------------------------------------------------------
def parse_body(body: str) -> list[dict[str, Any]] | None:
    """The rows of one queue message; ``None`` if it is not an SES notification; ``ValueError`` if it is
    not JSON or is too big or too deep (the bounded reader's caps: anyone can put a message on the topic).

    Accepts an SNS envelope around either format, or either format raw.
    """
    data = read_json(body, "queue message")
    if isinstance(data, dict) and data.get("Type") == "Notification" and isinstance(data.get("Message"), str):
        try:
            data = read_json(data["Message"], "queue message")
        except ValueError:
            return None
    if not isinstance(data, dict) or not isinstance(data.get("mail"), dict):
        return None
    kind = data.get("notificationType") or data.get("eventType")
    if not kind:
        return None
    return parse_notification(data, "event" if "eventType" in data else "notification")


def _first(tags: dict[str, Any], key: str) -> str | None:
    value = tags.get(key) if isinstance(tags, dict) else None
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, str) else None


NUMBERS = frozenset({"processing_ms"})  # the row fields that are numbers; every other one is text


def parse_notification(data: dict[str, Any], fmt: str = "notification") -> list[dict[str, Any]]:
    """One SES notification or event record (already decoded) as rows, one per recipient it is about."""
    kind = str(data.get("notificationType") or data.get("eventType") or "")
    mail = data.get("mail", {})
    tags = expect(mail.get("tags"), dict, {})
    own_tags = {k: _first(tags, k) for k in sorted(tags) if not k.startswith("ses:") and not k.startswith("aws:")}
    base = {
        "type": kind,
        "source": mail.get("source"),
        "source_arn": mail.get("sourceArn"),
        "caller": mail.get("callerIdentity") or _first(tags, "ses:caller-identity"),
        "tags": "; ".join(f"{k}={v}" for k, v in own_tags.items()) or None,
        "ses_message_id": mail.get("messageId"),
        "mail_time": mail.get("timestamp"),
        "format": fmt,
    }
    rows: list[dict[str, Any]] = []
    if kind == "Bounce":
        b = data.get("bounce", {})
        for r in b.get("bouncedRecipients", []) or [{}]:
            rows.append(
                {
                    **base,
                    "time": b.get("timestamp"),
                    "recipient": r.get("emailAddress"),
                    "bounce_type": b.get("bounceType"),
                    "bounce_subtype": b.get("bounceSubType"),
                    "diagnostic_code": r.get("diagnosticCode"),
                    "status": r.get("status"),
                }
            )
    elif kind == "Complaint":
        c = data.get("complaint", {})
        for r in c.get("complainedRecipients", []) or [{}]:
            rows.append(
                {
                    **base,
                    "time": c.get("timestamp"),
                    "recipient": r.get("emailAddress"),
                    "complaint_type": c.get("complaintFeedbackType") or c.get("complaintSubType"),
                }
            )
    elif kind == "Delivery":
        d = data.get("delivery", {})
        for r in d.get("recipients", []) or [None]:
            rows.append(
                {
                    **base,
                    "time": d.get("timestamp"),
                    "recipient": r,
                    "status": d.get("smtpResponse"),
                    "processing_ms": d.get("processingTimeMillis"),
                }
            )
    elif kind == "DeliveryDelay":
        d = data.get("deliveryDelay", {})
        for r in d.get("delayedRecipients", []) or [{}]:
            rows.append(
                {
                    **base,
                    "time": d.get("timestamp"),
                    "recipient": r.get("emailAddress"),
                    "delay_type": d.get("delayType"),
                    "status": r.get("status"),
                    "diagnostic_code": r.get("diagnosticCode"),
                }
            )
    elif kind == "Reject":
        r = data.get("reject", {})
        for address in mail.get("destination", []) or [None]:
            rows.append({**base, "time": mail.get("timestamp"), "recipient": address, "reject_reason": r.get("reason")})
    else:  # Send, Open, Click, Rendering Failure, Subscription: one row for the mail
        rows.append(
            {
                **base,
                "time": (data.get(kind[:1].lower() + kind[1:], {}) or {}).get("timestamp") or mail.get("timestamp"),
                "recipient": (mail.get("destination") or [None])[0],
            }
        )
    for row in rows:  # a field of the wrong type (a list for an address, a number for a time) is as good as missing
        for key, value in row.items():
            if key == "format" or value is None:
                continue
            fits = (
                isinstance(value, (int, float)) and not isinstance(value, bool)
                if key in NUMBERS
                else isinstance(value, str)
            )
            if not fits:
                row[key] = None
        row["recipient_domain"] = domain_of(row.get("recipient"))
    return rows


def parse(bodies: Iterable[str]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Rows of every SES notification among ``bodies``, and counts of what was skipped and why."""
    rows: list[dict[str, Any]] = []
    counts = {"messages": 0, "notifications": 0, "unrelated": 0, "malformed": 0}
    for body in bodies:
        counts["messages"] += 1
        try:  # one hostile message is counted and skipped; it never ends the report
            found = parse_body(body)
        except (ValueError, TypeError, AttributeError, KeyError):
            counts["malformed"] += 1
            continue
        if found is None:
            counts["unrelated"] += 1
            continue
        counts["notifications"] += 1
        rows.extend(found)
    return rows, counts


# -- reading the queue ------------------------------------------------------------------------
def _queue_error(exc: Exception, url: str) -> FeedbackError:
    if isinstance(exc, botocore.exceptions.ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if "NonExistentQueue" in code or "QueueDoesNotExist" in code:
            return FeedbackError(
                f"feedback_queue_url {url}: no such queue (AWS.SimpleQueueService.NonExistentQueue); "
                "check the URL and the region"
            )
    return FeedbackError(f"feedback_queue_url {url}: {describe_error(exc)}")


def queue_attributes(aws: Aws, url: str) -> dict[str, str]:
    """SQS ``GetQueueAttributes``: size, visibility timeout and redrive policy of the queue."""
    try:
        return aws.call("sqs", "GetQueueAttributes", QueueUrl=url, AttributeNames=["All"]).get("Attributes", {})
    except Exception as exc:  # noqa: BLE001
        raise _queue_error(exc, url) from None


def refuse_low_redrive(attributes: dict[str, str], params: Params, url: str) -> int | None:
    policy = attributes.get("RedrivePolicy")
    if not policy:
        return None
    count = int(json.loads(policy).get("maxReceiveCount", 0))
    if count < MIN_RECEIVE_COUNT and not params.feedback_low_redrive_ok:
        raise FeedbackError(
            f"feedback_queue_url {url}: its redrive policy moves a message to the dead-letter queue after "
            f"{count} receives, and every read counts as one; not read (set feedback_low_redrive_ok=true to read anyway)"
        )
    return count


def _receive(aws: Aws, url: str, visibility: int, wait: int) -> list[dict[str, Any]]:
    try:
        return aws.call(
            "sqs",
            "ReceiveMessage",
            QueueUrl=url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=visibility,
            WaitTimeSeconds=wait,
            MessageSystemAttributeNames=["SentTimestamp", "ApproximateReceiveCount"],
        ).get("Messages", [])
    except Exception as exc:  # noqa: BLE001
        raise _queue_error(exc, url) from None


def release(aws: Aws, url: str, handles: list[str]) -> int:
    """SQS ``ChangeMessageVisibilityBatch`` to 0, ten at a time: the messages read are visible again now."""
    failed = 0
    for i in range(0, len(handles), 10):
        entries = [
            {"Id": str(n), "ReceiptHandle": h, "VisibilityTimeout": 0} for n, h in enumerate(handles[i : i + 10])
        ]
        try:
            failed += len(
                aws.call("sqs", "ChangeMessageVisibilityBatch", QueueUrl=url, Entries=entries).get("Failed", [])
            )
        except Exception:  # noqa: BLE001 - they become visible anyway when their short timeout ends
            failed += len(entries)
    return failed


def _sent(message: dict[str, Any]) -> datetime | None:
    stamp = message.get("Attributes", {}).get("SentTimestamp")
    return datetime.fromtimestamp(int(stamp) / 1000, timezone.utc) if stamp else None


def read_queue(aws: Aws, params: Params, url: str | None = None) -> QueueRead:
    """Every message on the feedback queue (up to ``feedback_max_messages``), without consuming any.

    Calls: SQS ``GetQueueAttributes`` once, ``ReceiveMessage`` per 10 messages (hidden ``RECEIVE_VISIBILITY_S``
    seconds at most), ``ChangeMessageVisibilityBatch`` per 10 read (visible again, right after the pass).
    """
    url = url or params.feedback_queue_url
    if not url:
        raise FeedbackError("no feedback_queue_url: set it to the SQS queue subscribed to the feedback topic")
    return aws.once(("feedback-queue", url, params.feedback_max_messages), lambda: _read_queue(aws, params, url))


def _read_queue(aws: Aws, params: Params, url: str) -> QueueRead:
    attributes = queue_attributes(aws, url)
    redrive = refuse_low_redrive(attributes, params, url)
    out = QueueRead()
    seen: set[str] = set()
    handles: list[str] = []
    to_end = False
    receives = 0
    try:
        while len(out.bodies) < params.feedback_max_messages:
            batch = _receive(aws, url, RECEIVE_VISIBILITY_S, 1)
            receives += 1
            fresh = [m for m in batch if m["MessageId"] not in seen]
            handles += [m["ReceiptHandle"] for m in batch]
            if not fresh:  # empty (long poll of 1 s): the queue's visible messages are all read
                to_end = not batch
                break
            for message in fresh:
                seen.add(message["MessageId"])
                out.bodies.append(message.get("Body", ""))
                out.sent.append(_sent(message))
    finally:
        failed = release(aws, url, handles)
    waiting = int(attributes.get("ApproximateNumberOfMessages", 0))
    out.notes = {
        "queue": url.rsplit("/", 1)[-1],
        "messages_read": len(out.bodies),
        "read_to_end": to_end,
        "approximate_messages": waiting,
        "in_flight_elsewhere": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        "receives": receives,
        "made_visible_again": len(handles) - failed,
        "deleted": 0,
        "max_receive_count": redrive,
        "limit": params.feedback_max_messages,
    }
    return out


# -- frames ---------------------------------------------------------------------------------------
def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows as a DataFrame with the columns in a fixed order and UTC times."""
    # deferred: pandas and numpy (about 40 MiB, 0.3 s): only where a frame is built; `check` never loads them
    import pandas as pd

    df = pd.DataFrame(rows, columns=COLUMNS)
    df["time"] = pd.to_datetime(df["time"], utc=True, errors="coerce", format="ISO8601")
    df["mail_time"] = pd.to_datetime(df["mail_time"], utc=True, errors="coerce", format="ISO8601")
    return df.sort_values("time", kind="stable").reset_index(drop=True)


@dataclass
class Feedback:
    """The notifications of the lookback, and what reading them found."""

    frame: pd.DataFrame
    notes: dict[str, Any]


def load(aws: Aws, params: Params, read: QueueRead | None = None) -> Feedback:
    """Read the queue (or use ``read``), parse both formats, keep the lookback window."""
    read = read or read_queue(aws, params)
    rows, counts = parse(read.bodies)
    df = frame(rows)
    as_of = params.as_of_datetime()
    since = as_of - timedelta(days=params.lookback_days)
    inside = (df["time"] >= since) & (df["time"] <= as_of)
    notes = {
        **read.notes,
        **counts,
        "outside_lookback": int((~inside).sum()),
        "lookback_days": params.lookback_days,
        "as_of": as_of.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return Feedback(df[inside].reset_index(drop=True), notes)


def review(aws: Aws, params: Params) -> Feedback:
    """``load`` for a notebook: never raises; a queue that cannot be read gives an empty frame and a note saying why."""
    try:
        return load(aws, params)
    except FeedbackError as exc:
        return Feedback(frame([]), {"error": str(exc), "lookback_days": params.lookback_days})


def notes_text(notes: dict[str, Any]) -> str:
    """What the pass read, in one paragraph: how many, whether to the end, what was skipped, that nothing was deleted."""
    if notes.get("error"):
        return f"The feedback queue was not read: {notes['error']}."
    end = (
        "to its end"
        if notes.get("read_to_end")
        else (
            f"NOT to its end (stopped at feedback_max_messages={notes.get('limit')})"
            if notes.get("messages_read", 0) >= notes.get("limit", 0)
            else "not to its end (messages came back before the queue was empty)"
        )
    )
    parts = [
        f"Read {notes.get('messages_read', 0)} message(s) from queue {notes.get('queue')} {end}, "
        f"in {notes.get('receives', 0)} receive(s); {notes.get('made_visible_again', 0)} made visible again at once, "
        f"{notes.get('deleted', 0)} deleted."
    ]
    parts.append(f"{notes.get('notifications', 0)} SES notification(s) parsed")
    if notes.get("unrelated"):
        parts.append(f"{notes['unrelated']} unrelated message(s) (not SES notifications) counted and skipped")
    if notes.get("malformed"):
        parts.append(
            f"{notes['malformed']} malformed message(s) (not JSON, too big or too deep, or fields of the wrong type) "
            "counted and skipped"
        )
    if notes.get("outside_lookback"):
        parts.append(
            f"{notes['outside_lookback']} row(s) outside the {notes.get('lookback_days')}-day lookback left out"
        )
    if notes.get("in_flight_elsewhere"):
        parts.append(
            f"{notes['in_flight_elsewhere']} message(s) were in flight with another reader and could not be seen"
        )
    return parts[0] + " " + "; ".join(parts[1:]) + "."


def empty_text(fb: Feedback) -> str | None:
    """The clear "nothing there" message, or None when there are notifications."""
    if len(fb.frame):
        return None
    return (
        f"No notifications in the last {fb.notes.get('lookback_days')} days on queue {fb.notes.get('queue')}. "
        "Either nothing bounced or complained (and deliveries are not published), or the feedback goes elsewhere: "
        "check feedback.notifications above (topic, subscription, configuration set), and that no other reader "
        "deletes the messages before this one sees them."
    )


# -- addresses are customer data ------------------------------------------------------------------
mask = mask_address  # the name the notebooks use


def masked(df: pd.DataFrame, params: Params, columns: Iterable[str] = ("recipient", "address")) -> pd.DataFrame:
    """The frame as a report may show it: addresses masked unless ``show_addresses``."""
    if params.show_addresses:
        return df
    out = df.copy()
    for column in columns:
        if column in out:
            out[column] = out[column].map(mask)
    return out


# -- the views 09_feedback shows ------------------------------------------------------------------
def _kinds(df: pd.DataFrame) -> pd.Series:
    # deferred: pandas and numpy (about 40 MiB, 0.3 s): only where a frame is built; `check` never loads them
    import numpy as np

    return np.where(df["type"] == "Bounce", df["type"] + " " + df["bounce_type"].fillna("?"), df["type"])


def counts_by_type(df: pd.DataFrame) -> pd.DataFrame:
    """Notifications by type; bounces by type and subtype."""
    return (
        df.assign(bounce_type=df["bounce_type"].fillna(""), bounce_subtype=df["bounce_subtype"].fillna(""))
        .groupby(["type", "bounce_type", "bounce_subtype"])
        .size()
        .rename("count")
        .reset_index()
        .sort_values("count", ascending=False, kind="stable")
        .reset_index(drop=True)
    )


COUNTED = ("Bounce", "Complaint")  # the kinds the per-domain and per-source tables count


def by(df: pd.DataFrame, column: str, top: int = 10) -> pd.DataFrame:
    """Bounces (permanent, transient) and complaints per value of ``column``, biggest first, with shares."""
    # deferred: pandas and numpy (about 40 MiB, 0.3 s): only where a frame is built; `check` never loads them
    import pandas as pd

    df = df[df["type"].isin(COUNTED)]  # only these are counted: a million deliveries need not be tabulated
    if df.empty:
        return pd.DataFrame(columns=[column, "permanent_bounces", "transient_bounces", "complaints", "total", "share"])
    kind = pd.Series(_kinds(df), index=df.index)
    table = pd.crosstab(df[column].fillna("(none)"), kind)
    out = pd.DataFrame(
        {
            "permanent_bounces": table.get("Bounce Permanent", 0),
            "transient_bounces": table.get("Bounce Transient", 0),
            "complaints": table.get("Complaint", 0),
        }
    )
    out["total"] = out.sum(axis=1)
    out = out[out["total"] > 0]
    out["share"] = (out["total"] / out["total"].sum()).round(3)
    return (
        out.sort_values(["total", "permanent_bounces"], ascending=False, kind="stable")
        .head(top)
        .rename_axis(column)
        .reset_index()
    )


def by_source(df: pd.DataFrame) -> pd.DataFrame:
    """Which of our services sent what bounced or complained: From, IAM caller and message tags."""
    # deferred: pandas and numpy (about 40 MiB, 0.3 s): only where a frame is built; `check` never loads them
    import pandas as pd

    df = df[df["type"].isin(COUNTED)]
    if df.empty:
        return pd.DataFrame(
            columns=[
                "source",
                "caller",
                "tags",
                "permanent_bounces",
                "transient_bounces",
                "complaints",
                "total",
                "share",
            ]
        )
    keyed = df.assign(key=df["source"].fillna("") + " | " + df["caller"].fillna("") + " | " + df["tags"].fillna(""))
    out = by(keyed, "key", top=20)
    parts = out["key"].str.split(" \\| ", expand=True, regex=True)
    out.insert(0, "source", parts[0])
    out.insert(1, "caller", parts[1])
    out.insert(2, "tags", parts[2])
    return out.drop(columns="key")


def complaints_by_type(df: pd.DataFrame) -> pd.DataFrame:
    c = df[df["type"] == "Complaint"]
    return (
        c.groupby(c["complaint_type"].fillna("(not given)"))
        .size()
        .rename("complaints")
        .sort_values(ascending=False)
        .reset_index()
    )


def top_diagnostics(df: pd.DataFrame, top: int = 10) -> pd.DataFrame:
    """The commonest diagnostic codes, with the address inside a code replaced so equal reasons group."""

    b = df[df["type"] == "Bounce"]
    codes = b["diagnostic_code"].fillna("(none)").map(lambda t: re.sub(r"<?[^\s<>;:]+@[^\s<>;:]+>?", "<address>", t))
    return codes.value_counts().head(top).rename_axis("diagnostic_code").rename("bounces").reset_index()


def timeline(df: pd.DataFrame, freq: str = "1h") -> pd.DataFrame:
    """Notifications per ``freq`` by kind (bounce permanent/transient, complaint, ...): the plot's data."""
    # deferred: pandas and numpy (about 40 MiB, 0.3 s): only where a frame is built; `check` never loads them
    import pandas as pd

    if df.empty:
        return pd.DataFrame()
    kind = pd.Series(_kinds(df), index=df.index, name="kind")
    return df.assign(kind=kind).set_index("time").groupby("kind").resample(freq).size().unstack(0).fillna(0).astype(int)


# -- cleaning the list ----------------------------------------------------------------------------
def removals(df: pd.DataFrame) -> pd.DataFrame:
    """Addresses to remove from our lists: every permanent bounce and every complaint, once, latest first."""
    # deferred: pandas and numpy (about 40 MiB, 0.3 s): only where a frame is built; `check` never loads them
    import pandas as pd

    hard = df[((df["type"] == "Bounce") & (df["bounce_type"] == "Permanent")) | (df["type"] == "Complaint")]
    if hard.empty:
        return pd.DataFrame(columns=["address", "reason", "detail", "source", "caller", "tags", "last_seen"])
    out = pd.DataFrame(
        {
            "address": hard["recipient"].str.lower(),
            "reason": hard["type"].map({"Bounce": "BOUNCE", "Complaint": "COMPLAINT"}),
            "detail": hard["bounce_subtype"].fillna(hard["complaint_type"]),
            "source": hard["source"],
            "caller": hard["caller"],
            "tags": hard["tags"],
            "last_seen": hard["time"],
        }
    )
    out = out.sort_values(["last_seen", "address"], ascending=[False, True], kind="stable")
    # a complaint outranks a bounce for the same address (suppress as COMPLAINT)
    out["rank"] = (out["reason"] == "COMPLAINT").astype(int)
    out = out.sort_values("rank", ascending=False, kind="stable").drop_duplicates("address").drop(columns="rank")
    return out.sort_values(["last_seen", "address"], ascending=[False, True], kind="stable").reset_index(drop=True)


def removal_summary(rem: pd.DataFrame) -> pd.DataFrame:
    """The addresses to remove counted by reason and sending source (no address in it)."""
    if rem.empty:
        return rem.assign(addresses=0)[["reason", "detail", "source", "caller", "addresses"]]
    return (
        rem.assign(detail=rem["detail"].fillna(""), caller=rem["caller"].fillna(""))
        .groupby(["reason", "detail", "source", "caller"])
        .size()
        .rename("addresses")
        .sort_values(ascending=False)
        .reset_index()
    )


def export(rem: pd.DataFrame, path: str | Path) -> Path:
    """Write the full removal list, unmasked, to ``path`` as CSV with mode 0600 (it is customer data).

    The file the parameter names is replaced, never a symbolic link's target nor anything that is
    not a regular file (``FeedbackError``). Every cell is neutralised for spreadsheets (``csv_cell``):
    the addresses come from strangers' mail servers."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        handle = open_for_writing(path, 0o600, newline="")
    except OutputError as exc:
        raise FeedbackError(f"feedback_export_file {exc}") from None
    with handle:
        writer = csv.writer(handle)
        writer.writerow(["address", "reason", "detail", "source", "caller", "tags", "last_seen"])
        for row in rem.itertuples(index=False):
            writer.writerow(
                csv_cell(value)
                for value in (
                    row.address,
                    row.reason,
                    row.detail,
                    row.source,
                    row.caller,
                    row.tags,
                    row.last_seen.strftime("%Y-%m-%dT%H:%M:%SZ")
                    if hasattr(row.last_seen, "strftime")
                    else row.last_seen,
                )
            )
    return path


def read_export(path: str | Path) -> list[dict[str, str]]:
    """The rows of a removal list written by ``export`` (what the suppression fix reads)."""
    try:
        with open(Path(path).expanduser(), newline="") as handle:
            return [{k: csv_value(v or "") for k, v in row.items()} for row in csv.DictReader(handle)]
    except FileNotFoundError:
        raise FeedbackError(
            f"feedback_export_file '{path}' does not exist; run 09_feedback with it set first"
        ) from None


def export_text(rem: pd.DataFrame, params: Params) -> str:
    """Where the full list went, or how to get it: the list itself never goes into a report."""
    if params.feedback_export_file:
        path = export(rem, params.feedback_export_file)
        return f"{len(rem)} address(es) written to {path} (CSV, mode 0600); the report holds only the counts."
    return (
        f"{len(rem)} address(es) to remove; the full list is not in this report (customer data): "
        "set feedback_export_file to a path to have it written there (CSV, mode 0600)."
    )


# -- the cause of a spike -------------------------------------------------------------------------
def spike_cause(
    df: pd.DataFrame, since: datetime | None = None, until: datetime | None = None
) -> dict[str, Any] | None:
    """What the biggest share of permanent bounces (or of complaints, when those are what rose) in the window has in common.

    For each of recipient domain, From, IAM caller and message tags, the value holding the largest
    share; ``None`` when the window holds none.
    """
    window = df
    if since is not None:
        window = window[window["time"] >= since]
    if until is not None:
        window = window[window["time"] <= until]
    before = df[df["time"] < since] if since is not None else df.iloc[0:0]

    def pick(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
        if kind == "permanent bounces":
            return frame[(frame["type"] == "Bounce") & (frame["bounce_type"] == "Permanent")]
        return frame[frame["type"] == "Complaint"]

    def lift(kind: str) -> float:  # how many times its earlier hourly rate this kind arrived at in the window
        if window.empty or before.empty:
            return 1.0
        hours_in = max(1.0, (window["time"].max() - window["time"].min()).total_seconds() / 3600)
        hours_before = max(1.0, (before["time"].max() - before["time"].min()).total_seconds() / 3600)
        return (len(pick(window, kind)) / hours_in) / max(len(pick(before, kind)) / hours_before, 1 / hours_before)

    kind = "permanent bounces"
    if lift("complaints") >= 2 and lift("complaints") > lift("permanent bounces"):
        kind = "complaints"  # the complaints spiked, not the bounces
    hard = pick(window, kind)
    if hard.empty:
        kind = "complaints" if kind == "permanent bounces" else "permanent bounces"
        hard = pick(window, kind)
    if hard.empty:
        return None
    base = pick(before, kind)
    out: dict[str, Any] = {
        "kind": kind,
        "count": int(len(hard)),
        "before_count": int(len(base)),
        "since": hard["time"].min().strftime("%Y-%m-%d %H:%M"),
        "until": hard["time"].max().strftime("%Y-%m-%d %H:%M"),
    }
    for column in ("recipient_domain", "source", "caller", "tags", "bounce_subtype", "complaint_type"):
        counts = hard[column].dropna().value_counts()
        if not counts.empty:
            value = counts.index[0]
            earlier = float((base[column] == value).sum()) / len(base) if len(base) else None
            out[column] = {
                "value": value,
                "count": int(counts.iloc[0]),
                "share": round(float(counts.iloc[0]) / len(hard), 3),
                "share_before": None if earlier is None else round(earlier, 3),
            }
    return out


LIFT = 1.5  # a value must hold this many times its earlier share to be the cause (else it is the usual mix)


def _stands_out(item: dict[str, Any] | None) -> bool:
    if not item or item["share"] < RESPONSIBLE_SHARE:
        return False
    return item.get("share_before") is None or item["share"] >= LIFT * item["share_before"]


RESPONSIBLE_SHARE = 0.5  # a value holding at least this share of the window's permanent bounces (and LIFT times its earlier share) is named
CAUSE_HOURS = 24  # the window: the trailing day, the span over which AWS's reputation rates are computed


def cause(fb: Feedback, params: Params, hours: int = CAUSE_HOURS) -> dict[str, Any] | None:
    """``spike_cause`` over the last ``hours`` before ``as_of``."""
    as_of = params.as_of_datetime()
    return spike_cause(fb.frame, as_of - timedelta(hours=hours), as_of)


def cause_for(aws: Aws, params: Params) -> dict[str, Any] | None:
    """The spike's cause, read from the queue with the run's clients (the calls count with the run's);
    None when there is no queue or it cannot be read. Each call reads the queue again: a diagnosis
    reads it once and hands the answer to every step that names the cause."""
    if not params.feedback_queue_url:
        return None
    fb = review(aws, params)
    return None if fb.notes.get("error") else cause(fb, params)


def responsible(cause: dict[str, Any] | None) -> dict[str, str]:
    """The values that hold at least half of the window: what to name as the cause (may be empty)."""
    if not cause:
        return {}
    return {
        column: cause[column]["value"]
        for column in ("recipient_domain", "source", "caller", "tags")
        if _stands_out(cause.get(column))
    }


def cause_text(cause: dict[str, Any] | None) -> str:
    """One sentence naming the responsible recipient domain and source, or saying that none stands out."""
    if not cause:
        return "No permanent bounces or complaints in the window: no cause to name."
    labels = {
        "recipient_domain": "recipient domain",
        "source": "From",
        "caller": "sent by (IAM)",
        "tags": "message tags",
    }

    def share(item: dict[str, Any]) -> str:
        earlier = "" if item.get("share_before") is None else f", {item['share_before']:.0%} before"
        return f"{item['share']:.0%}{earlier}"

    named = [
        f"{labels[c]} {cause[c]['value']} ({share(cause[c])})"
        for c in ("recipient_domain", "source", "caller", "tags")
        if _stands_out(cause.get(c))
    ]
    detail = cause.get("bounce_subtype") or cause.get("complaint_type")
    why = f"; most are {detail['value']} ({detail['share']:.0%})" if detail else ""
    head = f"{cause['count']} {cause['kind']} between {cause['since']} and {cause['until']} UTC ({cause['before_count']} in the days before)"
    top = cause.get("recipient_domain")
    if not _stands_out(top):
        spread = (
            f"no recipient domain stands out (the largest: {top['value']}, {share(top)}: the usual mix)"
            if top
            else "no recipient domain given"
        )
        return (
            f"{head}: {spread}"
            + ("; responsible: " + ", ".join(named) if named else "; no single source stands out either")
            + why
            + "."
        )
    return f"{head}; responsible: " + ", ".join(named) + why + "."


def receive_command(params: Params) -> str:
    """The by-hand peek at the queue: one receive that hides the batch for a minute (never delete-message)."""

    url = params.feedback_queue_url or "QUEUE_URL"
    return aws_command(
        params,
        "sqs",
        "receive-message",
        "--queue-url",
        url,
        "--max-number-of-messages",
        "10",
        "--visibility-timeout",
        str(RECEIVE_VISIBILITY_S),
        "--message-system-attribute-names",
        "SentTimestamp",
    )
