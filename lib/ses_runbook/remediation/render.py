"""Rendering a ``Diagnosis`` for a terminal (rich), plain text (what nbval compares) and a notebook (HTML).

The catalogue, the diagnosis and the fixes print nothing; everything shown goes through here.
"""
from __future__ import annotations

import html

from .catalogue import CONFIRMED, RULED_OUT, UNKNOWN, failure_modes
from .diagnosis import Diagnosis
from .fixes import FixResult

VERDICT_STYLE = {CONFIRMED: "bold red", UNKNOWN: "magenta", RULED_OUT: "green"}
VERDICT_COLOUR = {CONFIRMED: "#cf222e", UNKNOWN: "#8250df", RULED_OUT: "#1a7f37"}


def walkthrough_text(d: Diagnosis) -> str:
    """Plain text of the walk-through: stable between runs (what nbval compares)."""
    if not d.symptoms:
        lines = [f"symptom {d.requested}: no cause confirmed"]
        for f in d.unique_findings():
            lines.append(f"  {f.verdict:14} {f.cause.id:26} {f.note}")
        return "\n".join(lines)
    lines = []
    for s in d.symptoms:
        lines.append(f"{s.symptom.title} ({s.symptom.id})")
        for f in s.findings:
            lines.append(f"  {f.verdict:14} {f.cause.id:26} {f.cause.title}")
            for r in f.evidence:
                lines.append(f"  {'':14} {r.status.value:5} {r.id}: {r.summary}")
    return "\n".join(lines)


def steps_text(d: Diagnosis) -> str:
    out = []
    for f in d.confirmed:
        out.append(f"{f.cause.title} ({f.cause.id})\n  why: {f.cause.why}")
        for i, s in enumerate(f.steps, 1):
            out.append(f"  {i}. {s.action}")
            for label, value in (("", s.command), ("expect: ", s.expect), ("verify: ", s.verify)):
                if value:
                    out.append(f"     {label}{value}")
    return "\n".join(out) or "nothing confirmed: no steps"


def fixes_text(fixes: list[FixResult]) -> str:
    if not fixes:
        return "no guarded fix applies"
    out = []
    for f in fixes:
        state = ("made, re-check ok" if f.ok else "made, re-check NOT ok") if f.applied else "not made"
        out.append(f"{f.title} ({f.id}, for {f.cause}): {state}")
        out.extend(f"  {c}" for c in f.commands)
        if f.message:
            out.append(f"  {f.message}")
        if f.recheck is not None:
            out.append(f"  {f.recheck.status.value:5} {f.recheck.id}: {f.recheck.summary}")
    return "\n".join(out)


def _badge(verdict: str) -> str:
    return (f'<span style="color:white;background:{VERDICT_COLOUR[verdict]};padding:1px 6px;border-radius:3px;'
            f'font-weight:bold">{html.escape(verdict)}</span>')


def walkthrough_html(d: Diagnosis) -> str:
    from ..notebook import status_badge

    if not d.symptoms:
        return f"<pre>{html.escape(walkthrough_text(d))}</pre>"
    parts = []
    for s in d.symptoms:
        rows = "".join(
            f"<tr><td>{_badge(f.verdict)}</td><td><b>{html.escape(f.cause.title)}</b><br><code>{html.escape(f.cause.id)}</code></td>"
            f"<td style='text-align:left'>" + "<br>".join(f"{status_badge(r.status)} <code>{html.escape(r.id)}</code> "
                                                           f"{html.escape(r.summary)}" for r in f.evidence)
            + f"<br><small>{html.escape(f.note)}</small></td></tr>" for f in s.findings)
        parts.append(f"<h4>{html.escape(s.symptom.title)} <code>{html.escape(s.symptom.id)}</code></h4>"
                     f"<table><thead><tr><th>verdict</th><th>cause</th><th style='text-align:left'>evidence</th></tr></thead>"
                     f"<tbody>{rows}</tbody></table>")
    return "".join(parts)


def steps_html(d: Diagnosis) -> str:
    if not d.confirmed:
        return "<p>nothing confirmed: no steps</p>"
    parts = []
    for f in d.confirmed:
        items = []
        for s in f.steps:
            bits = [html.escape(s.action)]
            if s.command:
                bits.append(f"<pre><code>{html.escape(s.command)}</code></pre>")
            if s.expect:
                bits.append(f"<small>expect: {html.escape(s.expect)}</small>")
            if s.verify:
                bits.append(f"<br><small>verify: <code>{html.escape(s.verify)}</code></small>")
            items.append(f"<li>{''.join(bits)}</li>")
        parts.append(f"<h4>{html.escape(f.cause.title)} <code>{html.escape(f.cause.id)}</code></h4>"
                     f"<p><i>Why this happens:</i> {html.escape(f.cause.why)}</p><ol>{''.join(items)}</ol>")
    return "".join(parts)


def fixes_html(fixes: list[FixResult]) -> str:
    return f"<pre>{html.escape(fixes_text(fixes))}</pre>"


def _show(html_text: str, plain: str) -> None:
    from ..notebook import _display

    _display(html_text, plain)


def show_failure_modes() -> None:
    """The page's table, as the notebook's first output."""
    from ..notebook import table_html, table_text

    rows = failure_modes()
    _show(table_html(rows), table_text(rows))


def show_walkthrough(d: Diagnosis) -> None:
    _show(walkthrough_html(d), walkthrough_text(d))


def show_steps(d: Diagnosis) -> None:
    _show(steps_html(d), steps_text(d))


def show_suppression(d: Diagnosis) -> None:
    """The suppression list as a table (newest first), when the unsuppress fix is in play."""
    from ..notebook import table_html, table_text

    fix = next((f for f in d.fixes if f.id == "unsuppress"), None)
    rows = fix.rows if fix else []
    if fix is None:
        _show("<p>suppression list: not shown (no suppression cause confirmed, no address named in unsuppress)</p>",
              "suppression list: not shown (no suppression cause confirmed, no address named in unsuppress)")
        return
    _show(table_html(rows), table_text(rows))


def show_fixes(d: Diagnosis) -> None:
    _show(fixes_html(d.fixes), fixes_text(d.fixes))





def print_diagnosis(d: Diagnosis) -> None:
    """Terminal output (rich): the walk-through, the steps for the confirmed causes, the fixes."""
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, soft_wrap=True)
    if not d.symptoms:
        console.print(walkthrough_text(d))
    for s in d.symptoms:
        table = Table(title=f"{s.symptom.title} ({s.symptom.id})", title_justify="left", show_lines=False)
        table.add_column("verdict")
        table.add_column("cause")
        table.add_column("evidence")
        for f in s.findings:
            evidence = "\n".join(f"{r.status.value} {r.id}: {r.summary}" for r in f.evidence) or f.note
            table.add_row(f"[{VERDICT_STYLE[f.verdict]}]{f.verdict}[/]", f"{f.cause.title}\n[dim]{f.cause.id}[/]", evidence)
        console.print(table)
    if d.confirmed:
        console.print("\n[bold]What to do[/]")
        console.print(steps_text(d), markup=False)
    if d.fixes:
        console.print("\n[bold]Guarded fixes[/]")
        console.print(fixes_text(d.fixes), markup=False)
