"""Re-execute every notebook in place against the sandbox at a fixed ``as_of``: the committed outputs.

``make notebooks`` runs this. The ``parameters`` cell is rewritten from the parameter model
first, so the notebooks and ``params.py`` cannot drift apart; nbval then compares a fresh run
with these outputs (tests/test_notebooks.py).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from ses_runbook.core.errors import SandboxError
from ses_runbook.frontends.sandboxing import sandbox_imports, says_what_to_install
from ses_runbook.runs.notebook import parameters_source
from ses_runbook.runs.runner import available, resolve_notebooks

FIXED_AS_OF = "2026-11-01T00:00:00Z"  # the world's "now" of the committed outputs (the tests import it)


def refresh_parameters(nb, notebook: str) -> bool:
    """Replace the ``parameters`` cell's source by the model's rendering for ``notebook``; True if it changed."""
    for cell in nb.cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            new = parameters_source(notebook)
            changed = cell.source != new
            cell.source = new
            return changed
    raise ValueError("notebook has no cell tagged 'parameters'")


def execute_in_place(path: Path, timeout: int = 600) -> None:
    # deferred: nbformat validates with jsonschema (0.2 s): only when a notebook is read
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    refresh_parameters(nb, path.stem)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)  # run times: noise in every diff
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        record_timing=False,
        extra_arguments=["--log-level=ERROR"],
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    nb.metadata["kernelspec"] = {"name": "ses-runbook", "display_name": "Python (ses-runbook)", "language": "python"}
    nb.metadata.pop("papermill", None)
    nbformat.write(nb, path)


def build_sample_history(folder: Path) -> Path:
    """``python -m ses_runbook.frontends.samplehistory``: runs at fixed as_of values, in a process of its own
    (it starts sandboxes, and one already runs here)."""

    subprocess.run(
        [sys.executable, "-m", "ses_runbook.frontends.samplehistory", str(folder)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return folder


@says_what_to_install
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ses_runbook.frontends.regenerate", description=__doc__)
    parser.add_argument("notebooks", nargs="*", help="names (default: all)")
    parser.add_argument("--as-of", default=FIXED_AS_OF, help=f"the sandbox world's fixed now (default {FIXED_AS_OF})")
    args = parser.parse_args(argv)
    with sandbox_imports():
        from ses_runbook.sandbox.server import DEFAULT_PORTS, Sandbox, restore_env

    paths = resolve_notebooks(args.notebooks) if args.notebooks else available()
    state_dir = (
        Path(tempfile.gettempdir()) / "ses-runbook-sandbox-regenerate"
    )  # fixed path and ports: byte-stable outputs
    if any(p.stem == "11_history" for p in paths):  # it reads a reports root: the library's sample one
        os.environ["SES_RUNBOOK_REPORTS_ROOT"] = str(
            build_sample_history(Path(tempfile.gettempdir()) / "ses-runbook-sample-history")
        )
    box = Sandbox("healthy", as_of=args.as_of, ports=dict(DEFAULT_PORTS), state_dir=state_dir)
    try:
        box.start()
    except (SandboxError, SystemExit):  # werkzeug exits when its port is taken
        box.stop()
        box = Sandbox("healthy", as_of=args.as_of).start()  # a sandbox already runs there; nbval sanitizes ports
    previous = box.apply_env()
    os.environ["SES_RUNBOOK_AS_OF"] = args.as_of
    try:
        for path in paths:
            print(f"executing {path.name} against the sandbox (as_of {args.as_of})", file=sys.stderr)
            execute_in_place(path)
    finally:
        os.environ.pop("SES_RUNBOOK_AS_OF", None)
        os.environ.pop("SES_RUNBOOK_REPORTS_ROOT", None)
        restore_env(previous)
        box.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
