"""AWS calls and wall time of the metrics view for 1, 14 and 455 days of lookback, against the sandbox.

    .venv/bin/python bench/metrics_lookback.py [SCENARIO]

Not a test: figures for the issue. Each lookback uses fresh clients (no memo), builds the frame
the notebook shows (``ses_metrics_frame``) and the runbook's hourly table, and prints the calls the
client counted, the calls the sandbox's server saw, the period used and the notes. The sandbox's
CloudWatch is moto, whose GetMetricData scans every period of the range: its time grows with the
number of periods, unlike CloudWatch's.
"""

from __future__ import annotations

import sys
import time

from ses_runbook.core import params as params_mod
from ses_runbook.core.aws import Aws
from ses_runbook.sandbox.server import Sandbox, restore_env
from ses_runbook.sources import metrics


def main(scenario: str = "bounce-spike") -> None:
    with Sandbox(scenario) as box:
        previous = box.apply_env()
        try:
            base = params_mod.load(
                overrides={
                    **box.params(),
                    "as_of": box.world.as_of.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "read_timeout_s": 300,
                    "max_attempts": 1,
                }
            )
            print(f"sandbox scenario {scenario}, as_of {base.as_of}, metrics_period_s {base.metrics_period_s}")
            print(f"{'lookback':>9}  {'period':>7}  {'points':>7}  {'wall s':>7}  {'client calls':<60}  server calls")
            for days in (1, 14, 455):
                box.layer.reset_calls()
                params = base.model_copy(update={"lookback_days": days})
                aws = Aws(params)
                started = time.perf_counter()
                frame = metrics.ses_metrics_frame(aws, params)
                metrics.hourly_send_rows(frame)
                metrics.anomaly_rows(frame)
                wall = time.perf_counter() - started
                client = aws.stats()["by_operation"]
                server = dict(sorted(box.layer.calls.items()))
                print(
                    f"{days:>7} d  {frame.attrs['period']:>5} s  {len(frame):>7}  {wall:>7.2f}  {str(client):<60}  {server}"
                )
                for note in frame.attrs["notes"]:
                    print(f"{'':>11}note: {note}")
        finally:
            restore_env(previous)


if __name__ == "__main__":
    main(*sys.argv[1:2])
