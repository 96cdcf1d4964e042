"""Is the mail's feedback flowing? Bounce and complaint notifications, and the alarms on their rates.

The rates in CloudWatch say *that* mail bounces; only the notifications say *which* addresses, at
which domains, sent by which service. Both must reach something that reads them, and someone must
hear when the rates climb before AWS pauses the account.
"""

from __future__ import annotations

from typing import Any

import botocore.exceptions

from ses_runbook.checks import Context, Outcome, check
from ses_runbook.core.commands import aws_command
from ses_runbook.core.feedbackpipe import ALARMS
from ses_runbook.core.results import Status
from ses_runbook.sources import ses

KINDS = ("Bounce", "Complaint")
MACHINE_PROTOCOLS = {"sqs", "lambda", "http", "https", "firehose", "application"}
EMAIL_PROTOCOLS = {"email", "email-json"}
ALARM_METRICS = tuple((a.metric, a.level) for a in ALARMS)  # each rate, and the parameter its alarm must fire at


def topic_subscriptions(ctx: Context, topic: str) -> list[dict[str, Any]] | None:
    """SNS ``ListSubscriptionsByTopic`` (all pages): the topic's confirmed subscriptions; None if the topic does not exist."""
    try:
        subs = ctx.aws.paginate("sns", "ListSubscriptionsByTopic", "Subscriptions", TopicArn=topic)
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NotFound", "NotFoundException", "InvalidParameter"):
            return None
        raise
    return [s for s in subs if s.get("SubscriptionArn", "").startswith("arn:")]


def _name(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]


def _sns_destination(ctx: Context, topic: str) -> dict[str, Any]:
    subs = topic_subscriptions(ctx, topic)
    if subs is None:
        return {
            "kind": "SNS",
            "target": _name(topic),
            "level": "fail",
            "why": f"SNS topic {_name(topic)} does not exist",
        }
    protocols = sorted({s.get("Protocol", "?") for s in subs})
    readers = [f"{s.get('Protocol')} {_name(s.get('Endpoint', ''))}" for s in subs]
    if not subs:
        return {
            "kind": "SNS",
            "target": _name(topic),
            "level": "fail",
            "why": f"SNS topic {_name(topic)} has no confirmed subscription",
        }
    if not set(protocols) & MACHINE_PROTOCOLS:
        return {
            "kind": "SNS",
            "target": _name(topic),
            "level": "warn",
            "readers": readers,
            "why": f"SNS topic {_name(topic)} only forwards by email ({', '.join(readers)}): nobody can process it at scale",
        }
    return {"kind": "SNS", "target": _name(topic), "level": "ok", "readers": readers}


def firehose_destination(ctx: Context, stream_arn: str) -> dict[str, Any]:
    """A configuration set's Firehose destination: the stream must exist and deliver to an S3 bucket
    that exists (the event store ``events_s3`` reads). Firehose ``DescribeDeliveryStream``, then S3
    ``ListObjectsV2`` of one key under its prefix (AccessDenied there: the check errors, naming s3:ListBucket)."""
    name = _name(stream_arn).rsplit("/", 1)[-1]
    try:
        stream = ctx.aws.call("firehose", "DescribeDeliveryStream", DeliveryStreamName=name)[
            "DeliveryStreamDescription"
        ]
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return {
                "kind": "Firehose",
                "target": name,
                "level": "fail",
                "why": f"Firehose stream {name} does not exist",
            }
        raise
    found = [
        d.get("ExtendedS3DestinationDescription") or d.get("S3DestinationDescription")
        for d in stream.get("Destinations", [])
    ]
    s3 = [d for d in found if d]
    if not s3:
        return {
            "kind": "Firehose",
            "target": name,
            "level": "fail",
            "why": f"Firehose stream {name} has no S3 destination: no event store holds the events",
        }
    bucket, prefix = s3[0].get("BucketARN", "").rsplit(":", 1)[-1], s3[0].get("Prefix") or ""
    try:
        ctx.aws.call("s3", "ListObjectsV2", Bucket=bucket, Prefix=prefix, MaxKeys=1)
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchBucket":
            return {
                "kind": "Firehose",
                "target": name,
                "level": "fail",
                "why": f"Firehose stream {name} delivers to bucket {bucket}, which does not exist",
            }
        raise
    return {"kind": "Firehose", "target": name, "level": "ok", "readers": [f"s3://{bucket}/{prefix}"]}


def identities(ctx: Context) -> list[str]:
    """The identities the mail goes out under: the sender address and its domain."""
    return sorted({ctx.params.domain, ctx.params.sender})


def configuration_set(ctx: Context) -> str | None:
    """The default configuration set of the sender's identity (SESv2 ``GetEmailIdentity``; the address's, else the
    domain's), asking only for identities ``ListEmailIdentities`` (shared with the identity checks) knows."""
    known = {name.lower() for name in ses.email_identities(ctx.aws)}
    for name in (ctx.params.sender, ctx.params.domain):
        if name.lower() not in known:
            continue
        try:
            answer = ctx.aws.call("sesv2", "GetEmailIdentity", EmailIdentity=name)
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NotFoundException":
                continue
            raise
        if answer.get("ConfigurationSetName"):
            return answer["ConfigurationSetName"]
    return None


def destinations(ctx: Context) -> dict[str, list[dict[str, Any]]]:
    """Where each of Bounce and Complaint goes: identity topics and configuration-set event destinations.

    Calls SES ``GetIdentityNotificationAttributes`` (domain and sender in one), SESv2 ``GetEmailIdentity``,
    ``GetConfigurationSetEventDestinations`` when a default configuration set exists, SNS
    ``ListSubscriptionsByTopic`` per topic, Firehose ``DescribeDeliveryStream`` and S3 ``ListObjectsV2``
    (one key) per Firehose destination.
    """
    if "feedback_destinations" in ctx.cache:
        return ctx.cache["feedback_destinations"]
    attrs = ctx.aws.call("ses", "GetIdentityNotificationAttributes", Identities=identities(ctx)).get(
        "NotificationAttributes", {}
    )
    out: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS}
    # SES uses the address identity's topics when it has them, else the domain's
    for kind in KINDS:
        for name in (ctx.params.sender, ctx.params.domain):
            topic = attrs.get(name, {}).get(f"{kind}Topic")
            if topic:
                out[kind].append({**_sns_destination(ctx, topic), "via": f"identity {name}"})
                break
    config_set = configuration_set(ctx)
    if config_set:
        found = ctx.aws.call("sesv2", "GetConfigurationSetEventDestinations", ConfigurationSetName=config_set).get(
            "EventDestinations", []
        )
        for dest in found:
            if not dest.get("Enabled", False):
                continue
            types = set(dest.get("MatchingEventTypes", []))
            for kind in KINDS:
                if kind.upper() not in types:
                    continue
                via = f"configuration set {config_set} ({dest.get('Name')})"
                if "SnsDestination" in dest:
                    out[kind].append({**_sns_destination(ctx, dest["SnsDestination"]["TopicArn"]), "via": via})
                if "KinesisFirehoseDestination" in dest:
                    arn = dest["KinesisFirehoseDestination"].get("DeliveryStreamArn", "")
                    out[kind].append({**firehose_destination(ctx, arn), "via": via})
                for key, label in (
                    ("EventBridgeDestination", "EventBridge"),
                    ("CloudWatchDestination", "CloudWatch"),
                ):
                    if key in dest:
                        out[kind].append({"kind": label, "target": dest.get("Name"), "level": "ok", "via": via})
    ctx.cache["feedback_destinations"] = out
    ctx.cache["feedback_forwarding"] = {n: a.get("ForwardingEnabled", True) for n, a in attrs.items()}
    ctx.cache["feedback_configuration_set"] = config_set
    return out


@check(
    "feedback.notifications",
    "Bounces and complaints reach a machine-readable destination",
    lambda p: aws_command(p, "ses", "get-identity-notification-attributes", "--identities", p.domain, p.sender),
    remediation="bounces-or-complaints-spike",
)
def notifications(ctx: Context) -> Outcome:
    found = destinations(ctx)
    rank = {"ok": 0, "warn": 1, "fail": 2}
    per_kind: dict[str, str] = {}
    lines = []
    for kind in KINDS:
        best = min((rank[d["level"]] for d in found[kind]), default=2)
        per_kind[kind] = ["ok", "warn", "fail"][best]
        if not found[kind]:
            lines.append(
                f"{kind}: nowhere (no notification topic on {' or '.join(identities(ctx))}, no event destination)"
            )
        for d in found[kind]:
            what = d.get("why") or f"{d['kind']} {d['target']}" + (
                f" -> {', '.join(d['readers'])}" if d.get("readers") else ""
            )
            lines.append(f"{kind}: {what} (via {d['via']})")
    details = {
        "destinations": found,
        "configuration_set": ctx.cache.get("feedback_configuration_set"),
        "email_forwarding": ctx.cache.get("feedback_forwarding"),
        "by_kind": per_kind,
    }
    worst = max(per_kind.values(), key=lambda v: rank[v])
    summary = "; ".join(lines)
    if worst == "fail":
        missing = [k for k, v in per_kind.items() if v == "fail"]
        return Outcome(
            Status.FAIL,
            f"{' and '.join(missing)} feedback goes nowhere a machine reads it: {summary}. "
            "SES's default email forwarding only reaches the Return-Path mailbox",
            details,
        )
    if worst == "warn":
        return Outcome(Status.WARN, summary, details)
    return Outcome(Status.OK, summary, details)


def alarms_for(ctx: Context, metric: str) -> list[dict[str, Any]]:
    """CloudWatch ``DescribeAlarmsForMetric`` for one account-level AWS/SES metric."""
    return ctx.aws.call("cloudwatch", "DescribeAlarmsForMetric", Namespace="AWS/SES", MetricName=metric).get(
        "MetricAlarms", []
    )


def _judge_alarm(ctx: Context, alarm: dict[str, Any], level: float) -> str | None:
    """Why this alarm would not warn anyone in time, or None if it would."""
    threshold = alarm.get("Threshold")
    if threshold is None or threshold > level:
        return f"{alarm['AlarmName']} fires at {threshold}, above the warn level {level}"
    if not alarm.get("ActionsEnabled", False):
        return f"{alarm['AlarmName']} has its actions disabled"
    actions = alarm.get("AlarmActions", [])
    if not actions:
        return f"{alarm['AlarmName']} has no alarm action"
    for arn in actions:
        if ":sns:" not in arn:
            return None  # another kind of action (incident manager, ...) acts on it
        subs = topic_subscriptions(ctx, arn)
        if subs:
            return None
    return f"{alarm['AlarmName']} notifies {', '.join(_name(a) for a in actions)}, which nobody subscribes to"


@check(
    "feedback.alarms",
    "Alarms on the bounce and complaint rates notify someone",
    lambda p: aws_command(
        p,
        "cloudwatch",
        "describe-alarms-for-metric",
        "--namespace",
        "AWS/SES",
        "--metric-name",
        "Reputation.BounceRate",
    ),
    remediation="bounces-or-complaints-spike",
)
def alarms(ctx: Context) -> Outcome:
    rows, problems = [], []
    for metric, level_name in ALARM_METRICS:
        level = getattr(ctx.params, level_name)
        found = alarms_for(ctx, metric)
        verdicts = {a["AlarmName"]: _judge_alarm(ctx, a, level) for a in found}
        good = [n for n, why in verdicts.items() if why is None]
        rows += [
            {
                "metric": metric,
                "alarm": a["AlarmName"],
                "threshold": a.get("Threshold"),
                "actions_enabled": a.get("ActionsEnabled"),
                "actions": [_name(x) for x in a.get("AlarmActions", [])],
                "problem": verdicts[a["AlarmName"]],
            }
            for a in found
        ]
        if not found:
            problems.append(f"no alarm on {metric}")
        elif not good:
            problems.append("; ".join(v for v in verdicts.values() if v))
    details = {"alarms": rows}
    if problems:
        return Outcome(
            Status.WARN,
            f"{'; '.join(problems)}: nobody hears of a spike until AWS reviews or pauses the account "
            f"(AWS recommends alarms at {ctx.params.bounce_rate_warn:.0%} bounces and {ctx.params.complaint_rate_warn:.1%} complaints)",
            details,
        )
    names = ", ".join(f"{r['alarm']} ({r['metric']} >= {r['threshold']:g})" for r in rows if r["problem"] is None)
    return Outcome(Status.OK, f"alarms notify subscribers: {names}", details)
