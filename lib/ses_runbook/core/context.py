"""The run's context block: when, against which account, who ran it, how, and how many AWS calls.

One builder for every place a run says what it was: the ``run`` of ``check --json`` and
``mail-test`` (``checks.suite``), the ``run`` of a bundle's and of an export's ``summary.json``
(``runs.runner``, ``frontends.lab``), an investigation's ``investigation.json`` and the table a
notebook's ``rb.context()`` shows (``runs.notebook``). Every block carries every key of ``KEYS``
(``None`` when not known); a report adds its own keys beside them (``complete``, ``exported``...).
"""

from __future__ import annotations

import getpass
import platform
import sys
from collections.abc import Mapping
from datetime import datetime, timezone
from importlib import metadata
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ses_runbook import __version__

if TYPE_CHECKING:
    from ses_runbook.core.aws import Aws
    from ses_runbook.core.params import Params

#: The keys of every context block, in the order they are written.
KEYS = (
    "as_of",
    "started",
    "account",
    "region",
    "endpoint_url",
    "profile",
    "operator",
    "host",
    "label",
    "scenario",
    "version",
    "versions",
    "duration_s",
    "aws_calls",
    "parameters",
)
#: The libraries whose versions a block names beside the package's own.
LIBRARIES = ("boto3", "botocore", "papermill", "nbconvert", "pandas", "matplotlib", "moto", "dnspython")


def stamp(when: datetime) -> str:
    """A time as every block writes it: UTC, ``2026-11-01T00:00:00Z``."""
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def readable(text: str) -> str:
    """A block's time as a banner or table shows it: ``2026-11-01 00:00:00`` (UTC)."""
    return text.replace("T", " ").removesuffix("Z")


def versions() -> dict[str, str]:
    """The package's version, Python's, and those of the libraries a report depends on (when installed)."""
    out = {"ses-runbook": __version__, "python": sys.version.split()[0]}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def add_calls(*stats: Mapping[str, Any] | None) -> dict[str, Any]:
    """Call counts (``Aws.stats`` shape) added together: total, retries, writes and per operation."""
    by_op: dict[str, int] = {}
    total = retries = writes = 0
    for calls in stats:  # a recorded count of the wrong type (an exported teammate's notebook) counts as 0
        calls = calls if isinstance(calls, Mapping) else {}
        total += _count(calls.get("total"))
        retries += _count(calls.get("retries"))
        writes += _count(calls.get("writes"))
        by_operation = calls.get("by_operation")
        for op, n in by_operation.items() if isinstance(by_operation, Mapping) else ():
            by_op[str(op)] = by_op.get(str(op), 0) + _count(n)
    return {"total": total, "retries": retries, "writes": writes, "by_operation": dict(sorted(by_op.items()))}


def run_block(
    params: Params,
    aws: Aws | None = None,
    *,
    started: float | None = None,
    duration_s: float = 0.0,
    label: str | None = None,
    scenario: str | None = None,
    account: str | None = None,
    aws_calls: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """What a reader of a report needs to trust it: when, which account, who, how, how many calls.

    ``started`` is a ``time.time()`` value (default: now). The account is ``account`` when given,
    else what ``aws`` knows or asks (STS GetCallerIdentity, counted with the run's calls);
    ``aws_calls`` defaults to ``aws``'s counts.
    """
    if account is None and aws is not None:
        account = aws.account_label()
    when = datetime.now(timezone.utc) if started is None else datetime.fromtimestamp(started, timezone.utc)
    return {
        "as_of": stamp(params.as_of_datetime()),
        "started": stamp(when),
        "account": account,
        "region": params.region,
        "endpoint_url": params.endpoint_url or f"AWS ({params.region})",
        "profile": params.aws_profile,
        "operator": getpass.getuser(),
        "host": platform.node(),
        "label": label,
        "scenario": scenario,
        "version": __version__,
        "versions": versions(),
        "duration_s": round(duration_s, 3),
        "aws_calls": add_calls(aws_calls if aws_calls is not None else aws.stats() if aws is not None else None),
        "parameters": params.public(),
    }


def complete_block(block: Mapping[str, Any]) -> dict[str, Any]:
    """``block`` with every key of ``KEYS`` first (``None`` where it lacks one: a block written by an
    earlier version), then whatever else it holds."""
    return {**{key: block.get(key) for key in KEYS}, **block}


_AWS_HOSTS = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws", ".c2s.ic.gov", ".sc2s.sgov.gov")


def not_aws(endpoint_url: str | None) -> str | None:
    """One sentence when ``endpoint_url`` is not an AWS endpoint (a sandbox, a mock, a mistyped URL),
    else None: a run that reads somewhere else than the account must say so before anything else
    (a shell left with a sandbox's variables must not pass for a production run)."""
    if not endpoint_url or endpoint_url.startswith("AWS ("):
        return None
    host = (urlsplit(endpoint_url).hostname or "").lower().rstrip(".")
    if host.endswith(_AWS_HOSTS):
        return None
    return f"endpoint_url {endpoint_url} is not AWS: this run reads that endpoint, not an AWS account"
