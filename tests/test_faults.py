"""Throttling, outages and timeouts injected between the runbook and the sandbox."""

from __future__ import annotations

import json
import time

import pytest

from ses_runbook.checks import suite
from support import SPINE, FaultProxy, run_cli, statuses


def test_thirty_percent_throttled_gives_same_answers(sandbox) -> None:
    clean = suite.check_all(sandbox.params, ids=SPINE)
    with FaultProxy(sandbox.box.endpoint_url) as proxy:
        proxy.throttle_fraction = 0.3
        params = sandbox.params.model_copy(update={"endpoint_url": proxy.url})
        throttled = suite.check_all(params, ids=SPINE)
    assert sum(proxy.throttled.values()) >= 2, proxy.throttled
    assert statuses(throttled) == statuses(clean)
    assert throttled.run["aws_calls"]["retries"] == sum(proxy.throttled.values())
    assert throttled.run["aws_calls"]["total"] == clean.run["aws_calls"]["total"]


@pytest.mark.parametrize("mode", ["drop", "5xx", "deny"])
def test_one_service_cut_only_errors_its_checks(sandbox, mode: str) -> None:
    with FaultProxy(sandbox.box.endpoint_url) as proxy:
        proxy.cut["cloudwatch"] = mode
        params = sandbox.params.model_copy(update={"endpoint_url": proxy.url, "max_attempts": 2})
        started = time.monotonic()
        report = suite.check_all(params, ids=SPINE)
        elapsed = time.monotonic() - started
    found = statuses(report)
    assert found["reputation.bounce_rate"] == found["reputation.complaint_rate"] == "error"
    assert all(v == "ok" for k, v in found.items() if not k.startswith("reputation.")), found
    assert report.exit_code == 2
    summary = report.by_id()["reputation.bounce_rate"].summary
    if mode == "deny":
        assert "cloudwatch:GetMetricData" in summary
    else:
        assert "127.0.0.1" in summary and "GetMetricData" in summary
    assert elapsed < 60


def test_read_timeout_names_host_and_timeout(sandbox) -> None:
    with FaultProxy(sandbox.box.endpoint_url) as proxy:
        proxy.cut["cloudwatch"] = "delay"
        proxy.delay_s = 3
        params = sandbox.params.model_copy(update={"endpoint_url": proxy.url, "read_timeout_s": 1, "max_attempts": 2})
        started = time.monotonic()
        report = suite.check_all(params, ids=["quota.headroom", "reputation.bounce_rate"])
        elapsed = time.monotonic() - started
    result = report.by_id()["reputation.bounce_rate"]
    assert result.status.value == "error"
    assert "read timeout (1 s)" in result.summary and "127.0.0.1" in result.summary
    assert report.by_id()["quota.headroom"].status.value == "ok"
    assert elapsed < 30


def test_cli_report_still_written_when_a_service_is_down(sandbox, tmp_path) -> None:
    with FaultProxy(sandbox.box.endpoint_url) as proxy:
        proxy.cut["cloudwatch"] = "drop"
        proc = run_cli(
            "check", "--json", "-p", "max_attempts", "2", "-p", "endpoint_url", proxy.url, env=sandbox.env, timeout=120
        )
    assert proc.returncode == 2
    data = json.loads(proc.stdout)
    assert {c["id"]: c["status"] for c in data["checks"]}["reputation.bounce_rate"] == "error"
