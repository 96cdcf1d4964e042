"""The formats teams' other tools read: ``check --format openmetrics|junit``, and ``metrics.prom`` and
``junit.xml`` in every run's bundle, parsed the way Prometheus and CI test reporters parse them."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_prometheus

from ses_runbook.runs import exports, runner
from support import run_cli, statuses


def _series(text: str, parser=parse_prometheus) -> list:
    return [sample for family in parser(text) for sample in family.samples]


@pytest.mark.parametrize("sandbox", ["bounce-spike"], indirect=True)
def test_check_openmetrics_and_junit_say_what_the_json_says(sandbox) -> None:
    as_json = sandbox.cli("check", "--json")
    report = json.loads(as_json.stdout)
    ids = {c["id"] for c in report["checks"]}
    fails = [c["id"] for c in report["checks"] if c["status"] == "fail"]
    assert as_json.returncode == 1 and fails == ["reputation.bounce_rate"]

    metrics = sandbox.cli("check", "--format", "openmetrics")
    assert metrics.returncode == 1 and metrics.stdout.rstrip().endswith("# EOF")
    for parser in (parse_prometheus, parse_openmetrics):
        status = [s for s in _series(metrics.stdout, parser) if s.name == "ses_runbook_check_status"]
        assert {s.labels["check"] for s in status} == ids  # at least one series per check
        current = {s.labels["check"]: s.labels["status"] for s in status if s.value == 1}
        assert current == statuses(report)
        assert {
            "account": "123456789012",
            "region": "us-east-1",
            "check": "reputation.bounce_rate",
            "status": "fail",
        } in [s.labels for s in status if s.value == 1]
    figures = {s.name: s.value for s in _series(metrics.stdout)}
    assert figures["ses_runbook_bounce_rate_ratio"] > 0.10 and "ses_runbook_quota_used_ratio" in figures
    assert {"ses_runbook_run_duration_seconds", "ses_runbook_run_aws_calls", "ses_runbook_suppressed_addresses"} <= set(
        figures
    )

    junit = sandbox.cli("check", "--format", "junit")
    assert junit.returncode == 1
    suites = ET.fromstring(junit.stdout.encode())
    cases = suites.findall("./testsuite/testcase")
    assert {c.get("name") for c in cases} == ids
    failures = [c for c in cases if c.find("failure") is not None]
    assert len(failures) == len(fails) == int(suites.get("failures"))
    failure = failures[0].find("failure")
    bounce = next(c for c in report["checks"] if c["id"] == "reputation.bounce_rate")
    assert failure.get("message").startswith(bounce["summary"]) and bounce["cli"].split(" --endpoint-url")[0] in (
        failure.text
    )


def test_json_and_format_must_agree() -> None:
    proc = run_cli("check", "--json", "--format", "junit")
    assert proc.returncode == 2 and proc.stderr.strip() == (
        "ses-runbook: --json and --format junit exclude each other: --json is --format json"
    )


def _summary(*checks: tuple[str, str, str]) -> dict:
    return {
        "run": {"account": "123456789012", "region": "eu-west-1", "started": "2026-11-01T00:00:00Z", "duration_s": 1.5},
        "checks": [
            {"id": i, "title": i, "status": s, "summary": text, "details": {}, "remediation": None, "cli": "aws ses x"}
            for i, s, text in checks
        ],
        "worst": "error",
    }


def test_junit_kinds_and_hostile_text() -> None:
    summary = _summary(
        ("dns.spf", "fail", "no SPF \x1b[31m<record> & \x00 more"),
        ("smtp.auth", "error", "timed out"),
        ("send.test_email", "skip", "send_test_email is false"),
        ("dns.dmarc", "warn", "p=none"),
        ("quota.headroom", "ok", "fine"),
    )
    suites = ET.fromstring(exports.junit(summary).encode())
    assert (suites.get("tests"), suites.get("failures"), suites.get("errors"), suites.get("skipped")) == (
        "5",
        "1",
        "1",
        "1",
    )
    kinds = {c.get("name"): [child.tag for child in c] for c in suites.iter("testcase")}
    assert kinds == {
        "dns.spf": ["failure"],
        "smtp.auth": ["error"],
        "send.test_email": ["skipped"],
        "dns.dmarc": ["system-out"],
        "quota.headroom": ["system-out"],
    }
    message = suites.find(".//failure").get("message")
    assert "<record> &" in message and "\x1b" not in message and "\x00" not in message and "aws ses x" in message


def test_metrics_file_for_the_textfile_collector(tmp_path) -> None:
    """Prometheus text format (no OpenMetrics trailer), a figure nobody could read left out, and a
    symlink at the target replaced rather than written through."""
    summary = _summary(("reputation.bounce_rate", "fail", "high"))
    summary["checks"][0]["details"] = {"latest": 0.12}
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (tmp_path / exports.METRICS_FILE).symlink_to(victim)
    exports.write_metrics(tmp_path, summary)
    text = (tmp_path / exports.METRICS_FILE).read_text()
    assert victim.read_text() == "keep" and not (tmp_path / exports.METRICS_FILE).is_symlink()
    assert "# EOF" not in text and list(tmp_path.glob("*.tmp")) == []
    names = {s.name: s for s in _series(text)}
    assert names["ses_runbook_bounce_rate_ratio"].value == 0.12 and "ses_runbook_complaint_rate_ratio" not in names
    assert names["ses_runbook_run_timestamp_seconds"].value == 1793491200


def test_a_run_writes_both_into_its_bundle(tmp_path, sandbox) -> None:
    done = runner.run_suite(sandbox.params, runner.resolve_notebooks(["01"]), out=tmp_path / "run", jobs=1, quiet=True)
    ids = {c["id"] for c in done.summary["checks"]}
    metrics = (tmp_path / "run" / "metrics.prom").read_text()
    assert {s.labels["check"] for s in _series(metrics) if s.name == "ses_runbook_check_status"} == ids
    cases = ET.parse(tmp_path / "run" / "junit.xml").getroot().findall("./testsuite/testcase")
    assert {c.get("name") for c in cases} == ids and {c.get("classname") for c in cases} == {
        "ses_runbook.01_quota_and_statistics"
    }
