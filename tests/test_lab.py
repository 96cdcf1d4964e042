"""`ses-runbook lab` and `export`: investigations are copies, the templates never change, a stop leaves nothing."""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path

import nbformat
import pytest

from ses_runbook.frontends import lab
from ses_runbook.runs import runner
from support import ROOT, Lab, alive, hashes, run_cli

TEMPLATES = ROOT / "notebooks"


def test_investigation_is_a_parameterised_copy(sandbox, tmp_path) -> None:
    before = hashes(TEMPLATES, "*")
    params = sandbox.params.model_copy(update={"symptom": "emails-not-delivered"})
    folder = lab.create_investigation(params, label="INC-7", out=tmp_path / "inv", scenario="healthy")
    assert hashes(TEMPLATES, "*") == before
    names = sorted(p.name for p in folder.glob("*.ipynb"))
    assert names == sorted(p.name for p in runner.available())
    nb = nbformat.read(folder / "08_remediation.ipynb", as_version=4)
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    assert "injected-parameters" in tags[tags.index(["parameters"]) + 1]  # papermill's place for it
    injected = nb.cells[tags.index(["parameters"]) + 1].source
    assert 'symptom = "emails-not-delivered"' in injected and sandbox.box.endpoint_url in injected
    assert nb.metadata.kernelspec.display_name == "Python (ses-runbook)"
    assert not any(c.get("outputs") for c in nb.cells)  # no stale findings from the templates' baseline run
    context = json.loads((folder / "investigation.json").read_text())
    assert context["label"] == "INC-7" and context["account"] == "123456789012"
    assert context["parameters"]["symptom"] == "emails-not-delivered"


def test_investigation_folder_is_never_reused(tmp_path) -> None:
    (tmp_path / "inv").mkdir()
    (tmp_path / "inv" / "notes.txt").write_text("mine")
    proc = run_cli("lab", "--out", str(tmp_path / "inv"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "already exists" in proc.stderr


def test_export_of_a_folder_that_is_not_an_investigation(tmp_path) -> None:
    proc = run_cli("export", str(tmp_path))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "not an investigation folder" in proc.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_leaves_nothing_running(tmp_path, signum) -> None:
    session = Lab(tmp_path, "--sandbox")
    try:
        session.wait_ready()
        session.open("00_health_check.ipynb")
        deadline = time.monotonic() + 60
        kernels: set[int] = set()
        while not kernels and time.monotonic() < deadline:
            time.sleep(0.5)
            kernels = {p for p in session.descendants() if b"ipykernel" in Path(f"/proc/{p}/cmdline").read_bytes()}
        assert kernels, "no kernel started"
        everything = session.descendants()
        code = session.signal(signum)
    finally:
        session.close()
    assert code == 0, (tmp_path / "lab.log").read_text()[-3000:]
    time.sleep(0.5)
    assert alive(everything | {session.proc.pid}) == []
    assert "stopped" in (tmp_path / "lab.log").read_text()


def test_a_session_that_ran_every_notebook_leaves_the_templates_alone_and_exports(tmp_path) -> None:
    before = hashes(TEMPLATES, "*")
    session = Lab(tmp_path, "--sandbox", "--label", "X")
    try:
        session.wait_ready()
        for path in runner.available():
            nb = session.run_all(path.name)
            errors = [o for c in nb["cells"] for o in c.get("outputs", []) if o["output_type"] == "error"]
            assert not errors, (path.name, errors[:1])
        assert session.signal(signal.SIGTERM) == 0
    finally:
        session.close()
    assert hashes(TEMPLATES, "*") == before
    executed = nbformat.read(session.folder / "00_health_check.ipynb", as_version=4)
    assert any(
        o.get("data", {}).get("text/html", "").count(">ok<") for c in executed.cells for o in c.get("outputs", [])
    )

    out = tmp_path / "html"
    proc = run_cli("export", str(session.folder), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["worst"] == "ok" and len(summary["notebooks"]) == len(runner.available())
    page = (out / "00_health_check.html").read_text()
    first_screen = page[page.index("<body") :][:3000]
    assert "123456789012" in first_screen and "<b>X</b>" in first_screen and "parameters" in first_screen
    assert "rb.check(" not in page
    index = (out / "index.html").read_text()
    assert all((out / link).is_file() for link in re.findall(r"href='([^']+)'", index))
    assert list(out.glob("07_cloudwatch_metrics-*.png"))


def test_a_port_out_of_range_is_refused_in_one_line(tmp_path) -> None:
    proc = run_cli("lab", "--out", str(tmp_path / "inv"), "--port", "65536")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "--port 65536 is not a port" in proc.stderr
    assert not (tmp_path / "inv").exists()
