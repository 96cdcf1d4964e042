"""Rendering a ``Diagnosis`` for a terminal (rich), plain text (what nbval compares) and a notebook (HTML).

The catalogue, the diagnosis and the fixes print nothing; everything shown goes through here.
"""

from __future__ import annotations

import html
import importlib.util
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ses_runbook.core.display import markup_text, show, status_badge, table_html, table_text, terminal_text
from ses_runbook.core.results import CheckResult, Status
from ses_runbook.remediation.catalogue import (
    CAUSES,
    CONFIRMED,
    PLACEHOLDER,
    RULED_OUT,
    SEVERITY,
    SYMPTOMS,
    UNKNOWN,
    VERDICT_ORDER,
    Cause,
    Facts,
    Symptom,
    failure_modes,
    symptom_ids,
)
from ses_runbook.remediation.diagnosis import Diagnosis, Finding, FixResult
from ses_runbook.remediation.investigate import diagnose, read_facts

if TYPE_CHECKING:
    from ses_runbook.core.aws import Aws
    from ses_runbook.core.params import Params

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
    return _placeholders(d.confirmed)


def _placeholders(findings: Iterable[Finding]) -> list[str]:
    found = [m.group(0) for f in findings for s in f.steps for m in PLACEHOLDER.finditer(s.command or "")]
    return list(dict.fromkeys(found))


_BLANKS = "Prepared text to complete before anyone sends it (it states only what this run measured):"


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
    return "\n".join(_findings_text(d.confirmed)) or "nothing confirmed: no steps"


def _findings_text(findings: list[Finding], verdicts: bool = False, shown_before: set[str] | None = None) -> list[str]:
    """Cause by cause: why, then each step with its command, expectation and verification; the
    prepared texts' blanks last. ``verdicts`` adds each cause's verdict and note (a notebook's remedy);
    a cause in ``shown_before`` is named with a pointer instead of its steps again."""
    out = []
    for n, f in enumerate(findings, 1):
        head = f"{n}. {f.cause.title} ({f.cause.id})" + (f": {f.verdict}, {f.note}" if verdicts else "")
        if shown_before is not None and f.cause.id in shown_before:
            out.append(f"{head}\n  steps: above")
            continue
        out.append(f"{head}\n  why: {f.cause.why}")
        for i, s in enumerate(f.steps, 1):
            out.append(f"  {i}. {s.action}")
            for label, value in (("", s.command), ("expect: ", s.expect), ("verify: ", s.verify)):
                if value:
                    out.append(f"     {label}{value}")
    blanks = _placeholders(findings)
    if blanks:
        out.append(_BLANKS)
        out.extend(f"  {b}" for b in blanks)
    return out


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
    return _findings_html(d.confirmed)


def _findings_html(findings: list[Finding], verdicts: bool = False, shown_before: set[str] | None = None) -> str:
    """The HTML face of ``_findings_text``."""
    parts: list[str] = []
    for f in findings:
        head = f"<h4>{len(parts) + 1}. {html.escape(f.cause.title)} <code>{html.escape(f.cause.id)}</code>" + (
            f" {_badge(f.verdict)} <small>{html.escape(f.note)}</small></h4>" if verdicts else "</h4>"
        )
        if shown_before is not None and f.cause.id in shown_before:
            parts.append(f"{head}<p>steps: above</p>")
            continue
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
        parts.append(f"{head}<p><i>Why this happens:</i> {html.escape(f.cause.why)}</p><ol>{''.join(items)}</ol>")
    blanks = _placeholders(findings)
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
    # deferred: IPython exists only inside a kernel
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

    return bool(os.environ.get("JPY_SESSION_NAME")) and importlib.util.find_spec("ipywidgets") is not None


def symptom_picker(session: Any, d: Diagnosis) -> Any:
    """An ipywidgets Dropdown of the failure modes (and ``auto``), set to the diagnosis' symptom."""
    # deferred: ipywidgets is part of the lab extra: only JupyterLab sessions have it
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
    # deferred: rich: only when a terminal table is printed
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, soft_wrap=True)
    if not d.symptoms:
        console.print(terminal_text(walkthrough_text(d)), markup=False)
    else:
        console.print(terminal_text(causes_text(d)), markup=False)
    if d.confirmed:
        console.print("\n[bold]What to do, cause by cause[/]")
        console.print(terminal_text(steps_text(d)), markup=False)
    if d.fixes:
        console.print("\n[bold]Guarded fixes[/]")
        console.print(terminal_text(fixes_text(d.fixes)), markup=False)
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
            evidence = markup_text("\n".join(f"{r.status.value} {r.id}: {r.summary}" for r in f.evidence) or f.note)
            table.add_row(
                f"[{VERDICT_STYLE[f.verdict]}]{f.verdict}[/]", f"{f.cause.title}\n[dim]{f.cause.id}[/]", evidence
            )
        console.print(table)


# -- a notebook's remedy: one failure mode judged on the results the notebook has gathered so far --------
_NOT_OK = (Status.FAIL, Status.WARN)


@dataclass
class Remedy:
    """One failure mode judged against the results a notebook has so far: its causes whose steps
    apply (confirmed, then undecided), those ruled out, and those none of whose checks has run yet."""

    symptom: Symptom
    evidence: list[CheckResult]  # the failure mode's checks that ran, in the catalogue's order
    shown: list[Finding]  # confirmed, then could not tell: the causes whose steps are shown
    ruled_out: list[Finding]
    unchecked: list[Cause]


def judge_here(
    params: Params, results: Iterable[CheckResult], symptoms: Iterable[str] = (), aws: Aws | None = None
) -> list[Remedy]:
    """Each failure mode in ``symptoms`` (default: those the fail/warn ``results`` name) judged on
    ``results`` alone: nothing is checked again. A cause none of whose checks ran is left unchecked,
    unless one of the failure mode's own checks (``Symptom.seen_in``) shows it and its error points
    at that cause: then it is undecided, with its steps. The facts the shown steps name are read with ``aws``."""
    by_id = {r.id: r for r in results}  # a check run twice: its latest result
    wanted = list(symptoms) or [
        r.remediation for r in by_id.values() if r.status in _NOT_OK and r.remediation in SYMPTOMS
    ]
    sids = [sid for name in dict.fromkeys(wanted) for sid in symptom_ids(name)]  # unknown name: ParameterError
    remedies, pending = [], []
    for sid in sids:
        symptom = SYMPTOMS[sid]
        seen = [by_id[c] for c in symptom.seen_in if c in by_id and by_id[c].status in _NOT_OK]
        codes = [str(r.details.get("error_code") or "") for r in seen]
        pointed = {c for code in codes for c in symptom.error_causes.get(code, ())}
        if seen and not pointed:
            pointed = set(symptom.causes)
        rem = Remedy(symptom, [], [], [], [])
        for cid in symptom.causes:
            cause = CAUSES[cid]
            gathered = [by_id[i] for i in cause.checks if i in by_id]
            verdict, note = cause.judge(by_id) if gathered else (UNKNOWN, "")
            if verdict == UNKNOWN and all(r.status == Status.OK for r in gathered):  # undecided for want of checks
                if cid not in pointed:
                    rem.unchecked.append(cause)
                    continue
                why = ", ".join(
                    f"{r.id} is {r.status.value}" + (f" ({c})" if c else "") for r, c in zip(seen, codes, strict=True)
                )
                verdict, note, gathered = UNKNOWN, f"not checked above; {why}", gathered + seen
            finding = Finding(cause, verdict, note, gathered, [])
            (rem.ruled_out if verdict == RULED_OUT else rem.shown).append(finding)
        order = list(symptom.causes)
        rem.shown.sort(key=lambda f: (VERDICT_ORDER[f.verdict], f.cause.severity, order.index(f.cause.id)))
        ids = [i for cid in symptom.causes for i in CAUSES[cid].checks] + list(symptom.seen_in)
        rem.evidence = [by_id[i] for i in dict.fromkeys(ids) if i in by_id]
        remedies.append(rem)
        pending += rem.shown
    names = {name for f in pending for name in f.cause.reads}
    facts = read_facts(params, aws, names) if names and aws is not None else Facts()
    for f in pending:
        f.steps = f.cause.steps(params, by_id, facts)
    return remedies


def _walk(symptom: Symptom) -> list[tuple[str, bool]]:
    return [(" 08_remediation walks it: ", False), (f"ses-runbook diagnose {symptom.id}", True)]


def _statuses(results: list[CheckResult]) -> str:
    """``a, b ok; c skip``: the checks grouped by status, worst last."""
    groups: dict[str, list[str]] = {}
    for r in sorted(results, key=lambda r: list(Status).index(r.status)):
        groups.setdefault(r.status.value, []).append(r.id)
    return "; ".join(f"{', '.join(ids)} {status}" for status, ids in groups.items())


def _unchecked(rem: Remedy) -> str:
    return ", ".join(f"{c.id} ({', '.join(c.checks)})" for c in rem.unchecked)


def _remedy_line(rem: Remedy) -> list[tuple[str, bool]]:
    """The failure mode's line, as (text, is code) segments: the whole answer when no cause's steps
    apply (naming it, so a reader knows where to look), else the heading of the steps."""
    s = rem.symptom
    head: list[tuple[str, bool]] = [("Failure mode ", False), (s.id, True), (f" ({s.title}): ", False)]
    if rem.shown:
        confirmed = sum(f.verdict == CONFIRMED for f in rem.shown)
        counts = [f"{confirmed} cause{'s' if confirmed != 1 else ''} confirmed"] if confirmed else []
        if len(rem.shown) > confirmed:
            counts.append(f"{len(rem.shown) - confirmed} could not tell")
        return head + [(" and ".join(counts) + "; what to do, cause by cause, below.", False)] + _walk(s)
    if not rem.evidence:
        checks = ", ".join(dict.fromkeys(i for c in s.causes for i in CAUSES[c].checks))
        return head + [(f"none of its checks ran above ({checks}).", False)] + _walk(s)
    bad = [f for f in rem.ruled_out if any(r.status in _NOT_OK for r in f.evidence)]
    if any(r.status in _NOT_OK for r in rem.evidence):
        text = f"no cause confirmed by the checks above ({_statuses(rem.evidence)}"
        text += "".join(f"; {f.cause.id} ruled out: {f.note}" for f in bad) + ")"
    else:
        text = f"nothing to do, no check above is fail or warn ({_statuses(rem.evidence)})"
    if rem.unchecked:
        text += f"; not checked above: {_unchecked(rem)}"
    return head + [(text + ".", False)] + _walk(s)


def _tail(rem: Remedy) -> str:
    """Under the steps: the causes ruled out and those not checked, by id."""
    parts = []
    if rem.ruled_out:
        parts.append("ruled out: " + ", ".join(f.cause.id for f in rem.ruled_out))
    if rem.unchecked:
        parts.append("not checked above: " + _unchecked(rem))
    return "; ".join(parts)


_NONE = (
    "No check above is fail or warn and names a failure mode: nothing to do. 08_remediation walks every "
    "failure mode: ses-runbook diagnose"
)


def remedy_text(remedies: list[Remedy]) -> str:
    """Plain text of a notebook's remedy: stable between runs (what nbval compares)."""
    if not remedies:
        return _NONE
    out: list[str] = []
    shown: set[str] = set()
    for rem in remedies:
        out.append("".join(text for text, _ in _remedy_line(rem)))
        if rem.shown:
            out.extend(_findings_text(rem.shown, verdicts=True, shown_before=shown))
            tail = _tail(rem)
            if tail:
                out.append(tail)
            shown |= {f.cause.id for f in rem.shown}
    return "\n".join(out)


def remedy_html(remedies: list[Remedy]) -> str:
    """The HTML face of ``remedy_text`` (JupyterLab, the report)."""
    if not remedies:
        return f"<p>{html.escape(_NONE)}</p>"
    parts: list[str] = []
    shown: set[str] = set()
    for rem in remedies:
        line = "".join(f"<code>{html.escape(t)}</code>" if code else html.escape(t) for t, code in _remedy_line(rem))
        parts.append(f"<p>{line}</p>")
        if rem.shown:
            parts.append(_findings_html(rem.shown, verdicts=True, shown_before=shown))
            tail = _tail(rem)
            if tail:
                parts.append(f"<p><small>{html.escape(tail)}</small></p>")
            shown |= {f.cause.id for f in rem.shown}
    return "".join(parts)


def show_remedy(
    params: Params, results: Iterable[CheckResult], symptoms: Iterable[str] = (), aws: Aws | None = None
) -> list[Remedy]:
    """A notebook's "what to do when it is not ok": the catalogue's steps for ``symptoms``, judged on ``results``."""
    remedies = judge_here(params, results, symptoms, aws)
    _show(remedy_html(remedies), remedy_text(remedies))
    return remedies
