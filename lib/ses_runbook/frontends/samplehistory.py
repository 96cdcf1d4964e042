"""A small reports root built by the library from the sandbox at fixed ``as_of`` values: what the
``11_history`` notebook's committed outputs (and nbval) read, identical wherever it is built.

``python -m ses_runbook.frontends.samplehistory DIR`` runs every check in-process (no kernels) once per
entry of ``RUNS``, each against its scenario's sandbox, and writes each result the way a run
into a reports root does (``summary.json`` with figures and thresholds, in
``DIR/<account>/<region>/<as_of>/``). It starts its own sandboxes, one after the other, so it
runs in a process that has none (``make notebooks`` and the nbval fixture call it as a command).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from datetime import datetime
from pathlib import Path

from ses_runbook.checks import suite
from ses_runbook.core import params as params_mod
from ses_runbook.frontends.regenerate import FIXED_AS_OF
from ses_runbook.frontends.sandboxing import sandbox_imports, says_what_to_install
from ses_runbook.runs import history, storage

RUNS = (  # (scenario, as_of): a healthy day, a bounce spike for two runs, the recovery
    ("healthy", "2026-10-29T00:00:00Z"),
    ("bounce-spike", "2026-10-30T00:00:00Z"),
    ("bounce-spike", "2026-10-31T00:00:00Z"),
    ("healthy", FIXED_AS_OF),  # the committed outputs' as_of: 11_history's latest run
)


def build(folder: Path) -> list[str]:
    with sandbox_imports():
        from ses_runbook.sandbox.server import Sandbox, restore_env

    shutil.rmtree(folder, ignore_errors=True)
    root = storage.LocalRoot(str(folder))
    root.check_writable()
    written = []
    for scenario, as_of in RUNS:
        with Sandbox(scenario, as_of=as_of) as box:
            previous = box.apply_env()
            try:
                params = params_mod.load(overrides={**box.params(), "as_of": as_of})
                report = suite.check_all(params)
            finally:
                restore_env(previous)
        summary = report.to_dict()
        summary["run"].update(started=as_of, scenario=scenario, operator="sample", host="sample")
        summary["figures"] = history.figures(summary["checks"], summary["run"])
        summary["thresholds"] = history.thresholds(params)
        when = datetime.fromisoformat(as_of.replace("Z", "+00:00"))
        slot = root.claim(summary["run"]["account"], summary["run"]["region"], when, None)
        (slot.local / storage.SUMMARY).write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
        written.append(slot.path)
    return written


@says_what_to_install
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ses_runbook.frontends.samplehistory", description=__doc__.splitlines()[0]
    )
    parser.add_argument("folder", help="the reports root to (re)create")
    args = parser.parse_args(argv)
    for path in build(Path(args.folder)):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
