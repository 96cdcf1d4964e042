"""Run every read-only check in this process and wrap the results into a ``Report``.

This is what ``ses-runbook check`` and the ``00_health_check`` notebook both call: no kernels,
one set of clients, every answer fetched once.
"""
from __future__ import annotations

import getpass
import platform
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Iterable

from . import __version__
from .aws import Aws, describe_error
from .checks import Context, run
from .results import CheckResult, Report

if TYPE_CHECKING:
    from .params import Params


def run_block(params: "Params", aws: Aws, started: float, label: str | None = None) -> dict[str, Any]:
    """What a reader of a report needs to trust it: when, which account, who, how, how many calls."""
    try:
        account = aws.account_id()
    except Exception as exc:  # noqa: BLE001 - a report without the account id is still a report
        account = f"unknown ({describe_error(exc, params)})"
    return {
        "as_of": params.as_of_datetime().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "started": datetime.fromtimestamp(started, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "account": account,
        "region": params.region,
        "endpoint_url": params.endpoint_url or f"AWS ({params.region})",
        "profile": params.aws_profile,
        "operator": getpass.getuser(),
        "host": platform.node(),
        "label": label,
        "version": __version__,
        "duration_s": round(time.monotonic() - _MONO_AT_START.get(started, time.monotonic()), 3),
        "aws_calls": aws.stats(),
        "parameters": params.public(),
    }


_MONO_AT_START: dict[float, float] = {}


def _preload(module: str) -> None:
    """Import a slow module in the background while the first checks wait on the network."""
    import importlib
    import threading

    threading.Thread(target=importlib.import_module, args=(module,), name=f"preload-{module}", daemon=True).start()


def check_all(params: "Params", ids: Iterable[str] | None = None, label: str | None = None,
              progress: Callable[[CheckResult], None] | None = None, aws: Aws | None = None) -> Report:
    """Run the checks against the account the parameters name; never raises for a failing check."""
    started = time.time()
    _MONO_AT_START[started] = time.monotonic()
    _preload("checkdmarc")  # ~0.8 s of imports, overlapped with the AWS calls that come first
    aws = aws or Aws(params)
    aws.check_credentials()
    results = run(Context(params=params, aws=aws), ids=ids, progress=progress)
    block = run_block(params, aws, started, label)
    _MONO_AT_START.pop(started, None)
    return Report(run=block, checks=results)
