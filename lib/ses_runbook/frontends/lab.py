"""``ses-runbook lab``: JupyterLab on an investigation folder; ``ses-runbook export``: that folder as a report.

An interactive session never edits the templates: ``create_investigation`` copies the notebooks
into ``investigations/<UTC time>[-label]/`` with the parameters injected the way papermill injects
them (``parameterize_notebook``: a cell tagged ``injected-parameters`` after the ``parameters``
cell), and JupyterLab is rooted there, on loopback, with the running interpreter as the
``Python (ses-runbook)`` kernel. ``investigation.json`` keeps who opened it, when, against which
account and with which parameters, so ``export`` can put the same banner on the HTML as a
scheduled report has.

JupyterLab runs in its own session (process group): Ctrl-C and SIGTERM reach only this process,
which stops JupyterLab (it shuts its kernels down), then anything of its process tree still
alive, then the sandbox.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ses_runbook.core import context as context_mod
from ses_runbook.core import files, foreign
from ses_runbook.core import params as params_mod
from ses_runbook.core.aws import Aws
from ses_runbook.core.errors import NotebookError
from ses_runbook.core.foreign import expect
from ses_runbook.runs import bundle
from ses_runbook.runs.runner import (
    NotebookResult,
    available,
    banner_html,
    default_out,
    index_html,
    render,
    summary_of,
)

if TYPE_CHECKING:
    from ses_runbook.core.params import Params

INVESTIGATIONS = Path("investigations")
CONTEXT_FILE = "investigation.json"
KERNEL_NAME = "ses-runbook"
KERNEL_DISPLAY_NAME = "Python (ses-runbook)"
KERNELSPEC = {"name": KERNEL_NAME, "display_name": KERNEL_DISPLAY_NAME, "language": "python"}


def create_investigation(
    params: Params,
    label: str | None = None,
    out: str | Path | None = None,
    scenario: str | None = None,
    notebooks: Sequence[Path] | None = None,
) -> Path:
    """Copy the notebooks into a new investigation folder with ``params`` injected; returns the folder.

    The copies start without outputs (the templates' are the sandbox's regression baseline, which an
    on-call reader must not take for findings). The injected values are those that differ from the
    model's defaults (what papermill would be given); STS GetCallerIdentity names the account.
    """
    # deferred: nbformat validates with jsonschema (0.2 s): only when a notebook is read
    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    folder = Path(out) if out else default_out(label, INVESTIGATIONS)
    if folder.exists() and any(folder.iterdir()):
        raise NotebookError(
            f"investigation folder '{folder}' already exists and is not empty; choose another --out or --label"
        )
    folder.mkdir(parents=True, exist_ok=True)
    values = params_mod.changed(params)
    for path in notebooks if notebooks is not None else available():
        nb = load_notebook_node(str(path))  # as papermill reads an input: every cell has its tags list
        for cell in nb.cells:  # the committed outputs are the sandbox's regression baseline, not findings
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        if values:
            nb = parameterize_notebook(nb, values, kernel_name=KERNEL_NAME, language="python")
        nb.metadata["kernelspec"] = dict(KERNELSPEC)
        nbformat.write(nb, folder / path.name)
    context = context_mod.run_block(params, Aws(params), label=label, scenario=scenario)
    (folder / CONTEXT_FILE).write_text(json.dumps(context, indent=2, default=str) + "\n", encoding="utf-8")
    return folder


def _kernel_path() -> Path:
    """A private Jupyter data folder whose ``ses-runbook`` kernel is this interpreter (put first on
    JUPYTER_PATH), so the kernel works wherever the package is installed, registered or not."""
    # deferred: ipykernel: only inside a kernel
    from ipykernel.kernelspec import write_kernel_spec

    root = Path(tempfile.mkdtemp(prefix="ses-runbook-lab-"))
    write_kernel_spec(root / "kernels" / KERNEL_NAME, overrides={"display_name": KERNEL_DISPLAY_NAME})
    return root


def jupyter_command(folder: Path, port: int | None = None, extra: Sequence[str] = ()) -> list[str]:
    """The JupyterLab command line: loopback only, rooted at the investigation, our kernel by default.
    Never the token: a command line is visible to every user of the machine (``ps``); ``serve``
    hands it over in the environment (``JUPYTER_TOKEN``), which only the user and root can read."""
    args = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--ip=127.0.0.1",
        f"--ServerApp.root_dir={folder.resolve()}",
        f"--MappingKernelManager.default_kernel_name={KERNEL_NAME}",
    ]
    if port is not None:  # 0: a free port the OS picks, bound at once (nothing can take it in between)
        args += [f"--port={port}", "--ServerApp.port_retries=0"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")  # containers and CI images often run as root
    return args + list(extra)


def _tree(pid: int) -> list[Any]:
    # deferred: psutil is part of the lab extra: only JupyterLab sessions have it
    import psutil

    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def stop(proc: subprocess.Popen, grace_s: float = 15.0) -> None:
    """Stop JupyterLab and everything it started: SIGTERM to its process group (the server shuts its
    kernels down), then SIGTERM and SIGKILL to whatever of its tree outlived it (kernels run in
    sessions of their own, so the group signal alone does not reach them)."""
    # deferred: psutil is part of the lab extra: only JupyterLab sessions have it
    import psutil

    tree = _tree(proc.pid)
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
    left = []
    for p in tree:
        try:
            if p.status() != psutil.STATUS_ZOMBIE:
                p.terminate()
                left.append(p)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(left, timeout=5)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass


def serve(folder: Path, port: int | None = None, token: str | None = None, extra: Sequence[str] = ()) -> int:
    """Run JupyterLab on ``folder`` until it exits, Ctrl-C or SIGTERM; always leaves nothing running."""
    kernels = _kernel_path()
    env = {
        **os.environ,
        "JUPYTER_PATH": os.pathsep.join([str(kernels), *filter(None, [os.environ.get("JUPYTER_PATH")])]),
    }
    if token is not None:
        env["JUPYTER_TOKEN"] = token  # jupyter_server's IdentityProvider reads it; never on the command line
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    proc = None
    try:
        proc = subprocess.Popen(jupyter_command(folder, port, extra), cwd=folder, env=env, start_new_session=True)
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second signal must not cut the clean-up short
        try:
            if proc is not None:
                stop(proc)
        finally:
            shutil.rmtree(kernels, ignore_errors=True)
            signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


# -- export ------------------------------------------------------------------------------------
def export(folder: str | Path, out: str | Path | None = None) -> dict[str, Any]:
    """Render an investigation folder's executed notebooks as the runner's bundle: one self-contained
    HTML page per notebook (same banner), figures as PNG, ``index.html`` and ``summary.json``."""
    # deferred: nbformat validates with jsonschema (0.2 s): only when a notebook is read
    import nbformat

    folder = Path(folder)
    context_file = folder / CONTEXT_FILE
    if not context_file.is_file():
        raise NotebookError(
            f"'{folder}' is not an investigation folder (no {CONTEXT_FILE}); create one with ses-runbook lab"
        )
    try:  # the folder may be a teammate's: its context is read as foreign data
        context = expect(foreign.read_json(files.read_capped(context_file, foreign.MAX_BYTES), CONTEXT_FILE), dict)
    except ValueError:
        context = None
    if context is None or not all(
        isinstance(context.get(k), str) for k in ("account", "region", "as_of", "started", "version")
    ):
        raise NotebookError(f"'{context_file}' is not an investigation's context; not exported")
    out_dir = files.new_folder(out, "--out") if out else folder
    results: list[NotebookResult] = []
    for path in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        if not any(c.get("execution_count") for c in nb.cells if c.cell_type == "code"):
            continue  # opened but never run: nothing to show
        result = NotebookResult(name=path.stem, ipynb=os.path.relpath(path, out_dir))
        errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
        if errors:
            result.error = f"{errors[0].get('ename')}: {errors[0].get('evalue')}"
        bundle.sanitize_notebook(nb)  # a teammate's outputs: no script, nothing loaded from elsewhere
        render(nb, out_dir, banner_html(context), result)
        results.append(result)
    if not results:
        raise NotebookError(f"no executed notebook in '{folder}'; run one in JupyterLab first")
    summary = summary_of(
        context,
        results,
        0,  # an interactive session has no run time of its own
        exported=context_mod.stamp(datetime.now(timezone.utc)),
        complete=True,
        interactive=True,
    )
    files.write_text(out_dir / "summary.json", json.dumps(summary, indent=2, default=str))
    index_page = index_html(summary, banner_html(context))
    files.write_text(out_dir / "index.html", index_page)
    bundle.write_report_html(out_dir, summary, index_page)  # one file to attach, as a run's bundle has
    return summary
