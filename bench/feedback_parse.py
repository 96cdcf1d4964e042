"""Notifications parsed per second, and the AWS calls of a 09_feedback run, against the sandbox.

    .venv/bin/python bench/feedback_parse.py [SCENARIO]

Not a test: figures for the issue. Part 1 parses 10,000 SNS-wrapped notifications (the mix the
sandbox's queue holds: bounces of every kind, complaints, and one in ten a delivery, half of them in
the event-publishing format) into rows and then into the frame the notebook shows, best of three.
Part 2 runs the 09_feedback notebook headless against the scenario and prints the AWS calls its
report recorded, by operation, and the calls the sandbox's server counted (writes among them: none).
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ses_runbook.core import params as params_mod
from ses_runbook.runs import runner
from ses_runbook.sandbox import notifications as sim
from ses_runbook.sandbox.scenario import load
from ses_runbook.sandbox.server import Sandbox, restore_env
from ses_runbook.sandbox.world import traffic
from ses_runbook.sources import feedback

N = 10_000


def bodies(n: int = N) -> list[str]:
    """``n`` queue bodies: the bounce-spike scenario's notifications, repeated, plus deliveries; half as events."""
    scenario = load("bounce-spike").model_copy(update={"as_of": "2026-11-01T00:00:00Z"})
    scenario = scenario.model_copy(
        update={"feedback": scenario.feedback.model_copy(update={"queue_sample": 1.0, "queue_days": 14})}
    )
    end = datetime(2026, 11, 1, tzinfo=timezone.utc)
    found = sim.queue_notifications(scenario, traffic(scenario), end)
    rng = random.Random(3)
    out = []
    topic = "arn:aws:sns:us-east-1:123456789012:ses-feedback"
    for i in range(n):
        when, message = found[i % len(found)]
        if i % 10 == 9:
            message = sim.delivery(message["mail"], when + timedelta(seconds=1), message["mail"]["destination"][0])
        if i % 2:
            message = dict(message)
            message["eventType"] = message.pop("notificationType")
        out.append(sim.envelope(message, topic, when, rng))
    return out


def parse_rate() -> None:
    data = bodies()
    best_rows, best_frame = float("inf"), float("inf")
    for _ in range(3):
        started = time.perf_counter()
        rows, counts = feedback.parse(data)
        middle = time.perf_counter()
        feedback.frame(rows)
        done = time.perf_counter()
        best_rows, best_frame = min(best_rows, middle - started), min(best_frame, done - started)
    size = sum(len(b) for b in data) / 1e6
    print(f"parse: {N:,} notifications ({size:.1f} MB of SNS-wrapped JSON), {counts}")
    print(f"  parse to rows:        {best_rows:.3f} s  = {N / best_rows:,.0f} notifications/s")
    print(f"  parse + DataFrame:    {best_frame:.3f} s  = {N / best_frame:,.0f} notifications/s")


def notebook_calls(scenario: str) -> None:
    with Sandbox(scenario) as box:
        previous = box.apply_env()
        try:
            params = params_mod.load(overrides=box.params())
            box.layer.reset_calls()
            out = Path(tempfile.mkdtemp(prefix="bench-feedback-"))
            started = time.perf_counter()
            runner.run_suite(
                params, [p for p in runner.available() if p.stem == "09_feedback"], out=out, jobs=1, quiet=True
            )
            wall = time.perf_counter() - started
            summary = json.loads((out / "summary.json").read_text())
            calls = summary["run"]["aws_calls"]
            print(f"09_feedback on scenario {scenario}: {wall:.1f} s wall, worst {summary['worst']}")
            print(f"  client-counted calls: {json.dumps(calls)}")
            print(f"  server-counted calls: {json.dumps(dict(sorted(box.layer.calls.items())))}")
            print(f"  server-counted writes: {box.layer.writes()}")
        finally:
            restore_env(previous)


if __name__ == "__main__":
    parse_rate()
    notebook_calls(sys.argv[1] if len(sys.argv) > 1 else "bounce-spike")
