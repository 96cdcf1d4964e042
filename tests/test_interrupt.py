"""Ctrl-C during `run` stops the kernels and the sandbox, leaves no process behind, marks the report incomplete."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import ROOT


def _descendants(pid: int) -> set[int]:
    found, frontier = set(), {pid}
    while frontier:
        parent = frontier.pop()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            child = int(stat.parent.name)
            if int(fields[1]) == parent and child not in found:
                found.add(child)
                frontier.add(child)
    return found


def test_ctrl_c_during_run(tmp_path) -> None:
    out = tmp_path / "report"
    proc = subprocess.Popen([sys.executable, "-m", "ses_runbook.cli", "run", "--sandbox", "--out", str(out), "--jobs", "2"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        deadline = time.monotonic() + 120
        kernels: set[int] = set()
        while time.monotonic() < deadline and not kernels:  # wait until kernels run
            time.sleep(0.5)
            kernels = {p for p in _descendants(proc.pid) if b"ipykernel" in Path(f"/proc/{p}/cmdline").read_bytes()} if proc.poll() is None else set()
        assert kernels, "no kernel started"
        everything = _descendants(proc.pid)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr[-2000:]
    time.sleep(0.5)
    alive = [p for p in everything if Path(f"/proc/{p}").exists() and "Z" not in Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0]]
    assert alive == [], alive
    assert (out / "INCOMPLETE").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run"]["complete"] is False
    assert any(n["error"] for n in summary["notebooks"])
