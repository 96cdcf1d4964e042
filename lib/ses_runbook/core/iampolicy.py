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
