"""Shared fixtures: a sandbox per scenario (one at a time per process), parameters pointing at it."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ses_runbook.core import params as params_mod
from ses_runbook.sandbox.server import Sandbox, restore_env

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "ses_runbook.frontends.cli"]
FIXED_AS_OF = "2026-11-01T00:00:00Z"

# The CLI's sandbox keeps its S3 buckets between commands (a reports root must remember earlier
# runs); each test process keeps them in a folder of its own, never in the user's ~/.cache.
_S3_STATE = tempfile.mkdtemp(prefix="ses-runbook-test-s3-")
atexit.register(shutil.rmtree, _S3_STATE, True)
os.environ["SES_RUNBOOK_SANDBOX_S3"] = _S3_STATE


class Running:
    """A started sandbox plus the parameters and environment that point at it, at the world's fixed as_of."""

    def __init__(self, box: Sandbox) -> None:
        self.box = box
        self.as_of = box.scenario.as_of
        self.params = params_mod.load(overrides=self.overrides())
        self.env = {**os.environ, **box.env(), "SES_RUNBOOK_AS_OF": self.as_of}

    def overrides(self) -> dict:
        """The sandbox's endpoints and the world's "now": a test's result never depends on the hour it runs."""
        return {**self.box.params(), "as_of": self.as_of}

    def cli(self, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
        """Run the CLI as a subprocess pointed at this sandbox through -p overrides."""
        extra: list[str] = []
        for name, value in self.overrides().items():
            extra += ["-p", name, ",".join(value) if isinstance(value, list) else str(value)]
        return subprocess.run(
            [*CLI, *args, *extra],
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=timeout,
            env=terminal_neutral(self.env),
            cwd=ROOT,
        )


@pytest.fixture
def sandbox(request: pytest.FixtureRequest) -> Iterator[Running]:
    """``@pytest.mark.parametrize("sandbox", ["healthy"], indirect=True)``, or healthy by default; a
    ``(scenario, as_of)`` pair sets the world's "now" (FIXED_AS_OF unless given)."""
    param = getattr(request, "param", "healthy")
    scenario, as_of = param if isinstance(param, tuple) else (param, FIXED_AS_OF)
    box = Sandbox(scenario, as_of=as_of).start()
    previous = box.apply_env()
    try:
        yield Running(box)
    finally:
        restore_env(previous)
        box.stop()


@pytest.fixture(scope="module")
def nbval_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """The healthy sandbox at the committed outputs' fixed as_of, for nbval's kernels (and the
    library's sample reports root for 11_history)."""
    from ses_runbook.frontends.regenerate import build_sample_history

    sample = build_sample_history(tmp_path_factory.mktemp("sample-history"))
    box = Sandbox("healthy", as_of=FIXED_AS_OF).start()
    previous = box.apply_env()
    os.environ["SES_RUNBOOK_AS_OF"] = FIXED_AS_OF
    os.environ["SES_RUNBOOK_REPORTS_ROOT"] = str(sample)
    try:
        yield box
    finally:
        os.environ.pop("SES_RUNBOOK_AS_OF", None)
        os.environ.pop("SES_RUNBOOK_REPORTS_ROOT", None)
        restore_env(previous)
        box.stop()


def terminal_neutral(env: dict) -> dict:
    """The environment without what changes how the CLI's tables look (a width from the caller's terminal,
    forced colours), and with a fixed width: the output a test reads is the same however pytest was started."""
    dropped = {"COLUMNS", "LINES", "FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "CLICOLOR_FORCE"}
    return {
        **{k: v for k, v in env.items() if k not in dropped},
        "COLUMNS": "200",
        "LINES": "50",
        "PYTHONIOENCODING": "utf-8",
    }


# The CLI as `python -m ses_runbook.frontends.cli` runs it, with Python's own SIGINT handler whatever pytest
# inherited: Python installs it only when SIGINT is not ignored at start-up, and a background job
# of a non-interactive shell starts with SIGINT ignored. Tests that press Ctrl-C start the CLI so.
INTERRUPTIBLE_CLI = [
    sys.executable,
    "-c",
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'ses-runbook'; runpy.run_module('ses_runbook.frontends.cli', run_name='__main__', alter_sys=True)",
]


def run_cli(*args: str, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        env=terminal_neutral(env or dict(os.environ)),
        cwd=ROOT,
    )


def alive(pids: set[int]) -> list[int]:
    """Those of ``pids`` still running (a zombie has exited: only its parent has not reaped it yet)."""
    import psutil

    left = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                left.append(pid)
        except psutil.NoSuchProcess:
            pass
    return left


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A loopback TCP port that refuses connections for as long as the block runs: bound but not
    listening, so no parallel test's server can take it (a port merely found free could be)."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield held.getsockname()[1]
