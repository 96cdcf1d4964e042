"""What a notebook calls: validate its parameters, show results, record them for the runner.

Notebooks stay thin: one call per cell, no loops or conditions of their own. Everything a
notebook shows has an HTML face for JupyterLab and the report, and a plain-text face that is
stable between runs (what nbval compares).
"""

from __future__ import annotations

import base64
import gc
import html
import io
import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ses_runbook.checks import Context, known_checks, run
from ses_runbook.checks import trace as trace_mod
from ses_runbook.core import context as context_mod
from ses_runbook.core import params as params_mod
from ses_runbook.core.aws import Aws
from ses_runbook.core.display import results_html, results_text, show, table_html, table_text
from ses_runbook.core.results import MIME_TYPE, CheckResult, Report, Status
from ses_runbook.remediation.fixes import unsuppress_traced
from ses_runbook.remediation.render import fixes_html, fixes_text, show_remedy

if TYPE_CHECKING:
    from ses_runbook.core.params import Params


def parameters_source(notebook: str) -> str:
    """The ``parameters`` cell a notebook starts with, rendered from the one model: the connection
    parameters and the ones that notebook reads (``params.NOTEBOOK_PARAMETERS``)."""
    lines = ["from typing import List, Optional  # noqa: F401 (the annotations below)", ""]
    for name, annotation, default, help_text in params_mod.describe(params_mod.notebook_parameters(notebook)):
        lines.append(f"{name}: {annotation} = {default!r}  # {help_text}")
    return "\n".join(lines)


class Runbook:
    """One notebook's session: parameters, AWS clients, and the results it will record."""

    def __init__(self, params: Params) -> None:
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
        found = run(
            self.ctx, ids=[s.id for s in known_checks() if (s.id in ids if ids else not s.on_request)]
        )  # sections side by side
        self.results.extend(found)
        return Report(run={}, checks=found).sorted()

    def trace(self) -> trace_mod.TraceReport:
        """Trace ``trace_recipients`` and ``trace_message_ids`` (12_trace) and keep the verdicts as one result
        (``trace.recipients``) for ``record`` and ``remedy``; none named: an empty report that says so."""
        addresses, ids = trace_mod.targets(
            [*(self.params.trace_recipients or []), *(self.params.trace_message_ids or [])]
        )
        report = trace_mod.trace(self.params, self.aws, addresses, ids)
        self.results.append(trace_mod.result(report))
        return report

    def unsuppress(self, report: trace_mod.TraceReport) -> None:
        """The guarded removal of each suppressed traced address (``fixes.unsuppress_traced``), shown with its
        re-check; the re-checks are recorded."""
        fixes = unsuppress_traced(self.params, self.aws, report)
        self.results.extend(f.recheck for f in fixes if f.recheck is not None)
        plain = (
            fixes_text(fixes) if fixes else "No traced address is on the account suppression list: nothing to remove."
        )
        show(fixes_html(fixes) if fixes else f"<p>{html.escape(plain)}</p>", plain)

    # -- showing -----------------------------------------------------------------------
    def context(self) -> None:
        """Who ran this, when, against which account: the first thing a postmortem reader needs
        (the run's ``core.context`` block, as a table)."""
        block = context_mod.run_block(self.params, self.aws)
        rows = [
            {
                "as of (UTC)": context_mod.readable(block["as_of"]),
                "account": block["account"],
                "region": block["region"],
                "endpoint": block["endpoint_url"],
                "profile": block["profile"] or "(default chain)",
                "operator": f"{block['operator']}@{block['host']}",
                "ses-runbook": block["version"],
            }
        ]
        show(table_html(rows), table_text(rows))

    def show(self, results: Iterable[CheckResult], commands: bool = True) -> None:
        results = list(results)
        show(results_html(results, commands), results_text(results))

    def table(self, rows: list[Mapping[str, Any]] | None, columns: list[str] | None = None) -> None:
        """Rows as a table; ``None`` (nothing to show, already said in a sentence) shows nothing."""
        if rows is None:
            return
        show(table_html(rows, columns), table_text(rows, columns))

    def json(self, obj: Any) -> None:
        """A JSON-like answer as the ``aws`` CLI prints it (indented, keys in the API's order)."""
        text = json.dumps(obj, indent=4, default=str)
        show(f"<pre><code>{html.escape(text)}</code></pre>", text)

    def frame(self, frame: Any) -> None:
        """A pandas DataFrame: pandas' HTML, and its ``to_string`` as the stable plain face."""
        show(frame.to_html(border=0), frame.to_string())

    def figure(self, fig: Any) -> None:
        """A matplotlib Figure as PNG, with a fixed plain face (nbval compares that, not the image);
        ``None`` (no data: a sentence says so instead of an empty chart) shows nothing.

        Figures shown before are reference cycles nothing uses any more: they are collected
        first, so a kernel renders each figure in the memory of the last, not beside it.
        """

        if fig is None:
            return
        # deferred: IPython exists only inside a kernel
        from IPython.display import display

        gc.collect()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", metadata={"Software": None})
        display(
            {"image/png": base64.b64encode(buffer.getvalue()).decode("ascii"), "text/plain": "[figure: see the image]"},
            raw=True,
        )

    def command(self, *commands: str) -> None:
        """The equivalent aws command(s), for copy and paste."""
        text = "\n".join(commands)
        show(f"<pre><code>{html.escape(text)}</code></pre>", text)

    def note(self, text: str) -> None:
        show(f"<p>{html.escape(text)}</p>", text)

    def remedy(self, *symptoms: str) -> None:
        """What to do when it is not ok: the catalogue's steps for these failure modes (default: those
        the fail/warn results so far name), judged on the results this notebook has gathered so far.
        Nothing is checked again; when no cause shows, one line names the failure mode (08_remediation
        walks it in full)."""
        show_remedy(self.params, self.results, symptoms, aws=self.aws)

    # -- recording ---------------------------------------------------------------------
    def record(self) -> None:
        """The last cell: publish results and call counts for ``runner`` (nbval ignores it)."""
        # deferred: IPython exists only inside a kernel
        from IPython.display import display

        checks = [r.to_dict() for r in self.results]
        payload = {"checks": checks, "aws_calls": self.aws.stats(), "as_of": self.params.as_of_datetime().isoformat()}
        worst = Status.worst(r.status for r in self.results).value
        display(
            {
                MIME_TYPE: json.loads(json.dumps(payload, default=str)),
                "text/plain": f"recorded {len(checks)} check result(s), worst: {worst}; {self.aws.stats()['total']} AWS calls",
            },
            raw=True,
        )


def start(namespace: Mapping[str, Any]) -> Runbook:
    """Validate the notebook's parameters (one clear line if wrong) and open the session."""
    return Runbook(params_mod.from_namespace(namespace))
