"""Run every read-only check in this process and wrap the results into a ``Report``.

This is what ``ses-runbook check`` and the ``00_health_check`` notebook both call: no kernels,
one set of clients, every answer fetched once.
"""

from __future__ import annotations

import getpass
import platform
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ses_runbook import __version__
from ses_runbook.checks import ON_REQUEST, Context, run
from ses_runbook.checks.sending import send_test_email
from ses_runbook.core.aws import Aws
from ses_runbook.core.results import CheckResult, Report

if TYPE_CHECKING:
    from ses_runbook.core.params import Params


def run_block(params: Params, aws: Aws, started: float, duration_s: float, label: str | None = None) -> dict[str, Any]:
    """What a reader of a report needs to trust it: when, which account, who, how, how many calls."""
    return {
        "as_of": params.as_of_datetime().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "started": datetime.fromtimestamp(started, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "account": aws.account_label(),
        "region": params.region,
        "endpoint_url": params.endpoint_url or f"AWS ({params.region})",
        "profile": params.aws_profile,
        "operator": getpass.getuser(),
        "host": platform.node(),
        "label": label,
        "version": __version__,
        "duration_s": round(duration_s, 3),
        "aws_calls": aws.stats(),
        "parameters": params.public(),
    }


def check_all(
    params: Params,
    ids: Iterable[str] | None = None,
    label: str | None = None,
    progress: Callable[[CheckResult], None] | None = None,
    aws: Aws | None = None,
) -> Report:
    """Run the checks against the account the parameters name; never raises for a failing check.

    The checks run their sections side by side; the account id is asked after them, when the
    IAM credential report has usually named it already (then no STS call is made).
    """
    started, clock = time.time(), time.monotonic()
    aws = aws or Aws(params)
    aws.check_credentials()
    wanted = None if ids is None else list(ids)
    requested = [i for i in (wanted or []) if i in ON_REQUEST]
    regular = None if wanted is None else [i for i in wanted if i not in ON_REQUEST]
    results = run(Context(params=params, aws=aws), ids=regular, progress=progress) if regular != [] else []
    if "send.test_email" in requested:  # a write: only when named (and send_test_email is true)
        results.append(send_test_email(aws, params))
        if progress:
            progress(results[-1])
    return Report(run=run_block(params, aws, started, time.monotonic() - clock, label), checks=results)
