"""Run the notebooks headless with papermill into a report folder, several kernels at once.

The bundle: each executed ``.ipynb``; an HTML rendering of each without code cells (images
embedded, one file to attach to an incident); ``summary.json`` with every check of every
notebook; ``metrics.prom`` (Prometheus) and ``junit.xml`` (CI test reports) of the same checks
(``runs/exports.py``); ``index.html`` linking them. A notebook that raises does not stop the others, and
a folder that was not finished says so (``INCOMPLETE`` file, ``"complete": false``).
"""

from __future__ import annotations

import html
import json
import logging
import os
import queue
import re
import signal
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ses_runbook.core import context as context_mod
from ses_runbook.core import files
from ses_runbook.core import params as params_mod
from ses_runbook.core.aws import Aws
from ses_runbook.core.display import status_badge
from ses_runbook.core.errors import NotebookError
from ses_runbook.core.results import Status, exit_code, read_recorded
from ses_runbook.runs import bundle, exports, history, plots
from ses_runbook.runs.ipykernel_launcher import kernel_flags
from ses_runbook.runs.report_text import STYLE

if TYPE_CHECKING:
    from ses_runbook.core.params import Params

# The papermill engine of runs/engine.py, under the name pyproject's ``papermill.engine`` entry point gives it.
ENGINE = "ses-runbook"


#: Where an installed package keeps its copies of the checkout's top-level folders (pyproject's
#: ``package-dir`` maps ``notebooks/`` and ``parameters/`` there when the wheel is built).
PACKAGE_DATA = Path(__file__).resolve().parents[1] / "data"


def notebook_dir() -> Path:
    """Where the notebooks live: ``SES_RUNBOOK_NOTEBOOKS``, else the checkout's ``notebooks/``,
    else the copies inside the installed package (a wheel installed anywhere)."""
    env = os.environ.get("SES_RUNBOOK_NOTEBOOKS")
    candidates = [Path(env)] if env else []
    candidates += [Path(__file__).resolve().parents[3] / "notebooks", PACKAGE_DATA / "notebooks"]
    for candidate in candidates:
        if candidate.is_dir() and any(candidate.glob("[0-9][0-9]_*.ipynb")):
            return candidate
    raise NotebookError("no notebooks folder found; set SES_RUNBOOK_NOTEBOOKS to the folder holding the .ipynb files")


def parameters_dir() -> Path:
    """The parameter templates (``sandbox.yaml``, ``phenom.yaml``): the checkout's, else the package's."""
    for candidate in (Path(__file__).resolve().parents[3] / "parameters", PACKAGE_DATA / "parameters"):
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
    out: list[Path] = []
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
    # deferred: nbformat validates with jsonschema (0.2 s): only when a notebook is read
    import nbformat
    import papermill

    entries = []
    for path in available():
        nb = nbformat.read(path, as_version=4)
        title = next(
            (c.source.splitlines()[0].lstrip("# ") for c in nb.cells if c.cell_type == "markdown" and c.source),
            path.stem,
        )
        parameters = [
            {"name": k, **{kk: str(vv) for kk, vv in v.items()}}
            for k, v in papermill.inspect_notebook(str(path)).items()
        ]
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


def default_out(label: str | None, root: str | Path) -> Path:
    """``ROOT/<UTC time>[-label]``: report folders and investigation folders are named alike."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    suffix = f"-{re.sub(r'[^A-Za-z0-9._-]+', '-', label)}" if label else ""
    return Path(root) / f"{stamp}{suffix}"


def _unused(path: Path) -> Path:
    """``path``, or ``path-2``, ``path-3`` ... when a run of the same second and label has it."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate


#: Parameters whose values are recipients' addresses: named in a banner, never shown.
_ADDRESS_PARAMETERS = ("test_recipient", "unsuppress")


def banner_html(context: dict[str, Any]) -> str:
    """The first screen of every HTML page of a bundle: who ran what, when, against which account
    (a ``core.context`` block; of its parameters, those other than the defaults)."""
    changed = params_mod.differing(context.get("parameters") or {})
    shown = {k: ("(set)" if k in _ADDRESS_PARAMETERS else v) for k, v in changed.items()}
    parameters = " ".join(f"{html.escape(k)}={html.escape(json.dumps(v))}" for k, v in sorted(shown.items()))
    scenario = context.get("scenario")
    operator = "@".join(filter(None, (context.get("operator"), context.get("host"))))
    elsewhere = context_mod.not_aws(context.get("endpoint_url"))
    return (
        (f"<b style='color:#cf222e'>{html.escape(elsewhere)}</b><br>" if elsewhere else "")
        + f"label <b>{html.escape(context.get('label') or '-')}</b> · account {html.escape(str(context['account']))} · "
        f"region {html.escape(context['region'])} · as of {html.escape(context_mod.readable(context['as_of']))} UTC · "
        f"run by {html.escape(operator)} at {html.escape(str(context['started']))} · "
        f"ses-runbook {html.escape(str(context['version']))}"
        + (f" · sandbox scenario {html.escape(scenario)}" if scenario else "")
        + (f"<br><small>parameters (other than the defaults): {parameters}</small>" if parameters else "")
    )


def _kernel_name() -> str:
    """The project's kernel when registered, else the running interpreter's own."""
    # deferred: jupyter_client and zmq: only when kernels start
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec("ses-runbook")
        if Path(spec.argv[0]).resolve() == Path(sys.executable).resolve():
            return "ses-runbook"
    except NoSuchKernel:
        pass
    return "python3"


KERNEL_START_ATTEMPTS = 3
KERNEL_READY_TIMEOUT_S = 60


def _ready(km: Any) -> bool:
    """Whether a just-started kernel answers (``kernel_info``); False when it died on the way."""
    # deferred: jupyter_client and zmq: only when kernels start
    from jupyter_client.blocking import BlockingKernelClient

    client = BlockingKernelClient()
    client.load_connection_info(km.get_connection_info())
    client.start_channels()
    try:
        client.wait_for_ready(timeout=KERNEL_READY_TIMEOUT_S)
        return True
    except RuntimeError:
        return False
    finally:
        client.stop_channels()


class KernelPool:
    """One kernel per job slot, reused from notebook to notebook.

    Starting a kernel and importing pandas, matplotlib and the package costs about two seconds
    of CPU per notebook; a slot pays it once. Between notebooks the kernel's namespace is reset
    (``%reset -f``), so a notebook sees only its own variables; a kernel whose notebook timed
    out or died is replaced by a new one (new ports) before its slot is used again.

    Kernels start in the worker threads, on first use: the main thread only waits for results,
    so a Ctrl-C always lands where ``run_suite`` handles it. ``stop`` ends every kernel through
    jupyter_client (a signal to its process group: the kernel and whatever it started), which
    works the same on Linux and macOS.
    """

    _RESET = (
        "get_ipython().run_line_magic('reset', '-f')\n"
        "__import__('os').chdir({cwd!r})\n"
        "get_ipython().execution_count = 1\n"
    )

    def __init__(self, size: int, kernel_name: str, cwd: Path) -> None:
        # jupyter_client warns when a finished client's zmq context is collected; nothing is wrong.
        logging.getLogger("traitlets").addFilter(
            lambda record: "Could not destroy zmq context" not in record.getMessage()
        )

        self._kernel_name = kernel_name
        self._cwd = cwd
        self._free: queue.Queue[Any] = queue.Queue()
        self._all: list[Any] = []
        self._lock = threading.Lock()
        self._stopped = False
        for _ in range(size):
            self._free.put(None)  # a slot whose kernel is not started yet

    def _start(self) -> tuple[Any, bool]:
        """A new kernel, and whether it has answered ``kernel_info`` (the last attempt is not asked:
        its first notebook waits for it)."""
        # deferred: jupyter_client and zmq: only when kernels start
        from jupyter_client.manager import KernelManager

        # nbclient gets asynchronous clients from it (its own default): a blocking client would wait
        # forever for the output of a kernel that was killed, an asynchronous one notices within a second.
        arguments = ["--log-level=ERROR", "--HistoryManager.enabled=False"]
        for attempt in range(KERNEL_START_ATTEMPTS):
            km = KernelManager(
                kernel_name=self._kernel_name, client_class="jupyter_client.asynchronous.AsyncKernelClient"
            )
            spec = km.kernel_spec
            if spec is not None and Path(spec.argv[0]).resolve() == Path(sys.executable).resolve():
                spec.argv = [
                    sys.executable,
                    *kernel_flags(),
                    "-m",
                    "ses_runbook.runs.ipykernel_launcher",
                    "-f",
                    "{connection_file}",
                ]
            # quiet about "TCP without encryption" on loopback; no input history (nobody scrolls back in a headless run)
            # the run's parameters are resolved and passed to each notebook: the kernel does not fill them
            # again from SES_RUNBOOK_* variables (a parameter file's explicit null stays null)
            km.start_kernel(cwd=str(self._cwd), extra_arguments=arguments, env=params_mod.kernel_environ(os.environ))
            answered = attempt < KERNEL_START_ATTEMPTS - 1 and _ready(km)
            if answered or attempt == KERNEL_START_ATTEMPTS - 1:
                break
            # jupyter_client picks free ports before the kernel binds them: another process (a
            # sandbox, another run) can take one in between, and the kernel dies. New ports, again.
            km.shutdown_kernel(now=True)
        with self._lock:
            self._all.append(km)
            stopped = self._stopped
        if stopped:  # interrupted while this kernel was starting
            self._kill(km)
            raise KeyboardInterrupt
        return km, answered

    def acquire(self, cwd: Path) -> Any:
        km = self._free.get()
        if self._stopped:
            raise KeyboardInterrupt
        if km is not None and not km.is_alive():
            self._retire(km)
            km = None
        answered = True  # a kernel back from an earlier notebook
        if km is None:
            km, answered = self._start()
        # A fresh client each time: a client's sockets belong to the event loop of the notebook
        # run that created it, and nbclient runs each notebook on its own loop.
        # deferred: jupyter_client and zmq: only when kernels start
        from jupyter_client.blocking import BlockingKernelClient

        client = BlockingKernelClient(
            **km.get_connection_info(session=True), connection_file=km.connection_file, parent=km
        )
        client.start_channels()
        try:
            if not answered:  # wait_for_ready also drains IOPub for 0.2 s: only for a kernel that has not answered yet
                client.wait_for_ready(timeout=60)
            client.execute_interactive(self._RESET.format(cwd=str(cwd)), silent=True, store_history=False, timeout=60)
        finally:
            client.stop_channels()
        return km

    def release(self, km: Any, healthy: bool) -> None:
        if not healthy and not self._stopped:
            self._retire(km)
            km = None  # the next notebook in this slot starts a new kernel
        self._free.put(km)

    def _retire(self, km: Any) -> None:
        """End a kernel that died or hung. Its slot gets a new kernel, started as the first was (new
        ports, checked): a restart would bind the old ports again, which another process may hold by now."""
        try:
            km.shutdown_kernel(now=True)
        except Exception:  # noqa: BLE001 - already gone
            pass
        with self._lock:
            if km in self._all:
                self._all.remove(km)

    def stop(self) -> None:
        """Ctrl-C: kill every kernel now (its process group included); nothing restarts after this.

        A kernel would take SIGINT as "interrupt the cell", not "exit", and kernels run in their own
        session, so the terminal's Ctrl-C does not reach them: the pool ends them itself. The
        notebooks running in them then fail with a dead kernel and their threads return.
        """
        with self._lock:
            self._stopped = True
            started = list(self._all)
        for km in started:
            self._kill(km)

    @staticmethod
    def _kill(km: Any) -> None:
        try:
            if km.has_kernel:
                km.signal_kernel(getattr(signal, "SIGKILL", signal.SIGTERM))
        except Exception:  # noqa: BLE001 - already gone
            pass

    def shutdown(self) -> None:
        with self._lock:
            started = list(self._all)
        for km in started:
            try:
                km.shutdown_kernel(now=True)  # reaps the process and removes its connection file
            except Exception:  # noqa: BLE001 - already gone
                pass


def _execute(
    path: Path, out_dir: Path, parameters: dict[str, Any], kernels: KernelPool, timeout: int, banner: str
) -> NotebookResult:
    # deferred: nbformat validates with jsonschema (0.2 s): only when a notebook is read
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    started = time.monotonic()
    output = out_dir / path.name
    result = NotebookResult(name=path.stem, ipynb=output.name)
    healthy = True
    km = kernels.acquire(path.parent)
    try:
        papermill.execute_notebook(
            str(path),
            str(output),
            parameters=parameters,
            kernel_name=km.kernel_name,
            km=km,
            language="python",
            progress_bar=False,
            log_output=False,
            execution_timeout=timeout,
            engine_name=ENGINE,
        )
    except PapermillExecutionError as exc:
        result.error = f"cell {exc.exec_count or exc.cell_index}: {exc.ename}: {exc.evalue}"
    except Exception as exc:  # noqa: BLE001 - a broken notebook must not stop the others
        result.error = f"{type(exc).__name__}: {exc}"
        healthy = False  # timed out or died: a new kernel for the next notebook
    finally:
        kernels.release(km, healthy)
    result.duration_s = round(time.monotonic() - started, 2)
    if output.exists():
        render(nbformat.read(output, as_version=4), out_dir, banner, result)
    return result


_EXPORTER_LOCK = threading.Lock()
_EXPORTER: list[Any] = []


def _export_html(nb: Any) -> str:
    """The notebook's HTML body, from one exporter per process (its templates and filters load and
    compile once: 0.8 s of CPU, eight times what a page takes); pages are rendered one at a time."""
    with _EXPORTER_LOCK:
        if not _EXPORTER:
            _EXPORTER.append(
                bundle.html_exporter(
                    exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True, embed_images=True
                )
            )
        body, _ = _EXPORTER[0].from_notebook_node(nb)
    return body


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
    body = _export_html(nb)
    status = result.worst.value
    error = f"<p><b>notebook failed</b>: {html.escape(result.error)}</p>" if result.error else ""
    head = (
        f'<div style="font-family:sans-serif;border:2px solid #444;padding:8px;margin:8px">'
        f"<b>{html.escape(result.name)}</b> — worst status <b>{status}</b><br>{banner}{error}</div>"
    )
    body = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + head, body, count=1)
    files.write_text(target, body)
    return target.name


def summary_of(run: dict[str, Any], results: list[NotebookResult], duration_s: float, **extra: Any) -> dict[str, Any]:
    """What ``summary.json`` holds, for a run and for an export of an investigation alike: the
    ``run`` block (the ``core.context`` block the banner showed, its duration, its AWS calls added
    to those the notebooks recorded, then ``extra``: ``complete``...), each notebook, every check
    and the worst status."""
    checks = [c for r in results for c in r.checks]
    worst = Status.worst([Status(c["status"]) for c in checks] + [Status.ERROR for r in results if r.error])
    block = context_mod.complete_block(run)
    block["duration_s"] = round(duration_s, 3)
    block["aws_calls"] = context_mod.add_calls(run.get("aws_calls"), *(r.aws_calls for r in results))
    return {
        "run": {**block, **extra},
        "notebooks": [
            {
                "name": r.name,
                "worst": r.worst.value,
                "ipynb": r.ipynb,
                "html": r.html,
                "error": r.error,
                "checks": len(r.checks),
                "duration_s": r.duration_s,
            }
            for r in results
        ],
        "checks": checks,
        "worst": worst.value,
    }


def run_suite(
    params: Params,
    notebooks: list[Path],
    out: str | Path | None = None,
    jobs: int = 2,
    label: str | None = None,
    timeout: int = 600,
    scenario: str | None = None,
    quiet: bool = False,
    previous: dict[str, Any] | None = None,
    account: str | None = None,
) -> SuiteResult:
    """Execute ``notebooks`` with ``params`` into a report folder; returns what ``summary.json`` holds.

    ``previous`` (runs into a reports root): ``{"path", "href", "summary"}`` of the run before this
    one, or ``{}`` when there is none; the index then opens with what changed since it."""
    # --out names a new or empty folder (one holding files is refused); the default is always new
    out_dir = files.new_folder(out) if out else files.new_folder(_unused(default_out(label, "reports")))
    marker = out_dir / "INCOMPLETE"
    files.write_text(marker, "this report folder is being written, or its run was interrupted\n")
    started = time.monotonic()
    # who, when, which account (STS GetCallerIdentity unless the caller knows it): the banner's facts
    context = context_mod.run_block(
        params, None if account else Aws(params), label=label, scenario=scenario, account=account or None
    )
    banner = banner_html(context)
    # Each notebook gets the values that differ from the model's defaults; a notebook whose cell does
    # not list one still takes it (papermill injects it, notebook.start validates it): no warning needed.
    _quiet_unknown_parameters()
    parameters = params_mod.changed(params)
    parameters["as_of"] = context["as_of"]  # every notebook judges the moment the summary names
    kernel = _kernel_name()
    results: list[NotebookResult] = []
    progress = _progress(len(notebooks), quiet)
    slots = max(1, min(jobs, len(notebooks) or 1))
    kernels = KernelPool(slots, kernel, notebooks[0].parent if notebooks else Path.cwd())
    pool = ThreadPoolExecutor(max_workers=slots)
    # Longest first, so the slots finish together instead of one waiting on a long notebook that
    # started last; a notebook's committed size (its figures and tables) is a fair guess at its cost.
    longest_first = sorted(notebooks, key=lambda nb: nb.stat().st_size if nb.exists() else 0, reverse=True)
    # A run into a reports root runs 11_history last, once this run's own summary is there to read,
    # so the history it shows ends with this run (the other notebooks' checks; "complete": false; a
    # folder root: an S3 root shows the run once it is published).
    last = [nb for nb in longest_first if nb.stem == HISTORY_NOTEBOOK] if previous is not None else []
    interrupted = False
    try:
        submit = lambda nb: pool.submit(_execute, nb, out_dir, parameters, kernels, timeout, banner)  # noqa: E731
        pending = {submit(nb) for nb in longest_first if nb not in last}
        while pending or last:
            if not pending:
                provisional = summary_of(context, results, time.monotonic() - started, complete=False)
                _write_summary(out_dir, {**provisional, **_judged(provisional, params)})
                pending, last = {submit(nb) for nb in last}, []
                continue
            # A timed wait: Ctrl-C may be delivered to any thread, and only a main thread that wakes
            # up now and then runs Python's handler (an untimed wait sleeps until a notebook ends).
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for future in done:
                result = future.result()
                results.append(result)
                progress(result)
    except KeyboardInterrupt:
        interrupted = True
        pool.shutdown(wait=False, cancel_futures=True)
        kernels.stop()
    pool.shutdown(wait=True)
    kernels.shutdown()
    finished = {r.name for r in results}
    results += [
        NotebookResult(name=nb.stem, ipynb=nb.name, error="interrupted before it finished")
        for nb in notebooks
        if nb.stem not in finished
    ]
    results.sort(key=lambda r: r.name)
    summary = summary_of(context, results, time.monotonic() - started, complete=not interrupted)
    summary.update(_judged(summary, params))
    if previous is not None:
        summary["changes"] = (
            history.changes(previous["summary"], summary, previous["path"], previous["href"]) if previous else None
        )
    _write_summary(out_dir, summary)
    exports.write_metrics(out_dir, summary)  # for node_exporter's textfile collector
    exports.write_junit(out_dir, summary)  # for a CI system's test report
    index_page = index_html(summary, banner)
    files.write_text(out_dir / "index.html", index_page)
    bundle.write_report_html(out_dir, summary, index_page)
    if interrupted:
        files.write_text(marker, "interrupted: the notebooks marked 'interrupted' did not finish\n")
        raise KeyboardInterrupt
    marker.unlink()
    if not quiet:
        _print_summary(summary, out_dir)
    return SuiteResult(out_dir=out_dir, notebooks=results, summary=summary)


HISTORY_NOTEBOOK = "11_history"


def _judged(summary: dict[str, Any], params: Params) -> dict[str, Any]:
    """The key figures of a summary and the levels they were judged against (what history reads)."""
    return {"figures": history.figures(summary["checks"], summary["run"]), "thresholds": history.thresholds(params)}


def _write_summary(out_dir: Path, summary: dict[str, Any]) -> None:
    files.write_text(out_dir / "summary.json", json.dumps(summary, indent=2, default=str))


def _unlisted(record: Any) -> bool:
    return not str(record.msg).startswith("Passed unknown parameter")


def _quiet_unknown_parameters() -> None:
    """papermill logs a warning for each value a notebook's cell does not list; the runner passes
    such values on purpose (every notebook accepts every parameter), so they are not news."""

    log = logging.getLogger("papermill")
    if _unlisted not in log.filters:
        log.addFilter(_unlisted)


def _progress(total: int, quiet: bool):
    if quiet:
        return lambda r: None
    # deferred: tqdm: only for a progress bar
    from tqdm import tqdm

    bar = tqdm(total=total, desc="notebooks", unit="nb", file=sys.stderr, leave=True, dynamic_ncols=True)

    def update(result: NotebookResult) -> None:
        bar.set_postfix_str(f"{result.name}: {result.worst.value}")
        bar.update(1)
        if bar.n >= total:
            bar.close()

    return update


def index_html(summary: dict[str, Any], banner: str) -> str:
    rows = "".join(
        f"<tr><td>{status_badge(n['worst'])}</td><td><a href='{html.escape(n['html'] or n['ipynb'])}'>{html.escape(n['name'])}</a></td>"
        f"<td>{n['checks']}</td><td>{n['duration_s']} s</td><td><a href='{html.escape(n['ipynb'])}'>ipynb</a></td>"
        f"<td>{html.escape(n['error'] or '')}</td></tr>"
        for n in summary["notebooks"]
    )
    checks = "".join(
        f"<tr><td>{status_badge(c['status'])}</td><td>{html.escape(c['id'])}</td><td>{html.escape(c['notebook'])}</td>"
        f"<td>{html.escape(c['summary'])}</td></tr>"
        for c in summary["checks"]
        if c["status"] != "ok"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>SES runbook report {html.escape(summary['run']['label'] or '')}</title>"
        "<style>body{font-family:sans-serif;margin:16px}td,th{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left}</style></head><body>"
        f"<h1>SES runbook report</h1>{history.changes_html(summary['changes']) if 'changes' in summary else ''}"
        f"<p>{banner}</p><p>worst status: {status_badge(summary['worst'])} · "
        f"{summary['run']['aws_calls']['total']} AWS calls · {summary['run']['duration_s']} s · "
        "<a href='report.html'>report.html</a>: everything in one file</p>"
        f"<table><tr><th>status</th><th>notebook</th><th>checks</th><th>time</th><th>source</th><th>error</th></tr>{rows}</table>"
        f"<h2>Checks that need attention</h2><table><tr><th>status</th><th>check</th><th>notebook</th><th>finding</th></tr>"
        f"{checks or '<tr><td colspan=4>none</td></tr>'}</table></body></html>"
    )


def _print_summary(summary: dict[str, Any], out_dir: Path) -> None:
    # deferred: rich: only when a terminal table is printed
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    table = Table(title="ses-runbook run")
    for column in ("status", "notebook", "checks", "time", "error"):
        table.add_column(column)
    for n in summary["notebooks"]:
        status = Status(n["worst"])
        table.add_row(
            f"[{STYLE[status]}]{status.value}[/]", n["name"], str(n["checks"]), f"{n['duration_s']} s", n["error"] or ""
        )
    console.print(table)
    console.print(f"worst: {summary['worst']} · report: {out_dir / 'index.html'}")
