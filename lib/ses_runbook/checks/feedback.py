"""Is the mail's feedback flowing? Bounce and complaint notifications, and the alarms on their rates.

The rates in CloudWatch say *that* mail bounces; only the notifications say *which* addresses, at
which domains, sent by which service. Both must reach something that reads them, and someone must
hear when the rates climb before AWS pauses the account.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import botocore.exceptions

from ses_runbook.checks import Context, Outcome, check
from ses_runbook.core.commands import aws_command
from ses_runbook.core.feedbackpipe import ALARMS
from ses_runbook.core.results import Status
from ses_runbook.sources import feedback, ses

KINDS = ("Bounce", "Complaint")
MACHINE_PROTOCOLS = {"sqs", "lambda", "http", "https", "firehose", "application"}
EMAIL_PROTOCOLS = {"email", "email-json"}
ALARM_METRICS = tuple((a.metric, a.level) for a in ALARMS)  # each rate, and the parameter its alarm must fire at
# the counts an alarm is put on by mistake for the rate, and the rate meant
COUNT_METRICS = (("Bounce", "Reputation.BounceRate"), ("Complaint", "Reputation.ComplaintRate"))


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


def set_destinations(ctx: Context, name: str) -> list[dict[str, Any]] | None:
    """SESv2 ``GetConfigurationSetEventDestinations`` for one set, once per run (feedback.notifications and
    feedback.event_destinations read the same answer); None when the set does not exist."""

    def fetch() -> list[dict[str, Any]] | None:
        try:
            answer = ctx.aws.call("sesv2", "GetConfigurationSetEventDestinations", ConfigurationSetName=name)
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NotFoundException":
                return None
            raise
        return list(answer.get("EventDestinations", []))

    return ctx.once(f"ses.event_destinations.{name}", fetch)


def _firehose_destination(ctx: Context, arn: str) -> str | None:
    """Why a Firehose stream cannot take events (Firehose ``DescribeDeliveryStream``), or None if it can."""
    name = arn.rsplit("/", 1)[-1]
    try:
        answer = ctx.aws.call("firehose", "DescribeDeliveryStream", DeliveryStreamName=name)
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return f"Firehose stream {name} does not exist"
        raise
    status = answer.get("DeliveryStreamDescription", {}).get("DeliveryStreamStatus")
    return None if status in (None, "ACTIVE") else f"Firehose stream {name} is {status}"


REQUIRED_EVENTS = ("BOUNCE", "COMPLAINT")
OPTIONAL_EVENTS = ("DELIVERY_DELAY", "REJECT", "RENDERING_FAILURE")  # checked where some destination asks for them


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
        found = set_destinations(ctx, config_set) or []
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
    if threshold is not None and threshold > 1:
        return (
            f"{alarm['AlarmName']}'s threshold {threshold:g} is {threshold:.0%}: the reputation rates are fractions "
            f"({level:g} is {level:.2%}), so it never fires"
        )
    if str(alarm.get("TreatMissingData", "missing")).lower() == "breaching":
        return f"{alarm['AlarmName']} treats missing data as breaching: it fires in every quiet hour without mail"
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
    for count, rate in COUNT_METRICS:
        for a in alarms_for(ctx, count):
            why = (
                f"{a['AlarmName']} is on the {count} count, not {rate}: a count (threshold {a.get('Threshold')}) "
                "says nothing about the rate AWS judges"
            )
            rows.append(
                {
                    "metric": count,
                    "alarm": a["AlarmName"],
                    "threshold": a.get("Threshold"),
                    "actions_enabled": a.get("ActionsEnabled"),
                    "actions": [_name(x) for x in a.get("AlarmActions", [])],
                    "problem": why,
                }
            )
            problems.append(why)
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


# delayType -> who holds the mail back (AWS: "Amazon SNS notification contents", deliveryDelay object)
DELAY_SIDES = {
    "InternalFailure": "ses",
    "SendingDeferral": "ses",
    "BYOIPHostNameLookupUnavailable": "ses",
    "MailboxFull": "mailbox",
    "General": "receiver",
    "SpamDetected": "receiver",
    "RecipientServerError": "receiver",
    "IPFailure": "receiver",
    "TransientCommunicationFailure": "receiver",
    "Undetermined": "receiver",
}


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


def _when(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


def _took(ms: float) -> str:
    """A delivery time as read at a glance: seconds under two minutes, else minutes or hours."""
    seconds = ms / 1000
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


@check(
    "feedback.delays",
    "Mail is not held back (DeliveryDelay notifications)",
    lambda p: feedback.receive_command(p) + "   # notificationType DeliveryDelay, and Delivery processingTimeMillis",
    remediation="mail-arrives-late",
    on_request=True,
)
def delays(ctx: Context) -> Outcome:
    """SES publishes DeliveryDelay when a receiver (or SES itself) holds a message back, and Delivery with
    how long the message took (processingTimeMillis). Read from the feedback queue, without consuming it:
    the delays by type, by recipient domain and by hour, and the spread of the delivery times."""
    p = ctx.params
    if not p.feedback_queue_url:
        return Outcome(Status.SKIP, "no feedback_queue_url: the DeliveryDelay notifications are read from it", {})
    read = feedback.read_queue(ctx.aws, p)
    rows, counts = feedback.parse(read.bodies)
    as_of = p.as_of_datetime()
    since = as_of - timedelta(days=p.lookback_days)
    inside = [r for r in rows if (t := _when(r.get("time"))) is not None and since <= t <= as_of]
    late = [r for r in inside if r["type"] == "DeliveryDelay"]
    took = [float(r["processing_ms"]) for r in inside if r["type"] == "Delivery" and r.get("processing_ms") is not None]
    by_type = Counter(str(r.get("delay_type") or "Undetermined") for r in late)
    by_domain = Counter(str(r.get("recipient_domain") or "?") for r in late)
    by_side = Counter(DELAY_SIDES.get(t, "receiver") for t in (str(r.get("delay_type")) for r in late))
    receiver_domains = Counter(
        str(r.get("recipient_domain") or "?")
        for r in late
        if DELAY_SIDES.get(str(r.get("delay_type")), "receiver") == "receiver"
    )
    hours = Counter(f"{t:%Y-%m-%d %H}:00 UTC" for r in late if (t := _when(r.get("time"))) is not None)
    top_domain, top_n = receiver_domains.most_common(1)[0] if receiver_domains else (None, 0)
    details: dict[str, Any] = {
        "delays": len(late),
        "by_delay_type": dict(by_type.most_common()),
        "by_recipient_domain": dict(by_domain.most_common(10)),
        "share_by_side": {k: round(v / len(late), 3) for k, v in by_side.items()} if late else {},
        "top_receiving_domain": {"domain": top_domain, "share": round(top_n / sum(receiver_domains.values()), 3)}
        if top_domain
        else None,
        "hours": dict(sorted(hours.items())),
        "deliveries": len(took),
        "processing_ms": {
            "p50": _percentile(took, 0.5),
            "p95": _percentile(took, 0.95),
            "max": max(took),
        }
        if took
        else None,
        "queue": {k: read.notes.get(k) for k in ("queue", "messages_read", "read_to_end")},
        "malformed": counts.get("malformed", 0),
    }
    spread = (
        f"; deliveries took p50 {_took(details['processing_ms']['p50'])}, p95 "
        f"{_took(details['processing_ms']['p95'])}, max {_took(details['processing_ms']['max'])}"
        if took
        else ""
    )
    if len(late) >= p.delay_warn:
        kinds = ", ".join(f"{n} {t}" for t, n in by_type.most_common(3))
        domains = ", ".join(f"{d} {n}" for d, n in by_domain.most_common(3))
        return Outcome(
            Status.WARN,
            f"{len(late)} DeliveryDelay notifications in the last {p.lookback_days} days (warn at {p.delay_warn}): "
            f"{kinds}; recipient domains {domains}{spread}",
            details,
        )
    return Outcome(
        Status.OK, f"{len(late)} DeliveryDelay notifications in the last {p.lookback_days} days{spread}", details
    )


@check(
    "feedback.event_destinations",
    "Configuration sets publish bounces and complaints to a working destination",
    lambda p: aws_command(
        p, "sesv2", "get-configuration-set-event-destinations", "--configuration-set-name", "CONFIGURATION_SET"
    ),
    remediation="events-not-published",
)
def event_destinations(ctx: Context) -> Outcome:
    """The sender identity's default configuration set and those the parameters name: each must exist, and
    its enabled destinations must take BOUNCE and COMPLAINT (and DELIVERY_DELAY, REJECT, RENDERING_FAILURE
    where a destination was meant to) to an SNS topic with a confirmed subscriber, a Firehose stream that
    exists, EventBridge or CloudWatch. A disabled destination publishes nothing, silently."""
    default = configuration_set(ctx)
    names = list(dict.fromkeys(([default] if default else []) + list(ctx.params.configuration_sets)))
    details: dict[str, Any] = {"default_configuration_set": default, "configuration_sets": []}
    if not names:
        return Outcome(
            Status.OK,
            "no configuration set: the sender identity has no default one and configuration_sets names none "
            "(the identity's notification topics carry the feedback: feedback.notifications)",
            details,
        )
    fails, warns = [], []
    for name in names:
        found = set_destinations(ctx, name)
        row: dict[str, Any] = {"name": name, "exists": found is not None, "destinations": [], "missing": []}
        details["configuration_sets"].append(row)
        if found is None:
            fails.append(f"configuration set {name} does not exist: mail sent with it is refused")
            continue
        covered: set[str] = set()
        wanted: set[str] = set(REQUIRED_EVENTS)
        for dest in found:
            types = sorted(dest.get("MatchingEventTypes", []))
            wanted |= set(types) & set(OPTIONAL_EVENTS)
            problem = None
            kind, target = "?", dest.get("Name")
            if "SnsDestination" in dest:
                topic = dest["SnsDestination"].get("TopicArn", "")
                kind, target = "SNS", _name(topic)
                sns = _sns_destination(ctx, topic)
                problem = sns.get("why") if sns["level"] == "fail" else None
            elif "KinesisFirehoseDestination" in dest:
                stream = dest["KinesisFirehoseDestination"].get("DeliveryStreamArn", "")
                kind, target = "Firehose", stream.rsplit("/", 1)[-1]
                problem = _firehose_destination(ctx, stream)
            elif "EventBridgeDestination" in dest:
                kind, target = "EventBridge", dest["EventBridgeDestination"].get("EventBusArn", "").rsplit("/", 1)[-1]
            elif "CloudWatchDestination" in dest:
                kind = "CloudWatch"
            if not dest.get("Enabled", False):
                problem = "disabled: SES publishes nothing to it"
            elif problem is None and kind != "CloudWatch":
                covered |= set(types)
            row["destinations"].append(
                {
                    "name": dest.get("Name"),
                    "enabled": bool(dest.get("Enabled", False)),
                    "types": types,
                    "kind": kind,
                    "target": target,
                    "problem": problem,
                }
            )
            if problem:
                warns.append(f"{name}/{dest.get('Name')} ({kind} {target}): {problem}")
        row["missing"] = sorted(wanted - covered)
        required = [t for t in REQUIRED_EVENTS if t not in covered]
        optional = [t for t in OPTIONAL_EVENTS if t in wanted and t not in covered]
        if required:
            fails.append(
                f"configuration set {name} publishes no {' or '.join(required)} event to a working destination"
            )
        if optional:
            warns.append(f"configuration set {name} publishes no {', '.join(optional)} event to a working destination")
    text = "; ".join(fails + warns)
    if fails:
        return Outcome(Status.FAIL, f"{text}: notifications silently stop", details)
    if warns:
        return Outcome(Status.WARN, text, details)
    listed = ", ".join(
        f"{r['name']} -> " + ", ".join(f"{d['kind']} {d['target']}" for d in r["destinations"] if d["enabled"])
        for r in details["configuration_sets"]
    )
    return Outcome(Status.OK, f"bounces and complaints published: {listed}", details)
