"""Rendering a ``Diagnosis`` for a terminal (rich), plain text (what nbval compares) and a notebook (HTML).

The catalogue, the diagnosis and the fixes print nothing; everything shown goes through here.
"""

from __future__ import annotations

import html
import os
from typing import Any

from ses_runbook.core.display import show, status_badge, table_html, table_text
from ses_runbook.remediation.catalogue import (
    CONFIRMED,
    PLACEHOLDER,
    RULED_OUT,
    SEVERITY,
    SYMPTOMS,
    UNKNOWN,
    failure_modes,
)
from ses_runbook.remediation.diagnosis import Diagnosis, FixResult
from ses_runbook.remediation.investigate import diagnose

VERDICT_STYLE = {CONFIRMED: "bold red", UNKNOWN: "magenta", RULED_OUT: "green"}
VERDICT_COLOUR = {CONFIRMED: "#cf222e", UNKNOWN: "#8250df", RULED_OUT: "#1a7f37"}


def causes_text(d: Diagnosis) -> str:
    """The confirmed causes, each once, most severe first, with the symptoms each explains: what a reader sees first."""
    causes = d.causes
    if not causes:
        return f"no cause confirmed ({d.requested}): {len(d.unique_findings())} causes walked, none confirmed"
    lines = [f"{len(causes)} confirmed cause{'s' if len(causes) > 1 else ''}, most severe first:"]
    for i, c in enumerate(causes, 1):
        lines.append(f"{i}. {c.cause.title} ({c.cause.id}): {SEVERITY[c.cause.severity]}")
        lines.extend(f"   {r.status.value:5} {r.id}: {r.summary}" for r in c.finding.evidence)
        lines.append("   explains: " + ", ".join(f"{s.title} ({s.id})" for s in c.symptoms))
    return "\n".join(lines)


def placeholders(d: Diagnosis) -> list[str]:
    """Every ``<<CONFIRM: ...>>`` / ``<<FILL: ...>>`` in the steps' prepared texts, each once: what to fill before sending."""
    found = [m.group(0) for f in d.confirmed for s in f.steps for m in PLACEHOLDER.finditer(s.command or "")]
    return list(dict.fromkeys(found))


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
    for n, f in enumerate(d.confirmed, 1):
        out.append(f"{n}. {f.cause.title} ({f.cause.id})\n  why: {f.cause.why}")
        for i, s in enumerate(f.steps, 1):
            out.append(f"  {i}. {s.action}")
            for label, value in (("", s.command), ("expect: ", s.expect), ("verify: ", s.verify)):
                if value:
                    out.append(f"     {label}{value}")
    blanks = placeholders(d)
    if blanks:
        out.append("Prepared text to complete before anyone sends it (it states only what this run measured):")
        out.extend(f"  {b}" for b in blanks)
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
    return (
        f'<span style="color:white;background:{VERDICT_COLOUR[verdict]};padding:1px 6px;border-radius:3px;'
        f'font-weight:bold">{html.escape(verdict)}</span>'
    )


def causes_html(d: Diagnosis) -> str:

    if not d.causes:
        return f"<p>{html.escape(causes_text(d))}</p>"
    rows = "".join(
        f"<tr><td>{i}</td><td><b>{html.escape(c.cause.title)}</b><br><code>{html.escape(c.cause.id)}</code></td>"
        f"<td>{html.escape(SEVERITY[c.cause.severity])}</td><td style='text-align:left'>"
        + "<br>".join(
            f"{status_badge(r.status)} <code>{html.escape(r.id)}</code> {html.escape(r.summary)}"
            for r in c.finding.evidence
        )
        + "</td><td style='text-align:left'>"
        + "<br>".join(f"{html.escape(s.title)} <code>{html.escape(s.id)}</code>" for s in c.symptoms)
        + "</td></tr>"
        for i, c in enumerate(d.causes, 1)
    )
    return (
        f"<p><b>{len(d.causes)} confirmed cause{'s' if len(d.causes) > 1 else ''}</b>, most severe first</p>"
        "<table><thead><tr><th>#</th><th>cause</th><th>impact</th><th style='text-align:left'>evidence</th>"
        f"<th style='text-align:left'>symptoms it explains</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def walkthrough_html(d: Diagnosis) -> str:

    if not d.symptoms:
        return f"<pre>{html.escape(walkthrough_text(d))}</pre>"
    parts = []
    for s in d.symptoms:
        rows = "".join(
            f"<tr><td>{_badge(f.verdict)}</td><td><b>{html.escape(f.cause.title)}</b><br><code>{html.escape(f.cause.id)}</code></td>"
            f"<td style='text-align:left'>"
            + "<br>".join(
                f"{status_badge(r.status)} <code>{html.escape(r.id)}</code> {html.escape(r.summary)}"
                for r in f.evidence
            )
            + f"<br><small>{html.escape(f.note)}</small></td></tr>"
            for f in s.findings
        )
        parts.append(
            f"<h4>{html.escape(s.symptom.title)} <code>{html.escape(s.symptom.id)}</code></h4>"
            f"<table><thead><tr><th>verdict</th><th>cause</th><th style='text-align:left'>evidence</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )
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
        parts.append(
            f"<h4>{len(parts) + 1}. {html.escape(f.cause.title)} <code>{html.escape(f.cause.id)}</code></h4>"
            f"<p><i>Why this happens:</i> {html.escape(f.cause.why)}</p><ol>{''.join(items)}</ol>"
        )
    blanks = placeholders(d)
    if blanks:
        parts.append(
            "<p><b>Prepared text to complete before anyone sends it</b> (it states only what this run measured):</p>"
            "<ul>" + "".join(f"<li><code>{html.escape(b)}</code></li>" for b in blanks) + "</ul>"
        )
    return "".join(parts)


def fixes_html(fixes: list[FixResult]) -> str:
    return f"<pre>{html.escape(fixes_text(fixes))}</pre>"


def _show(html_text: str, plain: str) -> None:

    show(html_text, plain)


def show_failure_modes() -> None:
    """The page's table, as the notebook's first output."""

    rows = failure_modes()
    _show(table_html(rows), table_text(rows))


def show_causes(d: Diagnosis) -> None:
    _show(causes_html(d), causes_text(d))


def show_walkthrough(d: Diagnosis, session: Any = None) -> None:
    """The walk-through; in a live JupyterLab (given the notebook's session) a symptom picker above it
    re-walks on change. Headless (papermill, nbval, HTML) the output is the walk-through alone."""
    picker = symptom_picker(session, d) if session is not None and live_frontend() else None
    if picker is None:
        _show(walkthrough_html(d), walkthrough_text(d))
        return
    from IPython.display import display

    display(picker)
    handle = display({"text/html": walkthrough_html(d), "text/plain": walkthrough_text(d)}, raw=True, display_id=True)

    def rewalk(change: dict[str, Any]) -> None:
        # Explores only: the recorded results stay those of the `symptom` parameter.
        again = diagnose(session.params, change["new"], aws=session.aws, fix=False)
        handle.update({"text/html": walkthrough_html(again), "text/plain": walkthrough_text(again)}, raw=True)

    picker.observe(rewalk, names="value")


def live_frontend() -> bool:
    """True in a kernel a Jupyter server started for a notebook a person has open (the server sets
    ``JPY_SESSION_NAME``) and where ipywidgets is installed; papermill, nbval and nbconvert start
    their kernels without it, so their outputs stay the static ones."""
    import importlib.util

    return bool(os.environ.get("JPY_SESSION_NAME")) and importlib.util.find_spec("ipywidgets") is not None


def symptom_picker(session: Any, d: Diagnosis) -> Any:
    """An ipywidgets Dropdown of the failure modes (and ``auto``), set to the diagnosis' symptom."""
    import ipywidgets

    options = [("auto: every failure mode that shows", "auto")] + [
        (f"{s.title} ({s.id})", s.id) for s in SYMPTOMS.values()
    ]
    value = d.requested if d.requested in {v for _, v in options} else "auto"
    return ipywidgets.Dropdown(
        options=options,
        value=value,
        description="symptom",
        layout=ipywidgets.Layout(width="32em"),
        style={"description_width": "initial"},
    )


def show_steps(d: Diagnosis) -> None:
    _show(steps_html(d), steps_text(d))


def show_suppression(d: Diagnosis) -> None:
    """The suppression list as a table (newest first), when the unsuppress fix is in play."""

    fix = next((f for f in d.fixes if f.id == "unsuppress"), None)
    rows = fix.rows if fix else []
    if fix is None:
        _show(
            "<p>suppression list: not shown (no suppression cause confirmed, no address named in unsuppress)</p>",
            "suppression list: not shown (no suppression cause confirmed, no address named in unsuppress)",
        )
        return
    _show(table_html(rows), table_text(rows))


def show_fixes(d: Diagnosis) -> None:
    _show(fixes_html(d.fixes), fixes_text(d.fixes))


def print_diagnosis(d: Diagnosis, verbose: bool = False) -> None:
    """Terminal output (rich): the confirmed causes (each once, most severe first), the steps for each, the fixes;
    then each symptom's table with the causes ruled out (always for one named symptom, with ``verbose`` for auto)."""
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, soft_wrap=True)
    if not d.symptoms:
        console.print(walkthrough_text(d), markup=False)
    else:
        console.print(causes_text(d), markup=False)
    if d.confirmed:
        console.print("\n[bold]What to do, cause by cause[/]")
        console.print(steps_text(d), markup=False)
    if d.fixes:
        console.print("\n[bold]Guarded fixes[/]")
        console.print(fixes_text(d.fixes), markup=False)
    if d.symptoms and d.requested == "auto" and not verbose:
        console.print(
            f"\n[dim]{len(d.symptoms)} symptom(s) explained by these causes; --verbose shows each symptom's "
            "table with the causes ruled out[/]"
        )
        return
    for s in d.symptoms:
        table = Table(title=f"{s.symptom.title} ({s.symptom.id})", title_justify="left", show_lines=False)
        table.add_column("verdict")
        table.add_column("cause")
        table.add_column("evidence")
        for f in s.findings:
            evidence = "\n".join(f"{r.status.value} {r.id}: {r.summary}" for r in f.evidence) or f.note
            table.add_row(
                f"[{VERDICT_STYLE[f.verdict]}]{f.verdict}[/]", f"{f.cause.title}\n[dim]{f.cause.id}[/]", evidence
            )
        console.print(table)
