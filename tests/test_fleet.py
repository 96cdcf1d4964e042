"""Targets: the suite for several accounts/regions into one root, one failing target never stops
the others, and a fleet index without secrets."""

from __future__ import annotations

import json
import os

from ses_runbook.sandbox.world import SANDBOX_KEY
from support import run_cli

TARGETS = """
concurrency: 2
targets:
  - name: us
    region: us-east-1
  - name: eu-strict
    region: eu-west-1
    parameters: {bounce_rate_warn: 0.001, bounce_rate_fail: 0.002}
  - name: via-role
    role_arn: arn:aws:iam::123456789012:role/ses-runbook-read
    region: us-east-1
    parameters: {lookback_days: 7}
  - name: broken
    profile: no-such-profile
"""


def test_targets_run_into_one_root_with_a_fleet_index(tmp_path) -> None:
    targets = tmp_path / "targets.yaml"
    targets.write_text(TARGETS)
    root = tmp_path / "R"
    env = {**os.environ, "SES_RUNBOOK_SANDBOX_S3": str(tmp_path / "s3")}
    proc = run_cli("run", "--sandbox", "--targets", str(targets), "--reports", str(root), "00", env=env, timeout=900)
    assert proc.returncode == 2, proc.stderr  # the broken target's error is the worst exit code
    (fleet_dir,) = (root / "fleet").iterdir()
    rows = {r["target"]: r for r in json.loads((fleet_dir / "fleet.json").read_text())["targets"]}
    assert rows["us"]["worst"] == "ok" and rows["eu-strict"]["worst"] == "fail" and rows["via-role"]["worst"] == "ok"
    assert rows["broken"]["worst"] == "error" and "no-such-profile" in rows["broken"]["error"]
    for name, region in (("us", "us-east-1"), ("eu-strict", "eu-west-1"), ("via-role", "us-east-1")):
        assert rows[name]["path"].startswith(f"123456789012/{region}/")
        assert (root / rows[name]["path"] / "summary.json").is_file()
    index = (fleet_dir / "index.html").read_text()
    assert rows["us"]["path"] != rows["via-role"]["path"]
    assert (
        json.loads((root / rows["via-role"]["path"] / "summary.json").read_text())["run"]["parameters"]["lookback_days"]
        == 7
    )
    assert index.count("<tr>") == 5 and f"../../{rows['us']['path']}/index.html" in index
    for text in (index, (fleet_dir / "fleet.json").read_text(), proc.stdout, proc.stderr):
        assert SANDBOX_KEY[1] not in text and SANDBOX_KEY[0] not in text


def test_bad_targets_file_is_one_line(tmp_path) -> None:
    for content, named in (
        ("targets: []", "targets"),
        ("targets:\n  - name: a\n    role_arn: nope\n", "role_arn"),
        ("targets:\n  - name: a\n    password: x\n", "password"),
        ("targets:\n  - name: a\n    region: us-east-9\n", "region"),
    ):
        path = tmp_path / "t.yaml"
        path.write_text(content)
        proc = run_cli("run", "--targets", str(path), "--reports", str(tmp_path / "R"), "00")
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and named in proc.stderr, proc.stderr
