"""Run the notebooks headless with papermill into a report folder, several kernels at once.

The bundle: each executed ``.ipynb``; an HTML rendering of each without code cells (images
embedded, one file to attach to an incident); ``summary.json`` with every check of every
notebook; ``index.html`` linking them. A notebook that raises does not stop the others, and
a folder that was not finished says so (``INCOMPLETE`` file, ``"complete": false``).
"""
from __future__ import annotations

import html
import json
import os
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__, params as params_mod, plots
from .exceptions import NotebookError
from .results import Status, exit_code, read_recorded

if TYPE_CHECKING:
    from .params import Params

LIBRARIES = ("boto3", "botocore", "papermill", "nbconvert", "pandas", "matplotlib", "moto", "checkdmarc", "dnspython")


#: Where an installed package keeps its copies of the checkout's top-level folders (pyproject's
#: ``package-dir`` maps ``notebooks/`` and ``parameters/`` there when the wheel is built).
PACKAGE_DATA = Path(__file__).resolve().parent / "data"


def notebook_dir() -> Path:
    """Where the notebooks live: ``SES_RUNBOOK_NOTEBOOKS``, else the checkout's ``notebooks/``,
    else the copies inside the installed package (a wheel installed anywhere)."""
    env = os.environ.get("SES_RUNBOOK_NOTEBOOKS")
    candidates = [Path(env)] if env else []
    candidates += [Path(__file__).resolve().parents[2] / "notebooks", PACKAGE_DATA / "notebooks"]
    for candidate in candidates:
        if candidate.is_dir() and any(candidate.glob("[0-9][0-9]_*.ipynb")):
            return candidate
    raise NotebookError("no notebooks folder found; set SES_RUNBOOK_NOTEBOOKS to the folder holding the .ipynb files")


def parameters_dir() -> Path:
    """The parameter templates (``sandbox.yaml``, ``phenom.yaml``): the checkout's, else the package's."""
    for candidate in (Path(__file__).resolve().parents[2] / "parameters", PACKAGE_DATA / "parameters"):
        if candidate.is_dir() and any(candidate.glob("*.yaml")):
            return candidate
    raise NotebookError("no parameters folder found in the checkout or the installed package")


def available() -> list[Path]:
    return sorted(p for p in notebook_dir().glob("[0-9][0-9]_*.ipynb"))


def resolve_notebooks(names: list[str]) -> list[Path]:
    """Notebook paths from names (``00_health_check``, ``00``, or a file); all when none given."""
    books = available()
    if not names:
        return books
    out = []
    for name in names:
        stem = Path(name).stem
        match = [b for b in books if b.stem == stem or b.stem.split("_", 1)[0] == stem]
        if not match and Path(name).is_file():
            match = [Path(name)]
        if not match:
            raise NotebookError(f"unknown notebook '{name}'; allowed: {', '.join(b.stem for b in books)}")
        out.extend(m for m in match if m not in out)
    return out


def inspect_all() -> list[dict[str, Any]]:
    """Each notebook with its parameters and their help (papermill's ``inspect_notebook``)."""
    import nbformat
    import papermill

    entries = []
    for path in available():
        nb = nbformat.read(path, as_version=4)
        title = next((c.source.splitlines()[0].lstrip("# ") for c in nb.cells if c.cell_type == "markdown" and c.source), path.stem)
        parameters = [{"name": k, **{kk: str(vv) for kk, vv in v.items()}} for k, v in papermill.inspect_notebook(str(path)).items()]
        entries.append({"name": path.stem, "title": title, "parameters": parameters})
    return entries


@dataclass
class NotebookResult:
    name: str
    ipynb: str
    html: str | None = None
    checks: list[dict[str, Any]] = field(default_factory=list)
    aws_calls: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    duration_s: float = 0.0

    @property
    def worst(self) -> Status:
        if self.error:
            return Status.ERROR
        return Status.worst(Status(c["status"]) for c in self.checks)


@dataclass
class SuiteResult:
    out_dir: Path
    notebooks: list[NotebookResult]
    summary: dict[str, Any]

    @property
    def exit_code(self) -> int:
        return exit_code(Status(self.summary["worst"]))


def _default_out(label: str | None, root: str | Path) -> Path:
    """``ROOT/<UTC time>[-label]``: report folders and investigation folders are named alike."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    suffix = f"-{re.sub(r'[^A-Za-z0-9._-]+', '-', label)}" if label else ""
    return Path(root) / f"{stamp}{suffix}"


#: Parameters whose values are recipients' addresses: named in a banner, never shown.
_ADDRESS_PARAMETERS = ("test_recipient", "unsuppress")


def run_context(params: "Params", label: str | None, scenario: str | None) -> dict[str, Any]:
    """Who, when, which account (STS GetCallerIdentity), which parameters: the banner's facts."""
    import getpass
    import platform

    from .aws import Aws

    return {"label": label, "account": Aws(params).account_label(), "region": params.region,
            "as_of": params.as_of_datetime().strftime("%Y-%m-%d %H:%M:%S"),
            "operator": f"{getpass.getuser()}@{platform.node()}",
            "started": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "scenario": scenario, "version": __version__, "parameters": params_mod.changed(params)}


def banner_html(context: dict[str, Any]) -> str:
    """The first screen of every HTML page of a bundle: who ran what, when, against which account."""
    shown = {k: ("(set)" if k in _ADDRESS_PARAMETERS else v) for k, v in context.get("parameters", {}).items()}
    parameters = " ".join(f"{html.escape(k)}={html.escape(json.dumps(v))}" for k, v in sorted(shown.items()))
    scenario = context.get("scenario")
    return (f"label <b>{html.escape(context.get('label') or '-')}</b> · account {html.escape(context['account'])} · "
            f"region {html.escape(context['region'])} · as of {context['as_of']} UTC · "
            f"run by {html.escape(context['operator'])} at {context['started']} · ses-runbook {context['version']}"
            + (f" · sandbox scenario {html.escape(scenario)}" if scenario else "")
            + (f"<br><small>parameters (other than the defaults): {parameters}</small>" if parameters else ""))


def _kernel_name() -> str:
    """The project's kernel when registered, else the running interpreter's own."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec("ses-runbook")
        if Path(spec.argv[0]).resolve() == Path(sys.executable).resolve():
            return "ses-runbook"
    except NoSuchKernel:
        pass
    return "python3"


class KernelPool:
    """One kernel per job slot, reused from notebook to notebook.

    Starting a kernel and importing pandas, matplotlib and the package costs about two seconds
    of CPU per notebook; a slot pays it once. Between notebooks the kernel's namespace is reset
    (``%reset -f``), so a notebook sees only its own variables; a kernel whose notebook timed
    out or died is restarted before it is used again.
    """

    _RESET = ("get_ipython().run_line_magic('reset', '-f')\n"
              "__import__('os').chdir({cwd!r})\n"
              "get_ipython().execution_count = 1\n")

    def __init__(self, size: int, kernel_name: str, cwd: Path) -> None:
        import logging
        import queue

        # jupyter_client warns when a finished client's zmq context is collected; nothing is wrong.
        logging.getLogger("traitlets").addFilter(lambda record: "Could not destroy zmq context" not in record.getMessage())

        from jupyter_client.manager import KernelManager

        self._free: "queue.Queue[Any]" = queue.Queue()
        self._all = []
        for _ in range(size):
            km = KernelManager(kernel_name=kernel_name)
            # quiet about "TCP without encryption" on loopback; history in memory, as nbclient does for its kernels
            km.start_kernel(cwd=str(cwd), extra_arguments=["--log-level=ERROR", "--HistoryManager.hist_file=:memory:"])
            self._all.append(km)
            self._free.put(km)

    def acquire(self, cwd: Path) -> Any:
        km = self._free.get()
        if not km.is_alive():
            km.restart_kernel(now=True)
        # A fresh client each time: a client's sockets belong to the event loop of the notebook
        # run that created it, and nbclient runs each notebook on its own loop.
        client = km.client()
        client.start_channels()
        try:
            client.wait_for_ready(timeout=60)
            client.execute_interactive(self._RESET.format(cwd=str(cwd)), silent=True, store_history=False, timeout=60)
        finally:
            client.stop_channels()
        return km

    def release(self, km: Any, healthy: bool) -> None:
        if not healthy:
            km.restart_kernel(now=True)
        self._free.put(km)

    def shutdown(self) -> None:
        for km in self._all:
            try:
                km.shutdown_kernel(now=True)
            except Exception:  # noqa: BLE001 - already gone
                pass


def _execute(path: Path, out_dir: Path, parameters: dict[str, Any], kernels: KernelPool, timeout: int,
             banner: str) -> NotebookResult:
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    started = time.monotonic()
    output = out_dir / path.name
    result = NotebookResult(name=path.stem, ipynb=output.name)
    healthy = True
    km = kernels.acquire(path.parent)
    try:
        papermill.execute_notebook(str(path), str(output), parameters=parameters, kernel_name=km.kernel_name, km=km,
                                   language="python", progress_bar=False, log_output=False, execution_timeout=timeout)
    except PapermillExecutionError as exc:
        result.error = f"cell {exc.exec_count or exc.cell_index}: {exc.ename}: {exc.evalue}"
    except Exception as exc:  # noqa: BLE001 - a broken notebook must not stop the others
        result.error = f"{type(exc).__name__}: {exc}"
        healthy = False  # timed out or died: restart before the next notebook
    finally:
        kernels.release(km, healthy)
    result.duration_s = round(time.monotonic() - started, 2)
    if output.exists():
        render(nbformat.read(output, as_version=4), out_dir, banner, result)
    return result


def render(nb: Any, out_dir: Path, banner: str, result: NotebookResult) -> None:
    """An executed notebook into the bundle: its recorded checks and calls into ``result``, its HTML
    page, each figure as a PNG. The runner and ``export`` (an investigation folder) share it."""
    recorded = read_recorded(nb)
    result.checks = [{**c, "notebook": result.name} for c in recorded.get("checks", [])]
    result.aws_calls = recorded.get("aws_calls", {})
    result.html = _render_html(nb, out_dir / f"{result.name}.html", banner, result)
    plots.extract_pngs(nb, out_dir, result.name)  # each figure also as out_dir/STEM-N.png


def _render_html(nb: Any, target: Path, banner: str, result: NotebookResult) -> str:
    """Self-contained HTML without code cells, the run's context on the first screen."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True, embed_images=True)
    body, _ = exporter.from_notebook_node(nb)
    status = result.worst.value
    error = f"<p><b>notebook failed</b>: {html.escape(result.error)}</p>" if result.error else ""
    head = (f'<div style="font-family:sans-serif;border:2px solid #444;padding:8px;margin:8px">'
            f"<b>{html.escape(result.name)}</b> — worst status <b>{status}</b><br>{banner}{error}</div>")
    body = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + head, body, count=1)
    target.write_text(body, encoding="utf-8")
    return target.name


def _versions() -> dict[str, str]:
    out = {"ses-runbook": __version__, "python": sys.version.split()[0]}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def _sum_calls(results: list[NotebookResult]) -> dict[str, Any]:
    by_op: dict[str, int] = {}
    total = retries = writes = 0
    for r in results:
        calls = r.aws_calls or {}
        total += calls.get("total", 0)
        retries += calls.get("retries", 0)
        writes += calls.get("writes", 0)
        for op, n in calls.get("by_operation", {}).items():
            by_op[op] = by_op.get(op, 0) + n
    return {"total": total, "retries": retries, "writes": writes, "by_operation": dict(sorted(by_op.items()))}


def run_suite(params: "Params", notebooks: list[Path], out: str | Path | None = None, jobs: int = 2,
              label: str | None = None, timeout: int = 600, scenario: str | None = None,
              quiet: bool = False) -> SuiteResult:
    """Execute ``notebooks`` with ``params`` into a report folder; returns what ``summary.json`` holds."""
    out_dir = Path(out) if out else _default_out(label, "reports")
    out_dir.mkdir(parents=True, exist_ok=True)
    marker = out_dir / "INCOMPLETE"
    marker.write_text("this report folder is being written, or its run was interrupted\n")
    started = time.monotonic()
    context = run_context(params, label, scenario)
    started_at, account, operator = context["started"], context["account"], context["operator"]
    banner = banner_html(context)
    # Each notebook gets the values that differ from the model's defaults; a notebook whose cell does
    # not list one still takes it (papermill injects it, notebook.start validates it): no warning needed.
    _quiet_unknown_parameters()
    parameters = params_mod.changed(params)
    parameters["as_of"] = params.as_of_datetime().strftime("%Y-%m-%dT%H:%M:%SZ")  # every notebook judges the same moment
    kernel = _kernel_name()
    results: list[NotebookResult] = []
    progress = _progress(len(notebooks), quiet)
    slots = max(1, min(jobs, len(notebooks) or 1))
    kernels = KernelPool(slots, kernel, notebooks[0].parent if notebooks else Path.cwd())
    pool = ThreadPoolExecutor(max_workers=slots)
    futures = {pool.submit(_execute, nb, out_dir, parameters, kernels, timeout, banner): nb for nb in notebooks}
    interrupted = False
    try:
        for future in as_completed(futures):
            result = future.result()
            results.append(result)
            progress(result)
    except KeyboardInterrupt:
        interrupted = True
        pool.shutdown(wait=False, cancel_futures=True)
        _stop_kernels()
    pool.shutdown(wait=True)
    kernels.shutdown()
    done = {r.name for r in results}
    results += [NotebookResult(name=nb.stem, ipynb=nb.name, error="interrupted before it finished")
                for nb in notebooks if nb.stem not in done]
    results.sort(key=lambda r: r.name)
    checks = [c for r in results for c in r.checks]
    worst = Status.worst([Status(c["status"]) for c in checks] + [Status.ERROR for r in results if r.error])
    summary = {
        "run": {"as_of": parameters["as_of"], "started": started_at, "account": account, "region": params.region,
                "endpoint_url": params.endpoint_url or f"AWS ({params.region})", "label": label, "operator": operator,
                "scenario": scenario, "version": __version__, "versions": _versions(),
                "duration_s": round(time.monotonic() - started, 2), "aws_calls": _sum_calls(results),
                "parameters": params.public(), "complete": not interrupted},
        "notebooks": [{"name": r.name, "worst": r.worst.value, "ipynb": r.ipynb, "html": r.html, "error": r.error,
                       "checks": len(r.checks), "duration_s": r.duration_s} for r in results],
        "checks": checks,
        "worst": worst.value,
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    (out_dir / "index.html").write_text(_index_html(summary, banner), encoding="utf-8")
    if interrupted:
        marker.write_text("interrupted: the notebooks marked 'interrupted' did not finish\n")
        raise KeyboardInterrupt
    marker.unlink()
    if not quiet:
        _print_summary(summary, out_dir)
    return SuiteResult(out_dir=out_dir, notebooks=results, summary=summary)


def _unlisted(record: Any) -> bool:
    return not str(record.msg).startswith("Passed unknown parameter")


def _quiet_unknown_parameters() -> None:
    """papermill logs a warning for each value a notebook's cell does not list; the runner passes
    such values on purpose (every notebook accepts every parameter), so they are not news."""
    import logging

    log = logging.getLogger("papermill")
    if _unlisted not in log.filters:
        log.addFilter(_unlisted)


def _stop_kernels() -> None:
    """Ctrl-C reaches the kernels too, but a kernel treats it as 'interrupt the cell', not 'exit':
    end every child process of ours (the kernels papermill started) so nothing is left behind."""
    import signal

    me = os.getpid()
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == me:
            children.append(int(stat.parent.name))
    for pid in children:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.monotonic() + 5
    while children and time.monotonic() < deadline:
        children = [pid for pid in children if Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)]
        time.sleep(0.1)
    for pid in children:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def _progress(total: int, quiet: bool):
    if quiet:
        return lambda r: None
    from tqdm import tqdm

    bar = tqdm(total=total, desc="notebooks", unit="nb", file=sys.stderr, leave=True, dynamic_ncols=True)

    def update(result: NotebookResult) -> None:
        bar.set_postfix_str(f"{result.name}: {result.worst.value}")
        bar.update(1)
        if bar.n >= total:
            bar.close()

    return update


def _index_html(summary: dict[str, Any], banner: str) -> str:
    from .notebook import status_badge

    rows = "".join(
        f"<tr><td>{status_badge(n['worst'])}</td><td><a href='{html.escape(n['html'] or n['ipynb'])}'>{html.escape(n['name'])}</a></td>"
        f"<td>{n['checks']}</td><td>{n['duration_s']} s</td><td><a href='{html.escape(n['ipynb'])}'>ipynb</a></td>"
        f"<td>{html.escape(n['error'] or '')}</td></tr>" for n in summary["notebooks"])
    checks = "".join(f"<tr><td>{status_badge(c['status'])}</td><td>{html.escape(c['id'])}</td><td>{html.escape(c['notebook'])}</td>"
                     f"<td>{html.escape(c['summary'])}</td></tr>" for c in summary["checks"] if c["status"] != "ok")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>SES runbook report {html.escape(summary['run']['label'] or '')}</title>"
            "<style>body{font-family:sans-serif;margin:16px}td,th{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left}</style></head><body>"
            f"<h1>SES runbook report</h1><p>{banner}</p><p>worst status: {status_badge(summary['worst'])} · "
            f"{summary['run']['aws_calls']['total']} AWS calls · {summary['run']['duration_s']} s</p>"
            f"<table><tr><th>status</th><th>notebook</th><th>checks</th><th>time</th><th>source</th><th>error</th></tr>{rows}</table>"
            f"<h2>Checks that need attention</h2><table><tr><th>status</th><th>check</th><th>notebook</th><th>finding</th></tr>"
            f"{checks or '<tr><td colspan=4>none</td></tr>'}</table></body></html>")


def _print_summary(summary: dict[str, Any], out_dir: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    from .report_text import STYLE

    console = Console(highlight=False)
    table = Table(title="ses-runbook run")
    for column in ("status", "notebook", "checks", "time", "error"):
        table.add_column(column)
    for n in summary["notebooks"]:
        status = Status(n["worst"])
        table.add_row(f"[{STYLE[status]}]{status.value}[/]", n["name"], str(n["checks"]), f"{n['duration_s']} s", n["error"] or "")
    console.print(table)
    console.print(f"worst: {summary['worst']} · report: {out_dir / 'index.html'}")
