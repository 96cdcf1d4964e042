"""What a notebook calls: validate its parameters, show results, record them for the runner.

Notebooks stay thin: one call per cell, no loops or conditions of their own. Everything a
notebook shows has an HTML face for JupyterLab and the report, and a plain-text face that is
stable between runs (what nbval compares).
"""
from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from . import __version__, params as params_mod
from .aws import Aws
from .checks import Context, all_checks, run
from .results import MIME_TYPE, CheckResult, Report, Status

if TYPE_CHECKING:
    from .params import Params

STATUS_COLOUR = {"ok": "#1a7f37", "skip": "#6e7781", "warn": "#9a6700", "fail": "#cf222e", "error": "#8250df"}


def parameters_source(notebook: str) -> str:
    """The ``parameters`` cell a notebook starts with, rendered from the one model: the connection
    parameters and the ones that notebook reads (``params.NOTEBOOK_PARAMETERS``)."""
    lines = ["from typing import List, Optional  # noqa: F401 (the annotations below)", ""]
    for name, annotation, default, help_text in params_mod.describe(params_mod.notebook_parameters(notebook)):
        lines.append(f"{name}: {annotation} = {default!r}  # {help_text}")
    return "\n".join(lines)


def _display(html_text: str, plain: str) -> None:
    from IPython.display import display

    display({"text/html": html_text, "text/plain": plain}, raw=True)


def status_badge(status: Status | str) -> str:
    value = status.value if isinstance(status, Status) else status
    return (f'<span style="color:white;background:{STATUS_COLOUR[value]};padding:1px 6px;border-radius:3px;'
            f'font-weight:bold">{html.escape(value)}</span>')


def results_html(results: Iterable[CheckResult], commands: bool = True) -> str:
    rows = []
    for r in results:
        fix = f"<br><small>what to do: failure mode <code>{html.escape(r.remediation)}</code> (08_remediation)</small>" if r.remediation else ""
        cli = f"<br><small><code>{html.escape(r.cli)}</code></small>" if commands and r.cli else ""
        rows.append(f"<tr><td>{status_badge(r.status)}</td><td><code>{html.escape(r.id)}</code><br><small>{html.escape(r.title)}</small></td>"
                    f"<td style='text-align:left'>{html.escape(r.summary)}{fix}{cli}</td></tr>")
    return ("<table><thead><tr><th>status</th><th>check</th><th style='text-align:left'>finding, fix, command</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def results_text(results: Iterable[CheckResult]) -> str:
    lines = []
    for r in results:
        lines.append(f"{r.status.value:5}  {r.id:28} {r.summary}")
        if r.remediation and r.status != Status.OK:
            lines.append(f"{'':35}what to do: failure mode {r.remediation}")
    return "\n".join(lines)


def table_html(rows: list[Mapping[str, Any]], columns: list[str] | None = None) -> str:
    """A small HTML table of dict rows, without pandas (the check path stays light)."""
    if not rows:
        return "<p><em>none</em></p>"
    columns = columns or list(rows[0])
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(r.get(c)))}</td>" for c in columns) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def table_text(rows: list[Mapping[str, Any]], columns: list[str] | None = None) -> str:
    if not rows:
        return "(none)"
    columns = columns or list(rows[0])
    widths = {c: max(len(str(c)), *(len(_cell(r.get(c))) for r in rows)) for c in columns}
    line = lambda values: "  ".join(v.ljust(widths[c]) for c, v in zip(columns, values))  # noqa: E731
    return "\n".join([line([str(c) for c in columns])] + [line([_cell(r.get(c)) for c in columns]) for r in rows])


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1 else f"{value:,.0f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


class Runbook:
    """One notebook's session: parameters, AWS clients, and the results it will record."""

    def __init__(self, params: "Params") -> None:
        self.params = params
        self.aws = Aws(params)
        self.ctx = Context(params=params, aws=self.aws)
        self.results: list[CheckResult] = []

    # -- running -----------------------------------------------------------------------
    def add(self, *results: CheckResult) -> list[CheckResult]:
        """Keep results built outside the check registry (a write such as the test email) for ``record``."""
        self.results.extend(results)
        return list(results)

    def check(self, *ids: str) -> list[CheckResult]:
        """Run the named checks (default: all), keep them for ``record``, return them worst first."""
        found = run(self.ctx, ids=[s.id for s in all_checks() if not ids or s.id in ids])  # sections side by side
        self.results.extend(found)
        return Report(run={}, checks=found).sorted()

    # -- showing -----------------------------------------------------------------------
    def context(self) -> None:
        """Who ran this, when, against which account: the first thing a postmortem reader needs."""
        import getpass
        import platform

        rows = [{"as of (UTC)": self.params.as_of_datetime().strftime("%Y-%m-%d %H:%M:%S"), "account": self.aws.account_label(),
                 "region": self.params.region, "endpoint": self.params.endpoint_url or "AWS",
                 "profile": self.params.aws_profile or "(default chain)", "operator": f"{getpass.getuser()}@{platform.node()}",
                 "ses-runbook": __version__}]
        _display(table_html(rows), table_text(rows))

    def show(self, results: Iterable[CheckResult], commands: bool = True) -> None:
        results = list(results)
        _display(results_html(results, commands), results_text(results))

    def table(self, rows: list[Mapping[str, Any]], columns: list[str] | None = None) -> None:
        _display(table_html(rows, columns), table_text(rows, columns))

    def json(self, obj: Any) -> None:
        """A JSON-like answer as the ``aws`` CLI prints it (indented, keys in the API's order)."""
        text = json.dumps(obj, indent=4, default=str)
        _display(f"<pre><code>{html.escape(text)}</code></pre>", text)

    def frame(self, frame: Any) -> None:
        """A pandas DataFrame: pandas' HTML, and its ``to_string`` as the stable plain face."""
        _display(frame.to_html(border=0), frame.to_string())

    def figure(self, fig: Any) -> None:
        """A matplotlib Figure as PNG, with a fixed plain face (nbval compares that, not the image).

        Figures shown before are reference cycles nothing uses any more: they are collected
        first, so a kernel renders each figure in the memory of the last, not beside it.
        """
        import base64
        import gc
        import io

        from IPython.display import display

        gc.collect()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", metadata={"Software": None})
        display({"image/png": base64.b64encode(buffer.getvalue()).decode("ascii"), "text/plain": "[figure: see the image]"}, raw=True)

    def command(self, *commands: str) -> None:
        """The equivalent aws command(s), for copy and paste."""
        text = "\n".join(commands)
        _display(f"<pre><code>{html.escape(text)}</code></pre>", text)

    def note(self, text: str) -> None:
        _display(f"<p>{html.escape(text)}</p>", text)

    # -- recording ---------------------------------------------------------------------
    def record(self) -> None:
        """The last cell: publish results and call counts for ``runner`` (nbval ignores it)."""
        from IPython.display import display

        checks = [r.to_dict() for r in self.results]
        payload = {"checks": checks, "aws_calls": self.aws.stats(), "as_of": self.params.as_of_datetime().isoformat()}
        worst = Status.worst(r.status for r in self.results).value
        display({MIME_TYPE: json.loads(json.dumps(payload, default=str)),
                 "text/plain": f"recorded {len(checks)} check result(s), worst: {worst}; {self.aws.stats()['total']} AWS calls"},
                raw=True)


def start(namespace: Mapping[str, Any]) -> Runbook:
    """Validate the notebook's parameters (one clear line if wrong) and open the session."""
    return Runbook(params_mod.from_namespace(namespace))
