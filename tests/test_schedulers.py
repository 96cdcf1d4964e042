"""The README's cron line and systemd units: valid, and the command they run works (on the sandbox)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from support import ROOT

README = (ROOT / "README.md").read_text()


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, re.S)


def _on_sandbox(command: list[str], reports: Path) -> list[str]:
    """The production command pointed at the sandbox and a local root, one notebook to keep it short."""
    out, skip = [], 0
    for _i, word in enumerate(command):
        if skip:
            skip -= 1
            continue
        if word == "-f":
            out.append("--sandbox")
            skip = 1
        elif word == "--reports":
            out += ["--reports", str(reports)]
            skip = 1
        else:
            out.append(word)
    return out + ["00"]


def _ses_runbook() -> str:
    return str(Path(sys.executable).with_name("ses-runbook"))


def _assert_one_healthy_run(reports: Path) -> None:
    """The command wrote one run of notebook 00 into the root, as a scheduler's reader (monitoring,
    the on-call engineer) finds it: summary.json says every check ran and all is well, and index.html
    says so too, for the right account and region, linking the notebook's page."""
    [summary_file] = reports.glob("*/*/*/summary.json")
    run_dir = summary_file.parent
    summary = json.loads(summary_file.read_text(encoding="utf-8"))
    assert {"run", "notebooks", "checks", "worst"} <= set(summary)
    assert summary["worst"] == "ok", [(c["id"], c["status"], c["summary"]) for c in summary["checks"]]
    run = summary["run"]
    assert (run_dir.parent.parent.name, run_dir.parent.name) == (run["account"], run["region"])
    assert (run["account"], run["region"], run["scenario"], run["complete"]) == (
        "123456789012",
        "us-east-1",
        "healthy",
        True,
    )
    assert [(n["name"], n["error"]) for n in summary["notebooks"]] == [("00_health_check", None)]
    ids = {c["id"] for c in summary["checks"]}
    assert {"account.sending_enabled", "reputation.bounce_rate", "dns.dkim", "smtp.auth"} <= ids
    assert all(c["status"] in ("ok", "skip") for c in summary["checks"])
    index = (run_dir / "index.html").read_text(encoding="utf-8")
    assert re.search(r"worst status: <span[^>]*>ok</span>", index), index[-2000:]
    assert "account 123456789012" in index and "region us-east-1" in index and "sandbox scenario healthy" in index
    assert "href='00_health_check.html'" in index and (run_dir / "00_health_check.html").is_file()
    attention = index.partition("Checks that need attention")[2]  # the section lists no check at all
    assert not any(c["id"] in attention for c in summary["checks"]), attention


def test_cron_line_is_valid_and_its_command_runs(tmp_path) -> None:
    (block,) = _blocks("cron")
    line = block.strip()
    fields = line.split(None, 5)
    ranges = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]
    for field, (low, high) in zip(fields[:5], ranges, strict=False):
        for part in field.split(","):
            value = part.split("/")[0]
            assert value == "*" or (value.isdigit() and low <= int(value) <= high), field
    command = fields[5].split(">>")[0].split("&&", 1)[1].strip()
    argv = _on_sandbox(shlex.split(command), tmp_path / "R")
    assert argv[0] == ".venv/bin/ses-runbook"
    proc = subprocess.run([_ses_runbook(), *argv[1:]], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    _assert_one_healthy_run(tmp_path / "R")


def test_systemd_units_verify_and_the_service_command_runs(tmp_path) -> None:
    service, timer = _blocks("ini")[:2]
    assert "[Service]" in service and "Type=oneshot" in service and "[Timer]" in timer and "OnCalendar=" in timer
    exec_start = re.search(r"^ExecStart=(.*)$", service, re.M).group(1)
    argv = shlex.split(exec_start)
    assert argv[0] == "/opt/ses-runbook/.venv/bin/ses-runbook"
    units = tmp_path / "units"
    units.mkdir()
    local = service.replace("/opt/ses-runbook/.venv/bin/ses-runbook", _ses_runbook()).replace(
        "/opt/ses-runbook", str(ROOT)
    )
    (units / "ses-runbook.service").write_text(local)
    (units / "ses-runbook.timer").write_text(timer)
    analyze = shutil.which("systemd-analyze")
    if analyze:
        proc = subprocess.run(
            [analyze, "verify", "--man=no", str(units / "ses-runbook.service"), str(units / "ses-runbook.timer")],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"},
        )
        assert proc.returncode == 0 and "Unknown" not in proc.stderr and "not executable" not in proc.stderr, (
            proc.stderr
        )
    else:  # parse: every line a section, a comment or Key=Value
        for text in (service, timer):
            for line in text.splitlines():
                assert not line.strip() or line.startswith(("[", "#")) or re.match(r"^[A-Za-z]+=", line), line
    run = subprocess.run(
        [_ses_runbook(), *_on_sandbox(argv, tmp_path / "R")[1:]], capture_output=True, text=True, timeout=600, cwd=ROOT
    )
    assert run.returncode == 0, run.stderr
    _assert_one_healthy_run(tmp_path / "R")
