"""nbval: a fresh run of every notebook against the sandbox matches its committed outputs."""

from __future__ import annotations

import re
import subprocess
import sys

import nbformat
import pytest

from ses_runbook.core import params as params_mod
from ses_runbook.remediation import SYMPTOMS
from ses_runbook.runs.notebook import parameters_source
from ses_runbook.runs.runner import KernelPool, available
from support import ROOT

NOTEBOOKS = available()
# What hand-written remediation looks like in a markdown cell: "When it is not ok ...", "**When ... rise**",
# "(failure mode `X`): do this". The steps live in the catalogue alone; a notebook shows them with rb.remedy.
HAND_WRITTEN = re.compile(r"\bwhen\b[^.\n]{0,60}\bnot ok\b|\*\*when\b|failure mode\s*`", re.IGNORECASE)
REMEDY = re.compile(r"\brb\.remedy\(([^)]*)\)")


def test_nbval_matches_committed_outputs(sandbox, sample_history, tmp_path) -> None:
    """Every notebook in one nbval session (one kernel each, as nbval does) against the healthy sandbox
    at the committed outputs' as_of: each of its cells' outputs matches the committed ones, and every
    notebook was compared."""
    report = tmp_path / "nbval.xml"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--nbval",
            "--nbval-current-env",
            "--nbval-sanitize-with",
            str(ROOT / "tests" / "nbval_sanitize.cfg"),
            "--rootdir",
            str(ROOT / "notebooks"),
            f"--junitxml={report}",
            *map(str, NOTEBOOKS),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        env={**sandbox.env, "SES_RUNBOOK_REPORTS_ROOT": str(sample_history)},  # 11_history reads the sample root
        cwd=ROOT / "notebooks",
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    import xml.etree.ElementTree as ET

    cases = ET.parse(report).getroot().iter("testcase")
    compared = {case.get("classname", "").split(".")[0] for case in cases if not list(case)}  # passed: no child element
    assert compared == {p.stem for p in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_parameters_cell_is_the_model(path) -> None:
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1 and cells[0].source == parameters_source(path.stem)
    assert nb.cells.index(cells[0]) == 1  # right after the title: the first code cell


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_parameters_cell_fits_on_a_screen(path) -> None:
    nb = nbformat.read(path, as_version=4)
    [cell] = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    lines = [line for line in cell.source.splitlines() if re.match(r"^[a-z_]+: ", line)]
    assert 4 <= len(lines) <= 15, lines


def test_every_notebook_accepts_the_production_parameter_file(
    sandbox, sample_history, tmp_path, caplog, monkeypatch
) -> None:
    """`papermill -f parameters/phenom.yaml` on each notebook (pointed at the sandbox): parameters a
    notebook's cell does not list are injected with papermill's warning, and the notebook runs."""
    import logging

    import papermill
    import yaml

    from ses_runbook.core.results import read_recorded

    monkeypatch.setattr(
        logging.getLogger("papermill"), "filters", []
    )  # the runner quiets these; plain papermill does not
    monkeypatch.setenv("SES_RUNBOOK_AS_OF", sandbox.as_of)  # the kernels' environment, as nbval's
    monkeypatch.setenv("SES_RUNBOOK_REPORTS_ROOT", str(sample_history))
    values = {
        **yaml.safe_load((ROOT / "parameters" / "phenom.yaml").read_text()),
        **sandbox.box.params(),
        "aws_profile": None,
    }
    kernels = KernelPool(1, "python3", ROOT / "notebooks")  # one kernel, reset between notebooks, as `run` does
    try:
        for path in NOTEBOOKS:
            caplog.clear()
            km = kernels.acquire(path.parent)
            try:
                papermill.execute_notebook(
                    str(path),
                    str(tmp_path / path.name),
                    parameters=values,
                    kernel_name=km.kernel_name,
                    km=km,
                    progress_bar=False,
                    cwd=str(path.parent),
                )
            finally:
                kernels.release(km, healthy=True)
            unknown = {
                r.getMessage().split(": ", 1)[1] for r in caplog.records if "Passed unknown parameter" in r.getMessage()
            }
            assert unknown == set(values) - set(params_mod.notebook_parameters(path.stem)), path.stem
            recorded = read_recorded(nbformat.read(tmp_path / path.name, as_version=4))
            assert recorded["checks"] or path.stem in ("02_send_test_email", "11_history"), (
                path.stem
            )  # 11 reads earlier runs
    finally:
        kernels.shutdown()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_remediation_text_comes_from_the_catalogue_only(path) -> None:
    """No markdown cell says what to do when a check is not ok: a code cell asks the catalogue
    (``rb.remedy("failure-mode")``), naming a failure mode it knows."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            found = HAND_WRITTEN.search(cell.source)
            assert found is None, f"{path.stem}: hand-written remediation in a markdown cell: {found.group(0)!r}"
    for args in (m for c in nb.cells if c.cell_type == "code" for m in REMEDY.findall(c.source)):
        names = re.findall(r"[\"']([^\"']+)[\"']", args)
        assert set(names) <= set(SYMPTOMS), (path.stem, args)


def test_the_notebooks_with_checks_show_the_catalogue_steps() -> None:
    """Every notebook that runs checks and had its own "what to do" text now shows the catalogue's."""
    calling = {
        p.stem for p in NOTEBOOKS if REMEDY.search("\n".join(c.source for c in nbformat.read(p, as_version=4).cells))
    }
    assert calling >= {
        "00_health_check",
        "01_quota_and_statistics",
        "02_send_test_email",
        "03_domain_verification",
        "04_dkim",
        "05_account_sending",
        "06_smtp_credentials",
        "07_cloudwatch_metrics",
        "09_feedback",
        "10_mail_tester",
        "12_trace",
    }
