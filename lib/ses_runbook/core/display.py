"""The two faces of everything the runbook shows: HTML for JupyterLab and reports, plain text that
stays the same between runs (what nbval compares and a terminal prints).

Small and free of pandas, so the check path and every layer above the core can use it.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ses_runbook.core.results import CheckResult, Status

STATUS_COLOUR = {"ok": "#1a7f37", "skip": "#6e7781", "warn": "#9a6700", "fail": "#cf222e", "error": "#8250df"}


def show(html_text: str, plain: str) -> None:
    from IPython.display import display  # deferred: IPython is needed only inside a kernel

    display({"text/html": html_text, "text/plain": plain}, raw=True)


def status_badge(status: Status | str) -> str:
    value = status.value if isinstance(status, Status) else status
    return (
        f'<span style="color:white;background:{STATUS_COLOUR[value]};padding:1px 6px;border-radius:3px;'
        f'font-weight:bold">{html.escape(value)}</span>'
    )


def results_html(results: Iterable[CheckResult], commands: bool = True) -> str:
    rows = []
    for r in results:
        fix = (
            f"<br><small>what to do: failure mode <code>{html.escape(r.remediation)}</code> (08_remediation)</small>"
            if r.remediation
            else ""
        )
        cli = f"<br><small><code>{html.escape(r.cli)}</code></small>" if commands and r.cli else ""
        rows.append(
            f"<tr><td>{status_badge(r.status)}</td><td><code>{html.escape(r.id)}</code><br><small>{html.escape(r.title)}</small></td>"
            f"<td style='text-align:left'>{html.escape(r.summary)}{fix}{cli}</td></tr>"
        )
    return (
        "<table><thead><tr><th>status</th><th>check</th><th style='text-align:left'>finding, fix, command</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def results_text(results: Iterable[CheckResult]) -> str:
    lines = []
    for r in results:
        lines.append(f"{r.status.value:5}  {r.id:28} {r.summary}")
        if r.remediation and r.status != Status.OK:
            lines.append(f"{'':35}what to do: failure mode {r.remediation}")
    return "\n".join(lines)


def table_html(rows: Sequence[Mapping[str, Any]], columns: list[str] | None = None) -> str:
    """A small HTML table of dict rows, without pandas (the check path stays light)."""
    if not rows:
        return "<p><em>none</em></p>"
    columns = columns or list(rows[0])
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(r.get(c)))}</td>" for c in columns) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def table_text(rows: Sequence[Mapping[str, Any]], columns: list[str] | None = None) -> str:
    if not rows:
        return "(none)"
    columns = columns or list(rows[0])
    widths = {c: max(len(str(c)), *(len(_cell(r.get(c))) for r in rows)) for c in columns}
    line = lambda values: "  ".join(v.ljust(widths[c]) for c, v in zip(columns, values, strict=False))  # noqa: E731
    return "\n".join([line([str(c) for c in columns])] + [line([_cell(r.get(c)) for c in columns]) for r in rows])


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1 else f"{value:,.0f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)
