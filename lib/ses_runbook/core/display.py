"""The two faces of everything the runbook shows: HTML for JupyterLab and reports, plain text that
stays the same between runs (what nbval compares and a terminal prints).

Small and free of pandas, so the check path and every layer above the core can use it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ses_runbook.core.results import CheckResult, Status

# Terminal control: CSI (colours, cursor moves, clear screen), OSC (titles, OSC-8 links), DCS/SOS/PM/APC
# strings, two-byte escapes, and their 8-bit C1 forms; then every other C0/C1 control and the
# bidirectional overrides that reorder what a line appears to say. Tab and newline stay.
_ESCAPE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?"
    r"|\x1b\][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[PX^_][^\x1b\x9c]*(?:\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?"
    r"|\x9b[0-?]*[ -/]*[@-~]?"
    r"|[\x90\x98\x9d\x9e\x9f][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
STATUS_COLOUR = {"ok": "#1a7f37", "skip": "#6e7781", "warn": "#9a6700", "fail": "#cf222e", "error": "#8250df"}


def terminal_text(value: Any) -> str:
    """``value`` as text safe to print to a terminal: escape sequences and control characters that came
    from a message, a queue or a reports root removed (they could clear the screen, recolour a verdict,
    hide a link behind other text or rewrite the line above). Every printer passes foreign text through this."""
    return _CONTROL.sub("", _ESCAPE.sub("", value if isinstance(value, str) else str(value)))


def markup_text(value: Any) -> str:
    """``terminal_text`` with rich's markup escaped too: for text given to a rich console or table,
    where ``[bold red]...[/]`` or ``[link=...]`` in a check id would otherwise be obeyed."""
    # deferred: rich: only where a terminal table is printed
    from rich.markup import escape

    return escape(terminal_text(value))


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
        lines.append(terminal_text(f"{r.status.value:5}  {r.id:28} {r.summary}"))
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
    # plain text is what a terminal prints: its cells are made safe to print (``_cell``)
    line = lambda values: "  ".join(v.ljust(widths[c]) for c, v in zip(columns, values, strict=False))  # noqa: E731
    return "\n".join([line([str(c) for c in columns])] + [line([_cell(r.get(c)) for c in columns]) for r in rows])


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1 else f"{value:,.0f}"
    if isinstance(value, (list, tuple)):
        return terminal_text(", ".join(str(v) for v in value))
    return "" if value is None else terminal_text(value)
