"""Ctrl-C during `run` stops the kernels and the sandbox, leaves no process behind, marks the report incomplete.

The test sets up what it relies on instead of inheriting it: the child gets Python's own SIGINT
handler even when pytest was started with SIGINT ignored (a background job of a non-interactive
shell), and the notebooks it runs wait until they are interrupted, so the signal always lands
while the run is under way (never after every notebook finished).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from support import INTERRUPTIBLE_CLI, alive, write_notebook

WAIT = "import pathlib, time\npathlib.Path('started-{name}').touch()\ntime.sleep(600)"


def _waiting_notebooks(folder: Path, count: int) -> list[Path]:
    """Notebooks that say when they started, then wait: the run cannot finish before the signal."""
    folder.mkdir()
    paths = []
    for i in range(count):
        name = f"9{i}_wait"
        paths.append(write_notebook(folder / f"{name}.ipynb", WAIT.format(name=name)))
    return paths


def _kernels(proc: psutil.Process) -> set[int]:
    found = set()
    for child in proc.children(recursive=True):
        try:
            if any("ipykernel" in part for part in child.cmdline()):
                found.add(child.pid)
        except psutil.Error:
            pass
    return found


@pytest.mark.parametrize("moment", ["first-kernel", "notebooks-running"])
def test_ctrl_c_during_run(tmp_path, moment: str) -> None:
    """SIGINT as soon as a kernel exists (the pool may still be starting) or while notebooks run."""
    books = _waiting_notebooks(tmp_path / "books", 3)
    out = tmp_path / "report"
    proc = subprocess.Popen(
        [*INTERRUPTIBLE_CLI, "run", "--sandbox", "--out", str(out), "--jobs", "2", *map(str, books)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    stderr = ""
    try:
        parent = psutil.Process(proc.pid)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            kernels = _kernels(parent)
            started = list((tmp_path / "books").glob("started-*"))
            if (moment == "first-kernel" and kernels) or (moment == "notebooks-running" and len(started) >= 2):
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it was interrupted: " + proc.stderr.read()[-2000:]
        assert kernels, "no kernel started"
        everything = {p.pid for p in parent.children(recursive=True)}
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, stderr[-2000:]
    assert "interrupted" in stderr and "Traceback" not in stderr, stderr[-2000:]
    deadline = time.monotonic() + 10  # the kernels' process groups were killed; allow the kernel to reap them
    while alive(everything) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert alive(everything) == [], [psutil.Process(p).cmdline() for p in alive(everything)]
    assert (out / "INCOMPLETE").exists()
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["run"]["complete"] is False
    assert [n["name"] for n in summary["notebooks"]] == [p.stem for p in books]
    assert all(n["error"] for n in summary["notebooks"])  # none of them finished
