"""The terminal face of a report: a table with colour on a tty, plain text otherwise."""

from __future__ import annotations

import sys
from collections.abc import Callable

from ses_runbook.core.display import markup_text
from ses_runbook.core.results import CheckResult, Report, Status

STYLE = {
    Status.OK: "green",
    Status.SKIP: "dim",
    Status.WARN: "yellow",
    Status.FAIL: "bold red",
    Status.ERROR: "magenta",
}


def rich_console(stderr: bool = False):
    # deferred: rich: only when a terminal table is printed
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 160)


def progress_printer() -> Callable[[CheckResult], None] | None:
    """One dim line per finished check on stderr, only when someone is watching."""
    if not sys.stderr.isatty():
        return None
    console = rich_console(stderr=True)
    return lambda r: console.print(f"[dim]checked {markup_text(r.id)}: {r.status.value}[/dim]")


def print_report(report: Report) -> None:
    # deferred: rich: only when a terminal table is printed
    from rich.table import Table

    console = rich_console()
    run = report.run
    calls = run.get("aws_calls", {})
    console.print(
        markup_text(
            f"SES runbook check: account {run.get('account')} in {run.get('region')} "
            f"via {run.get('endpoint_url')}, as of {run.get('as_of')}"
        )
    )
    table = Table(show_lines=False, expand=False)
    table.add_column("status")
    table.add_column("check")
    table.add_column("summary", overflow="fold")
    for result in report.sorted():
        table.add_row(
            f"[{STYLE[result.status]}]{result.status.symbol} {result.status.value}[/]",
            markup_text(result.id),
            markup_text(result.summary),
        )
    console.print(table)
    todo = [r for r in report.sorted() if r.status in (Status.FAIL, Status.WARN, Status.ERROR)]
    for result in todo:
        console.print(f"[{STYLE[result.status]}]{markup_text(result.id)}[/]: {markup_text(result.summary)}")
        if result.remediation:
            console.print(f"    what to do: ses-runbook diagnose {markup_text(result.remediation)}")
        console.print(f"    by hand:    {markup_text(result.cli)}")
    console.print(
        f"worst: [{STYLE[report.worst]}]{report.worst.value}[/]  ·  {len(report.checks)} checks  ·  "
        f"{calls.get('total', 0)} AWS calls ({calls.get('retries', 0)} retries)  ·  {run.get('duration_s')} s"
    )
