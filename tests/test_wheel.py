"""The package is a package: a wheel built by `python -m build`, installed outside the checkout, runs the
suite; what `pip install ses-runbook` installs leaves the sandbox out; environment.yml lists what pyproject does."""

from __future__ import annotations

import email.parser
import json
import os
import re
import subprocess
import sys
import sysconfig
import zipfile
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from ses_runbook.frontends.sandboxing import EXTRA_MODULES
from support import ROOT

tomllib = pytest.importorskip("tomllib")

# environment.yml's extras (Airflow has an environment of its own)
DEVELOPMENT_EXTRAS = ("sandbox", "test", "lab", "lint", "mutation")


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _names(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in requirements}


def _sandbox_parts() -> set[str]:
    """The distributions the front ends look for before starting the sandbox: those that install
    ``sandboxing.EXTRA_MODULES``, as the installed metadata maps modules to distributions."""
    installed = packages_distributions()
    return {canonicalize_name(dist) for module in EXTRA_MODULES for dist in installed.get(module, [module])}


def _assert_base_requirements_leave_out_the_sandbox(wheel: Path) -> None:
    """The wheel's Requires-Dist: without an extra, pyproject's dependencies and none of the sandbox's
    parts; the sandbox's parts only under `extra == "sandbox"` (what `ses-runbook[sandbox]` adds)."""
    with zipfile.ZipFile(wheel) as archive:
        [metadata] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        requires = email.parser.Parser().parsestr(archive.read(metadata).decode("utf-8")).get_all("Requires-Dist")
    base = [r for r in requires or [] if Requirement(r).marker is None]
    sandbox = [r for r in requires or [] if re.search(r"""extra\s*==\s*["']sandbox["']""", r)]
    parts = _sandbox_parts()
    assert _names(base) & parts == set(), base
    assert _names(base) == _names(_pyproject()["project"]["dependencies"]), base
    assert _names(sandbox) == parts == _names(_pyproject()["project"]["optional-dependencies"]["sandbox"])


def test_the_sandbox_extra_is_what_the_front_ends_look_for() -> None:
    """pyproject's `sandbox` extra and ``sandboxing.EXTRA_MODULES`` name the same distributions: a
    part added to one alone fails here (and the wheel's metadata is held to both below)."""
    assert _sandbox_parts() == _names(_pyproject()["project"]["optional-dependencies"]["sandbox"])


def test_every_package_under_lib_is_in_the_wheel() -> None:
    """pyproject lists the packages (the notebooks' mapping needs it): none under lib/ may be missing."""
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT / "lib").parts) for p in (ROOT / "lib").rglob("__init__.py")}
    assert found <= listed, found - listed
    assert _pyproject()["project"]["license"] == "MIT"  # SPDX form: no license-field warning when building


def test_environment_yml_is_the_dependencies_and_the_development_extras() -> None:
    """environment.yml (for those who develop with conda) pip-installs exactly pyproject's dependencies
    and those of the sandbox, test, lab, lint and mutation extras, each once, then the checkout; its Python is one
    the package supports."""
    project = _pyproject()["project"]
    expected = list(project["dependencies"])
    for extra in DEVELOPMENT_EXTRAS:
        for requirement in project["optional-dependencies"][extra]:
            if canonicalize_name(Requirement(requirement).name) == "ses-runbook":  # an extra of the package's own
                assert Requirement(requirement).extras <= set(DEVELOPMENT_EXTRAS), requirement
            elif requirement not in expected:
                expected.append(requirement)
    environment = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    [pip] = [entry["pip"] for entry in environment["dependencies"] if isinstance(entry, dict)]
    assert sorted(pip) == sorted([*expected, "-e ."])
    [python] = [entry for entry in environment["dependencies"] if str(entry).startswith("python=")]
    assert SpecifierSet(project["requires-python"]).contains(python.split("=", 1)[1] + ".0"), python


def test_wheel_installed_elsewhere_runs_the_suite(tmp_path) -> None:
    dist = tmp_path / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    assert "license" not in built.stderr.lower(), built.stderr[-2000:]  # the deprecated table form warned here
    [wheel] = dist.glob("ses_runbook-*.whl")
    _assert_base_requirements_leave_out_the_sandbox(wheel)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", str(wheel)],
        check=True,
        timeout=300,
    )
    # The dependencies come from this environment (a path entry, not its editable finder), so the test
    # needs no index and stays fast; `ses_runbook` itself is only the wheel's copy.
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(purelib) / "deps-from-test-env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SES_RUNBOOK_NOTEBOOKS")}
    env["JUPYTER_PATH"] = str(
        Path(sys.prefix) / "share" / "jupyter"
    )  # the borrowed dependencies' data (nbconvert's templates)
    where = subprocess.run(
        [str(python), "-c", "import ses_runbook.runs.runner as r; print(r.__file__); print(r.notebook_dir())"],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env=env,
        check=True,
    ).stdout.split()
    assert all(str(venv) in line for line in where), where

    cli = str(venv / "bin" / "ses-runbook")
    run = subprocess.run(
        [cli, "run", "--sandbox", "--out", str(tmp_path / "r"), "--jobs", "2"],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env=env,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["worst"] == "ok" and len(summary["notebooks"]) == len(
        list((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    )
    assert "Passed unknown parameter" not in run.stderr

    copy = subprocess.run(
        [cli, "notebooks", "copy", str(tmp_path / "copy")], capture_output=True, text=True, cwd=elsewhere, env=env
    )
    assert copy.returncode == 0, copy.stderr
    for source in [*(ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")]:
        assert (tmp_path / "copy" / source.name).read_bytes() == source.read_bytes()
    for source in (ROOT / "parameters").glob("*.yaml"):
        assert (tmp_path / "copy" / "parameters" / source.name).read_bytes() == source.read_bytes()
    again = subprocess.run(
        [cli, "notebooks", "copy", str(tmp_path / "copy")], capture_output=True, text=True, cwd=elsewhere, env=env
    )
    assert again.returncode == 2 and again.stderr.count("\n") == 1 and "already exists" in again.stderr
