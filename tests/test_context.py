"""The run's context block, built in one place: ``check --json``, a run's ``summary.json``, an
investigation's ``investigation.json``, its export and a notebook's ``rb.context()`` say the same."""

from __future__ import annotations

import json
import shutil

import nbformat

from ses_runbook.core import context
from ses_runbook.frontends import lab
from ses_runbook.runs import runner
from ses_runbook.runs.notebook import parameters_source

# The keys of every context block (the public contract: as_of, account, region, the package's
# version, the duration and the AWS calls among them).
CONTEXT_KEYS = {
    "as_of",
    "started",
    "account",
    "region",
    "endpoint_url",
    "profile",
    "operator",
    "host",
    "label",
    "scenario",
    "version",
    "versions",
    "duration_s",
    "aws_calls",
    "parameters",
}
SAME = ("as_of", "account", "region", "endpoint_url", "profile", "operator", "host", "version", "versions")


def _context_notebook(path) -> None:
    cells = [nbformat.v4.new_code_cell(parameters_source("00_health_check"))]
    cells[0].metadata["tags"] = ["parameters"]
    cells.append(
        nbformat.v4.new_code_cell(
            "from ses_runbook.runs import notebook\nrb = notebook.start(globals())\nrb.context()\n"
            "rb.check('account.sending_enabled')\nrb.record()"
        )
    )
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_every_report_carries_the_same_context_block(sandbox, tmp_path) -> None:
    assert set(context.KEYS) == CONTEXT_KEYS

    proc = sandbox.cli("check", "--json", "--only", "account.sending_enabled")
    assert proc.returncode == 0, proc.stderr
    checked = json.loads(proc.stdout)["run"]

    _context_notebook(tmp_path / "50_context.ipynb")
    suite = runner.run_suite(
        sandbox.params, [tmp_path / "50_context.ipynb"], out=tmp_path / "r", jobs=1, label="INC-9", quiet=True
    )
    assert suite.exit_code == 0, suite.summary["notebooks"]
    ran = json.loads((tmp_path / "r" / "summary.json").read_text(encoding="utf-8"))["run"]

    folder = lab.create_investigation(sandbox.params, label="INC-9", out=tmp_path / "inv", notebooks=[])
    opened = json.loads((folder / lab.CONTEXT_FILE).read_text(encoding="utf-8"))
    shutil.copy(tmp_path / "r" / "50_context.ipynb", folder / "50_context.ipynb")  # as if run in JupyterLab
    exported = lab.export(folder, out=tmp_path / "x")["run"]

    assert set(checked) == CONTEXT_KEYS
    assert set(opened) == CONTEXT_KEYS
    assert set(ran) == CONTEXT_KEYS | {"complete"}
    assert set(exported) == CONTEXT_KEYS | {"complete", "exported", "interactive"}
    for key in SAME:
        assert checked[key] == ran[key] == opened[key] == exported[key], key
    assert ran["label"] == exported["label"] == "INC-9" and ran["parameters"] == exported["parameters"]
    assert ran["aws_calls"]["by_operation"]["sesv2.GetAccount"] >= 1  # the notebook's calls are counted

    # The table rb.context() showed in the notebook: the same facts, from the same builder.
    executed = nbformat.read(tmp_path / "r" / "50_context.ipynb", as_version=4)
    shown = next(
        o["data"]["text/plain"]
        for c in executed.cells
        for o in c.get("outputs", [])
        if "as of (UTC)" in o.get("data", {}).get("text/plain", "")
    )
    for fact in (context.readable(ran["as_of"]), ran["account"], f"{ran['operator']}@{ran['host']}", ran["version"]):
        assert fact in shown, (fact, shown)
