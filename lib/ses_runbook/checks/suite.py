"""Run every read-only check in this process and wrap the results into a ``Report``.

This is what ``ses-runbook check`` calls (the ``00_health_check`` notebook runs the same registry
through ``Runbook.check``): no kernels, one set of clients, every answer fetched once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from ses_runbook.checks import ON_REQUEST, Context, run
from ses_runbook.checks.sending import send_test_email
from ses_runbook.core import context
from ses_runbook.core.aws import Aws
from ses_runbook.core.results import CheckResult, Report

if TYPE_CHECKING:
    from ses_runbook.core.params import Params


def check_all(
    params: Params,
    ids: Iterable[str] | None = None,
    label: str | None = None,
    progress: Callable[[CheckResult], None] | None = None,
    aws: Aws | None = None,
    scenario: str | None = None,
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
    block = context.run_block(
        params, aws, started=started, duration_s=time.monotonic() - clock, label=label, scenario=scenario
    )
    return Report(run=block, checks=results)
