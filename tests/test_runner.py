"""The runner end to end: the bundle, its links, failures kept apart, kernels reused without leaks."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from ses_runbook.runs import runner
from support import run_cli, write_notebook


def test_bundle_contents_and_links(sandbox, tmp_path) -> None:
    books = runner.resolve_notebooks(["00_health_check", "05"])
    suite = runner.run_suite(sandbox.params, books, out=tmp_path / "r", jobs=1, label="INC-1234", quiet=True)
    out = tmp_path / "r"
    assert suite.exit_code == 0 and not (out / "INCOMPLETE").exists()
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert [n["name"] for n in summary["notebooks"]] == ["00_health_check", "05_account_sending"]
    assert {c["notebook"] for c in summary["checks"]} == {"00_health_check", "05_account_sending"}
    run = summary["run"]
    assert run["label"] == "INC-1234" and run["account"] == "123456789012" and run["complete"] is True
    assert run["versions"]["papermill"] and run["aws_calls"]["total"] > 0 and run["parameters"]["region"] == "us-east-1"
    index = (out / "index.html").read_text(encoding="utf-8")
    links = re.findall(r"href='([^']+)'", index)
    assert links and all((out / link).is_file() for link in links)
    page = (out / "00_health_check.html").read_text(encoding="utf-8")
    first_screen = page[page.index("<body") :][:3000]
    assert "INC-1234" in first_screen and "123456789012" in first_screen and "us-east-1" in first_screen
    assert "rb.check(" not in page  # no code cells in the rendering
    for name in ("00_health_check", "05_account_sending"):  # the second ran in the first one's kernel
        executed = nbformat.read(out / f"{name}.ipynb", as_version=4)
        streams = [
            o.get("text", "") for c in executed.cells for o in c.get("outputs", []) if o.get("output_type") == "stream"
        ]
        assert not any("ERROR" in text or "Traceback" in text for text in streams), streams


def test_a_failing_notebook_does_not_stop_the_others_nor_leak_into_them(sandbox, tmp_path) -> None:
    write_notebook(tmp_path / "50_broken.ipynb", "leaked = 42", "1 / 0")
    write_notebook(
        tmp_path / "51_clean.ipynb",
        "assert 'leaked' not in globals(), 'state leaked between notebooks'",
        "from ses_runbook.runs import notebook\nrb = notebook.start(globals())\nrb.check('account.sending_enabled')\nrb.record()",
    )
    books = [tmp_path / "50_broken.ipynb", tmp_path / "51_clean.ipynb"]
    suite = runner.run_suite(sandbox.params, books, out=tmp_path / "r", jobs=1, quiet=True)  # one kernel, reused
    notebooks = {n["name"]: n for n in suite.summary["notebooks"]}
    assert "ZeroDivisionError" in notebooks["50_broken"]["error"] and notebooks["50_broken"]["error"].startswith(
        "cell "
    )
    assert notebooks["51_clean"]["error"] is None and notebooks["51_clean"]["checks"] == 1
    assert suite.exit_code == 2 and suite.summary["worst"] == "error"
    assert (tmp_path / "r" / "50_broken.ipynb").exists() and (tmp_path / "r" / "50_broken.html").exists()


def test_a_notebook_that_kills_its_kernel_is_reported_and_the_next_gets_a_new_one(sandbox, tmp_path) -> None:
    write_notebook(tmp_path / "52_dies.ipynb", "print('reached the first cell')", "import os\nos._exit(1)")
    write_notebook(
        tmp_path / "53_after.ipynb",
        "from ses_runbook.runs import notebook\nrb = notebook.start(globals())\n"
        "rb.check('account.sending_enabled')\nrb.record()",
    )
    books = [tmp_path / "52_dies.ipynb", tmp_path / "53_after.ipynb"]
    suite = runner.run_suite(sandbox.params, books, out=tmp_path / "r", jobs=1, timeout=60, quiet=True)  # one slot
    notebooks = {n["name"]: n for n in suite.summary["notebooks"]}
    assert notebooks["52_dies"]["error"] and "DeadKernel" in notebooks["52_dies"]["error"], notebooks["52_dies"]
    assert notebooks["53_after"]["error"] is None and notebooks["53_after"]["checks"] == 1
    assert suite.exit_code == 2
    assert "reached the first cell" in _streams(tmp_path / "r" / "52_dies.ipynb")  # written up to where it stopped
    assert (tmp_path / "r" / "52_dies.html").exists()


def test_a_notebook_that_times_out_is_written_up_to_the_cell_that_hung(sandbox, tmp_path) -> None:
    write_notebook(
        tmp_path / "54_hangs.ipynb",
        "print('reached the first cell')",
        "import time\ntime.sleep(120)",
        "print('never reached')",
    )
    suite = runner.run_suite(
        sandbox.params, [tmp_path / "54_hangs.ipynb"], out=tmp_path / "r", jobs=1, timeout=3, quiet=True
    )
    (hung,) = suite.summary["notebooks"]
    assert hung["error"] and "Timeout" in hung["error"], hung
    streams = _streams(tmp_path / "r" / "54_hangs.ipynb")
    assert "reached the first cell" in streams and "never reached" not in streams
    assert (tmp_path / "r" / "54_hangs.html").exists() and suite.exit_code == 2


def _streams(path: Path) -> str:
    executed = nbformat.read(path, as_version=4)
    return "".join(
        o.get("text", "") for c in executed.cells for o in c.get("outputs", []) if o.get("output_type") == "stream"
    )


@pytest.mark.parametrize("sandbox", ["sending-disabled"], indirect=True)
def test_failing_scenario_turns_worst_to_fail(sandbox, tmp_path) -> None:
    suite = runner.run_suite(sandbox.params, runner.resolve_notebooks(["05"]), out=tmp_path / "r", jobs=1, quiet=True)
    assert suite.summary["worst"] == "fail" and suite.exit_code == 1
    failed = [c["id"] for c in suite.summary["checks"] if c["status"] == "fail"]
    assert failed == ["account.sending_enabled"]


def test_unknown_notebook_is_one_line() -> None:
    proc = run_cli("run", "99_nothing")
    assert (
        proc.returncode == 2
        and len(proc.stderr.strip().splitlines()) == 1
        and "unknown notebook '99_nothing'" in proc.stderr
    )


def test_list_explains_every_parameter() -> None:
    proc = run_cli("list")
    assert proc.returncode == 0
    assert (
        "01_quota_and_statistics" in proc.stdout
        and "lookback_days" in proc.stdout
        and "days of statistics" in proc.stdout
    )
