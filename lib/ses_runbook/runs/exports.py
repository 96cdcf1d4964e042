"""A run's result in the formats that teams' other tools already read: Prometheus metrics and JUnit XML.

Both take what ``check --json`` prints and ``summary.json`` holds (``{"run", "checks", "worst"}``),
so ``ses-runbook check --format openmetrics|junit`` prints the same thing that ``run`` writes into
its bundle as ``metrics.prom`` and ``junit.xml``.

Metrics: one series per check and status (1 for the status the check has, 0 for the others: the
usual way to expose an enum, so a rule can match ``status="fail"`` and a dashboard can count), the
key figures that ``history.figures`` records (a figure the run could not read is left out, not
written as 0), the run's duration, AWS calls and time. Every series carries ``account`` and
``region``, so one Prometheus can watch several accounts' files.

``metrics.prom`` is for node_exporter's textfile collector: the Prometheus text format (0.0.4, which
the collector parses; the OpenMetrics ``# EOF`` trailer is for scrapes) written by
``prometheus_client.write_to_textfile``, which writes a temporary file and renames it over the
target, so the collector never reads half a file and a symlink at the target is replaced, not
written through. ``--format openmetrics`` prints the OpenMetrics exposition of the same registry.

JUnit: one ``testcase`` per check, ``failure`` for fail, ``error`` for error, ``skipped`` for
skip, the check's summary as the message and its summary, finding and command as the text: what
GitLab, Jenkins and GitHub Actions test reporters show.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, generate_latest, write_to_textfile
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest

from ses_runbook.core import files
from ses_runbook.core.results import Status
from ses_runbook.runs.history import FIGURES, figures, parse_when

METRICS_FILE = "metrics.prom"
JUNIT_FILE = "junit.xml"
FORMATS = ("table", "json", "openmetrics", "junit")

PREFIX = "ses_runbook"
# figure (history.FIGURES) -> (metric name, help); Prometheus' base units: ratios and seconds
_FIGURE_METRICS = {
    "bounce_rate": ("bounce_rate_ratio", "Bounce rate SES computes for the account (reputation.bounce_rate)"),
    "complaint_rate": (
        "complaint_rate_ratio",
        "Complaint rate SES computes for the account (reputation.complaint_rate)",
    ),
    "quota_used": ("quota_used_ratio", "Share of the 24-hour sending quota used (quota.headroom)"),
    "suppressed": ("suppressed_addresses", "Addresses on the account-level suppression list (suppression.list)"),
    "identities": ("identities", "Sending identities of the account (identity.verification)"),
    "aws_calls": ("run_aws_calls", "AWS API calls the run made"),
    "duration_s": ("run_duration_seconds", "How long the run took"),
}
assert set(_FIGURE_METRICS) == set(FIGURES), "every key figure has its metric"

# Characters XML 1.0 cannot hold at all (a control character in a check's summary would make the
# whole file unreadable to a reporter).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def registry(summary: dict[str, Any]) -> CollectorRegistry:
    """The run's metrics in a registry of their own (never the process-wide default one)."""
    run = summary.get("run") or {}
    account, region = str(run.get("account") or "unknown"), str(run.get("region") or "unknown")
    where = {"account": account, "region": region}
    reg = CollectorRegistry()
    status = Gauge(
        f"{PREFIX}_check_status",
        "1 for the status the check has in the run, 0 for the other statuses",
        ["check", "status", "account", "region"],
        registry=reg,
    )
    for check in summary.get("checks") or []:
        for value in Status:
            status.labels(check=check["id"], status=value.value, **where).set(
                1 if check["status"] == value.value else 0
            )
    worst = Gauge(
        f"{PREFIX}_worst_status",
        "1 for the worst status of the run, 0 for the other statuses",
        ["status", "account", "region"],
        registry=reg,
    )
    for level in Status:
        worst.labels(status=level.value, **where).set(1 if summary.get("worst") == level.value else 0)
    values = summary.get("figures") or figures(summary.get("checks") or [], run)
    for name, (metric, help_text) in _FIGURE_METRICS.items():
        figure = values.get(name)
        if figure is not None:
            Gauge(f"{PREFIX}_{metric}", help_text, ["account", "region"], registry=reg).labels(**where).set(figure)
    started = parse_when(str(run.get("started") or run.get("as_of") or ""))
    if started is not None:
        Gauge(
            f"{PREFIX}_run_timestamp_seconds",
            "When the run started (Unix time): alert when it is too old, the schedule stopped",
            ["account", "region"],
            registry=reg,
        ).labels(**where).set(started.timestamp())
    return reg


def openmetrics(summary: dict[str, Any]) -> str:
    """The OpenMetrics exposition (what ``check --format openmetrics`` prints)."""
    return openmetrics_latest(registry(summary)).decode()


def prometheus_text(summary: dict[str, Any]) -> str:
    """The same metrics in the Prometheus text format (what ``metrics.prom`` holds)."""
    return generate_latest(registry(summary)).decode()


def write_metrics(out_dir: Path, summary: dict[str, Any]) -> str:
    """``metrics.prom`` in the bundle, written atomically for node_exporter's textfile collector."""
    write_to_textfile(str(out_dir / METRICS_FILE), registry(summary))
    return METRICS_FILE


def _xml_text(value: Any) -> str:
    return _NOT_XML.sub("\ufffd", str(value if value is not None else ""))


def _count(checks: Iterable[dict[str, Any]], status: Status) -> int:
    return sum(1 for c in checks if c.get("status") == status.value)


def junit(summary: dict[str, Any]) -> str:
    """JUnit XML: one ``testsuite`` for the run, one ``testcase`` per check (the common schema
    that Jenkins' JUnit plugin, GitLab's ``artifacts:reports:junit`` and GitHub Actions' test
    reporters read)."""
    run = summary.get("run") or {}
    checks = [c for c in summary.get("checks") or [] if isinstance(c, dict)]
    where = f"{run.get('account') or 'unknown'} {run.get('region') or 'unknown'}"
    counts = {
        "tests": str(len(checks)),
        "failures": str(_count(checks, Status.FAIL)),
        "errors": str(_count(checks, Status.ERROR)),
        "skipped": str(_count(checks, Status.SKIP)),
        "time": str(run.get("duration_s") or 0),
    }
    suites = ET.Element("testsuites", {"name": "ses-runbook", **counts})
    started = parse_when(str(run.get("started") or run.get("as_of") or ""))
    suite = ET.SubElement(
        suites,
        "testsuite",
        {
            "name": _xml_text(f"ses-runbook {where}"),
            **counts,
            "timestamp": (started or datetime.fromtimestamp(0)).strftime("%Y-%m-%dT%H:%M:%S"),
            "hostname": _xml_text(run.get("host") or "localhost"),
        },
    )
    properties = ET.SubElement(suite, "properties")
    for name in ("account", "region", "as_of", "label", "scenario", "version"):
        if run.get(name) is not None:
            ET.SubElement(properties, "property", {"name": name, "value": _xml_text(run[name])})
    for check in checks:
        section = str(check.get("notebook") or str(check["id"]).split(".", 1)[0])
        case = ET.SubElement(
            suite,
            "testcase",
            {"classname": _xml_text(f"ses_runbook.{section}"), "name": _xml_text(check["id"]), "time": "0"},
        )
        summary_text = _xml_text(check.get("summary"))
        command = _xml_text(check.get("cli"))
        body = "\n".join(
            filter(
                None,
                (
                    f"{_xml_text(check.get('title'))}: {summary_text}",
                    f"what to do: ses-runbook diagnose {_xml_text(check['remediation'])}"
                    if check.get("remediation")
                    else "",
                    f"command: {command}" if command else "",
                ),
            )
        )
        message = f"{summary_text} ({command})" if command else summary_text
        kind = {Status.FAIL.value: "failure", Status.ERROR.value: "error", Status.SKIP.value: "skipped"}.get(
            check.get("status", "")
        )
        if kind == "skipped":
            ET.SubElement(case, "skipped", {"message": message})
        elif kind:
            element = ET.SubElement(case, kind, {"message": message, "type": str(check["status"])})
            element.text = body
        else:  # ok and warn pass; a warning's finding is still there to read
            ET.SubElement(case, "system-out").text = f"{check.get('status')}: {body}"
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(out_dir: Path, summary: dict[str, Any]) -> str:
    """``junit.xml`` in the bundle."""
    files.write_text(out_dir / JUNIT_FILE, junit(summary))
    return JUNIT_FILE
