"""Acting on the feedback: the by-hand commands that clean the list, build the pipeline and set the alarms.

What ``sources.feedback`` read says what is wrong; these are the commands an engineer copies to fix
it, the same ones the catalogue's steps show and the guarded fixes (``fixes``) stand for: put the
exported addresses on the suppression list, create the SNS topic and SQS queue that carry bounces
and complaints, and alarm on both reputation rates. The pipeline and alarms themselves are defined
once in ``core.feedbackpipe``, shared with the sandbox.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ses_runbook.core.commands import Shell, aws_command
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

if TYPE_CHECKING:
    from ses_runbook.core.params import Params


def suppress_commands(params: Params) -> list[str]:
    """The by-hand way to put the exported addresses on the account's suppression list."""

    path = params.feedback_export_file or "REMOVALS.csv"
    one = aws_command(
        params,
        "sesv2",
        "put-suppressed-destination",
        "--email-address",
        Shell('"$address"'),
        "--reason",
        Shell('"$reason"'),
    )
    return [f"tail -n +2 {shlex.quote(path)} | while IFS=, read -r address reason rest; do {one}; done"]


def pipeline_commands(params: Params, account: str = "ACCOUNT") -> list[str]:
    """The by-hand feedback pipeline: SNS topic, SQS queue with its policy, subscription, identity topics."""

    topic = f"arn:aws:sns:{params.region}:{account}:{FEEDBACK_TOPIC}"
    queue = queue_arn(params.region, account)
    return [
        aws_command(params, "sns", "create-topic", "--name", FEEDBACK_TOPIC),
        aws_command(
            params,
            "sqs",
            "create-queue",
            "--queue-name",
            FEEDBACK_QUEUE,
            "--attributes",
            json.dumps(queue_attributes(queue, topic)),
        ),
        aws_command(
            params, "sns", "subscribe", "--topic-arn", topic, "--protocol", "sqs", "--notification-endpoint", queue
        ),
        *[
            aws_command(
                params,
                "ses",
                "set-identity-notification-topic",
                "--identity",
                params.domain,
                "--notification-type",
                kind,
                "--sns-topic",
                topic,
            )
            for kind in NOTIFICATION_KINDS
        ],
    ]


def alarm_commands(params: Params, account: str = "ACCOUNT") -> list[str]:
    """The by-hand reputation alarms at the warn levels, notifying ``alarm_topic_arn`` (or a new ses-alarms topic)."""

    topic = params.alarm_topic_arn or f"arn:aws:sns:{params.region}:{account}:{ALARM_TOPIC}"
    out = (
        []
        if params.alarm_topic_arn
        else [
            aws_command(params, "sns", "create-topic", "--name", ALARM_TOPIC),
            aws_command(
                params,
                "sns",
                "subscribe",
                "--topic-arn",
                topic,
                "--protocol",
                "email",
                "--notification-endpoint",
                "ONCALL@EXAMPLE.COM",
            ),
        ]
    )
    for alarm in ALARMS:
        request = alarm_request(alarm, getattr(params, alarm.level), topic)
        out.append(
            aws_command(
                params,
                "cloudwatch",
                "put-metric-alarm",
                "--alarm-name",
                request["AlarmName"],
                "--namespace",
                request["Namespace"],
                "--metric-name",
                request["MetricName"],
                "--statistic",
                request["Statistic"],
                "--period",
                request["Period"],
                "--evaluation-periods",
                request["EvaluationPeriods"],
                "--threshold",
                request["Threshold"],
                "--comparison-operator",
                request["ComparisonOperator"],
                "--treat-missing-data",
                request["TreatMissingData"],
                "--alarm-actions",
                topic,
            )
        )
    return out


def fix_commands(params: Params, results: Iterable[Any]) -> list[str]:
    """The by-hand commands for what this run found: the suppression of the exported addresses, and the
    pipeline and alarms when their checks are not ok (``diagnose`` makes them with ``allow_writes``)."""
    statuses = {r.id: r.status.value for r in results}
    out = []
    if statuses.get("feedback.notifications", "ok") != "ok":
        out += pipeline_commands(params)
    out += suppress_commands(params)
    if statuses.get("feedback.alarms", "ok") != "ok":
        out += alarm_commands(params)
    return out
