"""Whether an IAM policy document allows an action: the one evaluator the IAM check and the
sandbox's IAM enforcement share.

Explicit Deny wins over Allow; ``Action`` and ``NotAction`` may be strings or lists with
wildcards (``ses:*``, ``ses:Send*``, ``*``). Resources and conditions are not evaluated: the
SMTP users' and the runbook's own policies use ``"Resource": "*"``.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable
from typing import Any

SEND_ACTION = "ses:SendRawEmail"  # what an SES SMTP user must be allowed (the SMTP interface calls it)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _matches(patterns: list[Any], action: str) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), str(p).lower()) for p in patterns)


def allows(documents: dict[str, Any] | str | Iterable[dict[str, Any] | str], action: str) -> bool:
    """Whether the documents (one, or several: a principal's policies together) allow ``action``."""
    if isinstance(documents, (dict, str)):
        documents = [documents]
    allowed = denied = False
    for document in documents:
        doc = json.loads(document) if isinstance(document, str) else document
        for statement in _as_list(doc.get("Statement")):
            if not isinstance(statement, dict):
                continue
            if "Action" in statement:
                hit = _matches(_as_list(statement["Action"]), action)
            elif "NotAction" in statement:
                hit = not _matches(_as_list(statement["NotAction"]), action)
            else:
                hit = False
            effect = str(statement.get("Effect", "")).lower()
            allowed |= hit and effect == "allow"
            denied |= hit and effect == "deny"
    return allowed and not denied


def event_store_policy(events_s3: str, athena_output_s3: str | None = None) -> dict[str, Any]:
    """What reading the event store needs beyond the read-only policy: listing and reading the
    Firehose prefix (DuckDB), and, for Athena, running a query over the Glue table. Athena writes each
    query's result to the workgroup's output location (``athena_output_s3``), so that location, and
    only it, needs writing; reading the table's objects goes through the same S3 read actions."""
    bucket, _, prefix = events_s3.removeprefix("s3://").partition("/")
    statements: list[dict[str, Any]] = [
        {
            "Sid": "EventStoreList",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": f"arn:aws:s3:::{bucket}",
            "Condition": {"StringLike": {"s3:prefix": [f"{prefix}*"]}},
        },
        {
            "Sid": "EventStoreRead",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": f"arn:aws:s3:::{bucket}/{prefix}*",
        },
        {"Sid": "EventDestination", "Effect": "Allow", "Action": ["firehose:DescribeDeliveryStream"], "Resource": "*"},
    ]
    if athena_output_s3:
        out_bucket, _, out_prefix = athena_output_s3.removeprefix("s3://").partition("/")
        statements += [
            {
                "Sid": "AthenaQuery",
                "Effect": "Allow",
                "Action": ["athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults"],
                "Resource": "*",
            },
            {
                "Sid": "AthenaCatalog",
                "Effect": "Allow",
                "Action": ["glue:GetDatabase", "glue:GetTable", "glue:GetPartitions"],
                "Resource": "*",
            },
            {
                "Sid": "AthenaResults",
                "Effect": "Allow",
                "Action": [
                    "s3:GetBucketLocation",
                    "s3:ListBucket",
                    "s3:GetObject",
                    "s3:PutObject",
                    "s3:AbortMultipartUpload",
                ],
                "Resource": [f"arn:aws:s3:::{out_bucket}", f"arn:aws:s3:::{out_bucket}/{out_prefix}*"],
            },
        ]
    return {"Version": "2012-10-17", "Statement": statements}
