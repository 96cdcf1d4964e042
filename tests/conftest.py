"""Fixtures (the plain helpers they use are in support.py): the sandbox, started for each test that
asks for it, and the library's sample reports root."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ses_runbook.frontends.regenerate import FIXED_AS_OF, build_sample_history
from ses_runbook.sandbox.server import Sandbox, restore_env
from support import Running

# The CLI's sandbox keeps its S3 buckets between commands (a reports root must remember earlier
# runs); each test process keeps them in a folder of its own, never in the user's ~/.cache.
_S3_STATE = tempfile.mkdtemp(prefix="ses-runbook-test-s3-")
atexit.register(shutil.rmtree, _S3_STATE, True)
os.environ["SES_RUNBOOK_SANDBOX_S3"] = _S3_STATE


@pytest.fixture
def sandbox(request: pytest.FixtureRequest) -> Iterator[Running]:
    """The sandbox of one scenario, started for the test and stopped after it (one at a time per
    process: moto is per process), its endpoints in the environment while the test runs.

    Healthy at FIXED_AS_OF (the committed outputs' "now") unless the test says otherwise:
    ``@pytest.mark.parametrize("sandbox", [...], indirect=True)`` with a scenario's name or YAML
    file (support.SCENARIOS), or a ``(scenario, as_of)`` pair.
    """
    param = getattr(request, "param", "healthy")
    scenario, as_of = param if isinstance(param, tuple) else (param, FIXED_AS_OF)
    box = Sandbox(str(scenario), as_of=as_of).start()
    previous = box.apply_env()
    try:
        yield Running(box, str(scenario))
    finally:
        restore_env(previous)
        box.stop()


@pytest.fixture(scope="module")
def sample_history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The library's sample reports root, the one ``11_history``'s committed outputs read (built by a
    process of its own: it starts sandboxes one after the other)."""
    return build_sample_history(tmp_path_factory.mktemp("sample-history"))
