"""The README's cron line and systemd units: valid, and the command they run works (on the sandbox)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

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
    assert len(list((tmp_path / "R").glob("*/*/*/summary.json"))) == 1


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
    assert len(list((tmp_path / "R").glob("*/*/*/index.html"))) == 1
