"""The feedback pipeline and the reputation alarms, defined once: as a fix makes them and the sandbox seeds them.

The guarded fix (``remediation.fixes``), the by-hand commands (``remediation.feedback_steps``) and the
sandbox's world all build the same SNS topic, SQS queue, queue policy and CloudWatch alarms from
here, so what ``feedback.notifications`` and ``feedback.alarms`` find in the sandbox is what a fix
leaves on a real account. Plain data: it imports nothing of the package.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

FEEDBACK_TOPIC = "ses-feedback"  # SNS topic SES publishes an identity's bounces and complaints to
FEEDBACK_QUEUE = "ses-feedback"  # SQS queue subscribed to it: what 09_feedback and the list cleaner read
RETENTION_S = 1_209_600  # 14 days, SQS's longest: feedback not read over a long weekend is still there
NOTIFICATION_KINDS = ("Bounce", "Complaint")  # the identity notifications a fix points at the topic
ALARM_TOPIC = "ses-alarms"  # SNS topic the alarms notify when no ``alarm_topic_arn`` names the on-call's


class Alarm(NamedTuple):
    name: str
    metric: str  # AWS/SES metric, an hourly average
    level: str  # the parameter holding its threshold (a warn level: AWS's review level by default)


ALARMS = (
    Alarm("ses-bounce-rate", "Reputation.BounceRate", "bounce_rate_warn"),
    Alarm("ses-complaint-rate", "Reputation.ComplaintRate", "complaint_rate_warn"),
)


def queue_policy(queue_arn: str, topic_arn: str) -> dict[str, Any]:
    """The queue policy that lets exactly the feedback topic deliver to the queue."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
            }
        ],
    }


def queue_arn(region: str, account: str) -> str:
    """The feedback queue's ARN in ``region`` of ``account``."""
    return f"arn:aws:sqs:{region}:{account}:{FEEDBACK_QUEUE}"


def queue_attributes(queue: str, topic_arn: str) -> dict[str, str]:
    """SQS ``CreateQueue`` attributes of the feedback queue (ARN ``queue``): SQS's longest retention
    and the policy that lets the feedback topic deliver to it."""
    return {"MessageRetentionPeriod": str(RETENTION_S), "Policy": json.dumps(queue_policy(queue, topic_arn))}


def alarm_request(alarm: Alarm, threshold: float, topic_arn: str) -> dict[str, Any]:
    """CloudWatch ``PutMetricAlarm`` arguments: the hourly average at or above ``threshold`` notifies
    ``topic_arn``; an hour without mail (no datapoint) is not a breach."""
    return {
        "AlarmName": alarm.name,
        "Namespace": "AWS/SES",
        "MetricName": alarm.metric,
        "Statistic": "Average",
        "Period": 3600,
        "EvaluationPeriods": 1,
        "Threshold": threshold,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
        "ActionsEnabled": True,
        "AlarmActions": [topic_arn],
    }
