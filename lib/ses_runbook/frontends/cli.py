"""The ``ses-runbook`` command: thin over ``checks.suite``, ``checks.mailtest``, ``runner``, ``sandbox`` and ``remediation``.

Exit codes: 0 nothing failed (warnings allowed), 1 a check failed, 2 a check could not run
or the input was bad (one line on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

from ses_runbook import __version__
from ses_runbook.checks import select, suite
from ses_runbook.core import params
from ses_runbook.core.context import not_aws
from ses_runbook.core.display import terminal_text
from ses_runbook.core.errors import ReportsError, RunbookError, UsageError
from ses_runbook.frontends.sandboxing import sandbox_imports
from ses_runbook.runs import report_text

# The other commands import the part of the library they drive when they start (each marked
# "deferred:"): `ses-runbook check`, which schedulers run every few minutes, then loads the checks
# alone and not the runner, the remediation catalogue, JupyterLab's helpers or the reports root.


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2, like every other bad input
        self.exit(2, f"ses-runbook: {message}\n")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-f",
        "--parameters_file",
        "--parameters-file",
        dest="files",
        action="append",
        default=[],
        metavar="FILE.yaml",
        help="parameter file (YAML); may be repeated",
    )
    parser.add_argument(
        "-p",
        "--parameters",
        dest="params",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="set one parameter; may be repeated",
    )
    parser.add_argument(
        "--sandbox",
        nargs="?",
        const="healthy",
        default=None,
        metavar="SCENARIO",
        help="start the embedded sandbox (default scenario: healthy) for this command",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ses-runbook", description="Executable runbook for the Amazon SES account of thephenom.app.")
    parser.add_argument("--version", action="version", version=f"ses-runbook {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    check = sub.add_parser("check", help="run every read-only check in-process and print a table or JSON")
    _common(check)
    check.add_argument(
        "--format",
        choices=("table", "json", "openmetrics", "junit"),
        default=None,
        help="table (default), json, openmetrics (Prometheus; `run` writes metrics.prom) "
        "or junit (JUnit XML for CI test reports; `run` writes junit.xml)",
    )
    check.add_argument("--json", action="store_true", help="print the report as JSON (the same as --format json)")
    check.add_argument("--only", action="append", metavar="CHECK_ID", help="run only this check; may be repeated")

    run = sub.add_parser("run", help="execute the notebooks headless into a report folder")
    _common(run)
    run.add_argument("notebooks", nargs="*", metavar="NOTEBOOK", help="notebook names (default: all)")
    run.add_argument("--out", help="report folder (default: reports/<UTC time>[-LABEL]/)")
    run.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="kernels at once (default: cores)")
    run.add_argument("--label", help="incident or ticket label, e.g. INC-1234")
    run.add_argument("--timeout", type=int, default=600, help="seconds a cell may run (default 600)")
    run.add_argument(
        "--reports",
        metavar="ROOT",
        help="reports root: a folder or s3://bucket/prefix; the run goes to "
        "ROOT/<account>/<region>/<UTC time>[-LABEL]/",
    )
    run.add_argument(
        "--keep", type=int, metavar="N", help="with --reports: keep the newest N runs of this account and region"
    )
    run.add_argument("--keep-days", type=float, metavar="D", help="with --reports: remove runs older than D days")
    run.add_argument(
        "--notify",
        metavar="sns:ARN|APPRISE_URL",
        help="tell someone about the run (a write; off by default): an SNS topic or an Apprise URL "
        "(slack://, msteams://, pagerduty://, mailtos://, ntfys://, jsons://...); https and public hosts only "
        "unless notify_allow_private=true",
    )
    run.add_argument(
        "--notify-on",
        choices=("change", "non-ok", "always"),
        default="change",
        help="when to notify: the worst status changed (default), any non-ok run, always",
    )
    run.add_argument(
        "--targets",
        metavar="FILE.yaml",
        help="with --reports: run the suite for every target of the file "
        "(accounts, regions, roles) and write a fleet index",
    )
    run.add_argument("--result-file", help=argparse.SUPPRESS)  # where a fleet's target process tells where its run went

    hist = sub.add_parser("history", help="earlier runs in a reports root: statuses over time, first bad run, trends")
    hist.add_argument("--reports", metavar="ROOT", required=True, help="reports root: a folder or s3://bucket/prefix")
    hist.add_argument("--account", help="only this account id")
    hist.add_argument("--region", help="only this region")
    hist.add_argument("--since", help="only runs since: 7d, 12h, 30m or an ISO time")
    hist.add_argument("--json", action="store_true", help="print the history as JSON")
    _common(hist)  # AWS profile and endpoint of an S3 root; --sandbox serves the sandbox's S3

    sandbox = sub.add_parser("sandbox", help="run the embedded sandbox in the foreground")
    sandbox.add_argument("--scenario", default="healthy", help="scenario name or YAML file (default: healthy)")
    sandbox.add_argument("--free-ports", action="store_true", help="pick free ports instead of 5050/5053/5587/5143")
    sandbox.add_argument("--list", action="store_true", help="list the scenarios and exit")
    sandbox.add_argument("--json", action="store_true", help="with --list: name, description and trace_example as JSON")

    sub.add_parser("list", help="list the notebooks with their parameters")

    lab = sub.add_parser(
        "lab", help="JupyterLab on a new investigation folder (copies of the notebooks, parameters applied)"
    )
    _common(lab)
    lab.add_argument("--label", help="incident or ticket label, e.g. INC-1234 (names the folder)")
    lab.add_argument("--out", help="investigation folder (default: investigations/<UTC time>[-LABEL]/)")
    lab.add_argument(
        "--port", type=int, help="JupyterLab's port on 127.0.0.1 (default: 8888 or the next free one; 0: any free one)"
    )
    lab.add_argument("--token", help="JupyterLab's access token (default: a random one, printed by JupyterLab)")
    lab.add_argument(
        "jupyter_args", nargs="*", metavar="-- JUPYTER_ARG", help="passed to JupyterLab after --, e.g. -- --no-browser"
    )

    export = sub.add_parser(
        "export", help="render an investigation folder as a report: HTML per notebook, index.html, summary.json"
    )
    export.add_argument("folder", metavar="DIR", help="investigation folder (investigations/...)")
    export.add_argument("--out", help="where the HTML goes (default: DIR itself)")

    notebooks = sub.add_parser("notebooks", help="the notebook templates shipped with the package")
    notebooks_sub = notebooks.add_subparsers(dest="notebooks_command", required=True, parser_class=_Parser)
    copy = notebooks_sub.add_parser("copy", help="write the notebook templates and parameter files into DIR")
    copy.add_argument("folder", metavar="DIR")

    diagnose = sub.add_parser("diagnose", help="walk a failure mode from symptom to cause and steps")
    _common(diagnose)
    diagnose.add_argument("symptom", nargs="?", default="auto", help="failure mode id, or auto")
    diagnose.add_argument("--json", action="store_true", help="print the diagnosis as JSON")
    diagnose.add_argument(
        "-v", "--verbose", action="store_true", help="also show each symptom's table with the causes ruled out (auto)"
    )

    tracer = sub.add_parser(
        "trace", help="why did this recipient not get our mail: one verdict per address or message id"
    )
    _common(tracer)
    tracer.add_argument(
        "targets", nargs="*", metavar="ADDRESS|MESSAGE_ID", help="recipient addresses or SES message ids"
    )
    tracer.add_argument(
        "--from-file",
        metavar="FILE",
        help="one address or message id a line (up to 10,000; blanks and repeats ignored)",
    )
    tracer.add_argument("--json", action="store_true", help="print the verdicts as JSON")

    mail_test = sub.add_parser("mail-test", help="judge one message: DKIM, SPF, DMARC, one-click unsubscribe")
    _common(mail_test)
    mail_test.add_argument(
        "message",
        nargs="?",
        metavar="MESSAGE.eml",
        help="saved message to judge (DNS only, no AWS); without it: send a probe (send_test_email)",
    )
    mail_test.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def _user_values(args: argparse.Namespace) -> tuple[list[str], list[tuple[str, str]]]:
    return list(args.files), [tuple(p) for p in args.params]


@contextlib.contextmanager
def _maybe_sandbox(scenario: str | None, announce: bool = False) -> Iterator[dict[str, Any]]:
    """Start the sandbox for the duration of a command; yield the parameter overrides."""
    if scenario is None:
        yield {}
        return
    with sandbox_imports():
        from ses_runbook.sandbox import s3store
        from ses_runbook.sandbox.server import Sandbox, describe, restore_env

    box = Sandbox(scenario, s3_dir=s3store.default_dir())  # S3 objects outlive the command, as a bucket's do
    box.start()
    previous = box.apply_env()
    if announce:
        print(describe(box), flush=True)
    try:
        yield box.params()
    finally:
        restore_env(previous)
        box.stop()


def _validate(args: argparse.Namespace) -> None:
    """Bad parameters fail in one line before anything (sandbox, kernels) starts."""

    files, raw = _user_values(args)
    params.load(files, raw_overrides=raw)


def _load(args: argparse.Namespace, overrides: dict[str, Any]) -> Any:
    """The user's parameters with the sandbox's endpoints (when one runs) taking precedence."""

    files, raw = _user_values(args)
    loaded = params.load(files, overrides=overrides, raw_overrides=[r for r in raw if r[0] not in overrides])
    elsewhere = not_aws(loaded.endpoint_url)
    judging = args.command in ("check", "run", "diagnose", "mail-test", "lab")  # what reads an account
    if elsewhere and judging and getattr(args, "sandbox", None) is None and not getattr(args, "_said_endpoint", False):
        args._said_endpoint = True  # once per command, before anything else it prints
        print(f"ses-runbook: {terminal_text(elsewhere)}", file=sys.stderr, flush=True)
    return loaded


def output_format(args: argparse.Namespace) -> str:
    """``--json`` is ``--format json``; the two together must agree (bad input otherwise)."""
    chosen = getattr(args, "format", None)
    if args.json and chosen not in (None, "json"):
        raise UsageError(f"--json and --format {chosen} exclude each other: --json is --format json")
    return "json" if args.json else (chosen or "table")


def cmd_check(args: argparse.Namespace) -> int:
    fmt = output_format(args)
    _validate(args)
    select(args.only)
    with _maybe_sandbox(args.sandbox) as overrides:
        merged = _load(args, overrides)
        show = report_text.progress_printer() if fmt == "table" else None
        report = suite.check_all(merged, ids=args.only, progress=show, scenario=args.sandbox)
    if fmt == "json":
        print(report.to_json())
    elif fmt == "table":
        report_text.print_report(report)
    else:
        # deferred: prometheus_client and the history's figures, for these two formats alone
        from ses_runbook.runs import exports

        render = exports.openmetrics if fmt == "openmetrics" else exports.junit
        print(render(report.to_dict()), end="")
    return report.exit_code


def cmd_run(args: argparse.Namespace) -> int:
    # deferred: the runner (papermill engine, kernels), for `run` alone
    from ses_runbook.runs import runner

    _validate(args)
    names = runner.resolve_notebooks(args.notebooks)
    if args.reports is not None:
        return _run_into_root(args, names)
    if args.keep is not None or args.keep_days is not None or args.notify or args.targets:
        raise UsageError("--keep, --keep-days, --notify and --targets need --reports ROOT")
    with _maybe_sandbox(args.sandbox) as overrides:
        merged = _load(args, overrides)
        result = runner.run_suite(
            merged,
            names,
            out=args.out,
            jobs=max(1, args.jobs),
            label=args.label,
            timeout=args.timeout,
            scenario=args.sandbox,
        )
    return result.exit_code


def _run_into_root(args: argparse.Namespace, names: list[Any]) -> int:
    """``run --reports ROOT``: the root is checked (a folder before the sandbox starts, a bucket once
    its endpoint is known) before any notebook runs."""
    # deferred: the reports root, for `run --reports` alone
    from ses_runbook.runs import notify, reporting, storage
    from ses_runbook.runs.fleet import result_record

    if args.out:
        raise UsageError("--out and --reports exclude each other: --reports chooses the folder")
    if args.keep is not None and args.keep < 1:
        raise UsageError("--keep must be at least 1")
    if args.keep_days is not None and args.keep_days <= 0:
        raise UsageError("--keep-days must be above 0")
    if args.notify:
        notify.parse_target(args.notify)
    root = storage.open_root(args.reports)
    if isinstance(root, storage.LocalRoot):
        root.check_writable()
    if args.targets:
        return _run_fleet(args, root)
    with _maybe_sandbox(args.sandbox) as overrides:
        merged = _load(args, overrides)
        done = reporting.run_into_root(
            merged,
            names,
            args.reports,
            label=args.label,
            jobs=max(1, args.jobs),
            timeout=args.timeout,
            scenario=args.sandbox,
            keep=args.keep,
            keep_days=args.keep_days,
            notify=args.notify,
            notify_on=args.notify_on,
        )
    if args.result_file:
        with open(args.result_file, "w", encoding="utf-8") as handle:
            json.dump(result_record(done), handle)
    return done.exit_code


def _run_fleet(args: argparse.Namespace, root: Any) -> int:
    """``run --targets FILE --reports ROOT``: one process per target, then the fleet index."""
    # deferred: the fleet, for `run --targets` alone
    from ses_runbook.runs import fleet

    targets = fleet.load_targets(args.targets)
    options = [
        f"--{k.replace('_', '-')}={v}"
        for k, v in (
            ("label", args.label),
            ("jobs", args.jobs),
            ("timeout", args.timeout),
            ("keep", args.keep),
            ("keep_days", args.keep_days),
            ("notify", args.notify),
            ("notify_on", args.notify_on),
        )
        if v is not None
    ]
    with _maybe_sandbox(args.sandbox) as overrides:
        base = _load(args, overrides)
        for target in targets.targets:
            fleet.target_params(base, target)  # every target's parameters valid before any runs
        if not isinstance(root, fleet.storage.LocalRoot):
            fleet.storage.open_root(args.reports, base).check_writable()
        rows, where = fleet.run_fleet(base, targets, args.reports, list(args.notebooks), options)
    for row in rows:
        print(terminal_text(f"{row['target']:24} {row['region']:14} {row['worst']:6} {row['path'] or row['error']}"))
    print(f"fleet index: {where}")
    return fleet.worst_exit(rows)


def cmd_history(args: argparse.Namespace) -> int:
    # deferred: the history of a reports root, for `history` alone
    from ses_runbook.runs import history, storage

    _validate(args)
    since = history.parse_since(args.since)
    storage.open_root(args.reports)
    with _maybe_sandbox(args.sandbox) as overrides:
        root = storage.open_root(args.reports, _load(args, overrides))
        if isinstance(root, storage.LocalRoot) and not root.path.is_dir():
            raise ReportsError(f"reports root '{args.reports}' does not exist")
        result = history.history(
            root,
            account=args.account,
            region=args.region,
            since=since,
            warn=lambda m: print(f"ses-runbook: warning: {terminal_text(m)}", file=sys.stderr),
        )
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        history.render_text(result)
    return 0


def cmd_sandbox(args: argparse.Namespace) -> int:
    with sandbox_imports():
        from ses_runbook.sandbox import s3store
        from ses_runbook.sandbox import scenario as scenario_mod
        from ses_runbook.sandbox.server import DEFAULT_PORTS, Sandbox, describe
        from ses_runbook.sandbox.world import DEFAULT_STATE_DIR

    if args.list:
        listed = [scenario_mod.load(name) for name in scenario_mod.available()]
        if args.json:
            print(
                json.dumps(
                    [
                        {
                            "name": s.name,
                            "description": s.description,
                            **({"trace_example": s.trace_example} if s.trace_example else {}),
                        }
                        for s in listed
                    ],
                    indent=2,
                )
            )
            return 0
        for s in listed:
            print(f"{s.name:28} {s.description}" + (f" (trace {s.trace_example})" if s.trace_example else ""))
        return 0
    ports = None if args.free_ports else dict(DEFAULT_PORTS)
    box = Sandbox(args.scenario, ports=ports, state_dir=DEFAULT_STATE_DIR, s3_dir=s3store.default_dir())
    box.start()
    try:
        print(describe(box), flush=True)
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        stop = threading.Event()
        while not stop.wait(3600):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        box.stop()
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    # deferred: the runner reads the notebooks, for `list` alone
    from ses_runbook.runs import runner

    for entry in runner.inspect_all():
        print(f"{entry['name']}: {entry['title']}")
        for p in entry["parameters"]:
            print(f"    {p['name']:22} {p['inferred_type_name']:16} {p['default']:40} {p['help']}")
    print("Each notebook lists the parameters it reads; every notebook accepts every parameter (-f/-p).")
    return 0


def cmd_lab(args: argparse.Namespace) -> int:
    # deferred: JupyterLab's helpers, for `lab` alone
    from ses_runbook.frontends import lab

    _validate(args)
    if args.port is not None and not 0 <= args.port < 65536:
        raise RunbookError(f"--port {args.port} is not a port; allowed: 0 (any free one) to 65535")
    with _maybe_sandbox(args.sandbox, announce=True) as overrides:
        folder = lab.create_investigation(_load(args, overrides), label=args.label, out=args.out, scenario=args.sandbox)
        print(
            f"ses-runbook lab: investigation {folder}; JupyterLab on 127.0.0.1 (Ctrl-C stops JupyterLab, its kernels"
            f"{' and the sandbox' if args.sandbox else ''}); templates stay untouched",
            flush=True,
        )
        code = lab.serve(folder, port=args.port, token=args.token, extra=args.jupyter_args)
    print(f"ses-runbook lab: stopped; `ses-runbook export {folder}` renders it as a report", file=sys.stderr)
    return code


def cmd_export(args: argparse.Namespace) -> int:
    # deferred: JupyterLab's helpers, for `export` alone
    from ses_runbook.frontends import lab

    summary = lab.export(args.folder, args.out)
    out = args.out or args.folder
    print(
        f"exported {len(summary['notebooks'])} notebook(s), worst: {summary['worst']} · report: {os.path.join(out, 'index.html')}"
    )
    return 0


def cmd_notebooks(args: argparse.Namespace) -> int:
    # deferred: the notebooks' home, for `notebooks copy` alone
    from ses_runbook.runs.runner import available, parameters_dir

    target = Path(args.folder)
    sources = [(p, target / p.name) for p in available()]
    sources += [(p, target / "parameters" / p.name) for p in sorted(parameters_dir().glob("*.yaml"))]
    existing = [str(dest) for _, dest in sources if dest.exists()]
    if existing:
        raise RunbookError(f"'{existing[0]}' already exists; nothing was written (choose an empty folder)")
    for source, dest in sources:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest)
    print(f"wrote {len(sources)} files to {target}")
    return 0


def cmd_diagnose(args: argparse.Namespace) -> int:
    # deferred: the remediation catalogue and the fixes, for `diagnose` alone
    from ses_runbook import remediation

    _validate(args)
    remediation.symptom_ids(args.symptom)
    with _maybe_sandbox(args.sandbox) as overrides:
        merged = _load(args, overrides)
        diagnosis = remediation.diagnose(merged, args.symptom)
        if merged.review_evidence_file and {"account-under-review", "account-paused-by-aws"} & {
            f.cause.id for f in diagnosis.confirmed
        }:
            # deferred: the history and the evidence pack, only when the account is under review or paused
            from ses_runbook.runs import evidence

            written = evidence.write_review_evidence(merged, diagnosis.aws, diagnosis.results)
            print(f"review evidence written to {written} (mode 600)", file=sys.stderr)
    if args.json:
        print(diagnosis.to_json())
    else:
        remediation.print_diagnosis(diagnosis, verbose=args.verbose)
    return diagnosis.exit_code


def cmd_mail_test(args: argparse.Namespace) -> int:
    # deferred: the mail tester (DKIM, IMAP, S3 reads), for `mail-test` alone
    from ses_runbook.checks import mailtest

    _validate(args)
    if args.message and args.sandbox is None:
        test = mailtest.mail_test(_load(args, {}), message_file=args.message)
    else:
        with _maybe_sandbox(args.sandbox) as overrides:
            test = mailtest.mail_test(_load(args, overrides), message_file=args.message)
    report = test.report()
    if args.json:
        print(report.to_json())
    else:
        print(terminal_text(test.text()) + "\n" if test.judgement else "", end="")
        report_text.print_report(report)
    return report.exit_code


def cmd_trace(args: argparse.Namespace) -> int:
    # deferred: the trace and its guarded fix (remediation), for `trace` alone
    from ses_runbook.checks import trace
    from ses_runbook.core.aws import Aws
    from ses_runbook.remediation import fixes_text
    from ses_runbook.remediation.fixes import unsuppress_traced

    _validate(args)
    named = list(args.targets) + (trace.read_file(args.from_file) if args.from_file else [])
    addresses, ids = trace.targets(named)
    with _maybe_sandbox(args.sandbox) as overrides:
        merged = _load(args, overrides)
        if not named:
            addresses, ids = trace.targets([*(merged.trace_recipients or []), *(merged.trace_message_ids or [])])
        if not addresses and not ids:
            raise UsageError("name an address or SES message id to trace (or --from-file FILE)")
        aws = Aws(merged)
        report = trace.trace(merged, aws, addresses, ids)
        fixes = unsuppress_traced(merged, aws, report)
        report.calls = aws.stats()
    if args.json:
        print(json.dumps({**report.to_dict(), "fixes": [f.to_dict() for f in fixes]}, indent=2, default=str))
    else:
        print(trace.text(report))
        if fixes:
            print(fixes_text(fixes))
    return report.exit_code


COMMANDS = {
    "check": cmd_check,
    "run": cmd_run,
    "history": cmd_history,
    "sandbox": cmd_sandbox,
    "list": cmd_list,
    "diagnose": cmd_diagnose,
    "lab": cmd_lab,
    "export": cmd_export,
    "notebooks": cmd_notebooks,
    "mail-test": cmd_mail_test,
    "trace": cmd_trace,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except RunbookError as exc:
        print(f"ses-runbook: {terminal_text(exc)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("ses-runbook: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
