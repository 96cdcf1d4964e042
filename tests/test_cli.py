"""The CLI end to end as a subprocess: exit codes, JSON shape, one-line errors for bad input."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib.metadata import packages_distributions, requires

import pytest

from ses_runbook.core.errors import SandboxExtraError
from ses_runbook.frontends.sandboxing import EXTRA_MODULES, sandbox_imports
from support import ROOT, run_cli, terminal_neutral

CHECK_KEYS = {"id", "title", "status", "summary", "details", "remediation", "cli"}


def test_check_json_shape_and_exit_code(sandbox) -> None:
    proc = sandbox.cli("check", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert set(data) == {"run", "checks", "worst"}
    assert data["worst"] == "ok"
    for check in data["checks"]:
        assert set(check) == CHECK_KEYS
    run = data["run"]
    for key in ("as_of", "account", "region", "version", "duration_s", "aws_calls"):
        assert key in run
    assert run["account"] == "123456789012" and run["region"] == "us-east-1"
    assert run["aws_calls"]["total"] >= 6


@pytest.mark.parametrize(
    "scenario,check_id,status,code",
    [
        ("sandbox-account", "account.production_access", "fail", 1),
        ("quota-nearly-exhausted", "quota.headroom", "warn", 0),
    ],
)
def test_check_sandbox_flag(scenario: str, check_id: str, status: str, code: int) -> None:
    proc = run_cli("check", f"--sandbox={scenario}", "--json")
    assert proc.returncode == code, proc.stderr
    data = json.loads(proc.stdout)
    found = {c["id"]: c["status"] for c in data["checks"]}
    assert found[check_id] == status


def test_table_output_lists_failure_and_command() -> None:
    proc = run_cli("check", "--sandbox=sending-disabled")
    assert proc.returncode == 1
    assert "account.sending_enabled" in proc.stdout and "DISABLED" in proc.stdout
    assert "aws ses get-account-sending-enabled" in proc.stdout


BAD_INPUT = [
    (["-p", "region", "us-east-9"], "region"),
    (["-p", "sender", "not-an-address"], "sender"),
    (["-p", "lookback_days", "lots"], "lookback_days"),
    (["-p", "lookback_days", "-3"], "lookback_days"),
    (["-p", "no_such_parameter", "1"], "no_such_parameter"),
    (["-p", "domain", ""], "domain"),
    (["-p", "endpoint_url", "not a url"], "endpoint_url"),
    (["-p", "smtp_tls_ca_file", "/nonexistent/ca.pem"], "smtp_tls_ca_file"),
    (["-p", "test_recipient", "x@"], "test_recipient"),
    (["-p", "smtp_password_env", "hunter2 secret"], "smtp_password_env"),
    (["-f", "/nonexistent/params.yaml"], "does not exist"),
    (["--sandbox=no-such-scenario"], "unknown scenario"),
    (["--only", "no.such_check"], "unknown check id"),
    (["-p", "lookback_days", "0"], "lookback_days"),
    (["-p", "lookback_days", "456"], "lookback_days"),
    (["-p", "metrics_period_s", "30"], "metrics_period_s"),
    (["-p", "bounce_rate_warn", "2"], "bounce_rate_warn"),
    (["-p", "bounce_rate_warn", "0.2"], "bounce_rate_warn"),  # above its fail level
    (["-p", "dns_nameservers", "127.0.0.1:99999"], "dns_nameservers"),
    (["-p", "smtp_port", "0"], "smtp_port"),
    (["-p", "as_of", "yesterday"], "as_of"),
    (["-p", "send_test_email", "maybe"], "send_test_email"),
    (["-p", "region", "12"], "region"),
]


@pytest.mark.parametrize("args,named", BAD_INPUT)
def test_bad_input_is_one_line_exit_2(args: list[str], named: str) -> None:
    proc = run_cli("check", *args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert named in lines[0]
    assert "Traceback" not in proc.stderr


def test_bad_yaml_file(tmp_path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("region: [us-east-1\n")
    proc = run_cli("check", "-f", str(broken))
    assert proc.returncode == 2 and "not valid YAML" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_missing_profile_is_one_line(tmp_path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }
    proc = run_cli("check", "-p", "aws_profile", "phenom", env=env)
    assert proc.returncode == 2 and "profile 'phenom' not found" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_no_credentials_is_one_line(tmp_path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
        **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),  # this checkout's code
    }
    proc = run_cli("check", "-p", "endpoint_url", "http://127.0.0.1:9", env=env)
    assert proc.returncode == 2 and "no AWS credentials found" in proc.stderr, proc.stderr
    # the endpoint is not AWS: that comes first, then the refusal in one line
    first, *rest = proc.stderr.strip().splitlines()
    assert "http://127.0.0.1:9 is not AWS" in first and len(rest) == 1


def test_phenom_parameters_file_loads() -> None:
    from ses_runbook.core import params

    p = params.load([ROOT / "parameters" / "phenom.yaml"])  # not relative: pytest may start in any folder
    assert (p.aws_profile, p.region, p.domain, p.sender) == (
        "phenom",
        "us-east-1",
        "thephenom.app",
        "no-reply@thephenom.app",
    )


@pytest.mark.parametrize(
    "args,named",
    [
        (["-p", "region", "us-east-9"], "region"),
        (["no_such_notebook"], "unknown notebook"),
        (["--sandbox=nope"], "unknown scenario"),
    ],
)
def test_bad_input_to_run_writes_no_report_folder(tmp_path, args: list[str], named: str) -> None:
    out = tmp_path / "report"
    proc = run_cli("run", "--out", str(out), *args)
    assert proc.returncode == 2 and named in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists()


# -- without the sandbox extra: one line that says what to install ------------------------------------
def _sandbox_extra_modules() -> set[str]:
    """The top-level modules of the `sandbox` extra's distributions (as the installed package's metadata lists them)."""
    extra = [r for r in requires("ses-runbook") or [] if re.search(r"""extra\s*==\s*["']sandbox["']""", r)]
    names = {re.match(r"[A-Za-z0-9_.-]+", r).group(0).lower() for r in extra}
    return {module for module, dists in packages_distributions().items() if {d.lower() for d in dists} & names}


# A front end run as if only `pip install ses-runbook` had been: a finder first on the import path
# refuses every module of the extra's distributions (and their submodules).
WITHOUT_EXTRA = """
import runpy, sys

class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {absent!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, Absent())
sys.argv[0] = {module!r}
runpy.run_module({module!r}, run_name="__main__", alter_sys=True)
"""
NEEDS_THE_EXTRA = "ses-runbook: the sandbox needs its extra: pip install 'ses-runbook[sandbox]' (no module named "


def _without_extra(module: str, *args: str, env: dict | None = None):
    code = WITHOUT_EXTRA.format(absent=sorted(_sandbox_extra_modules()), module=module)
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        env=terminal_neutral({**os.environ, **(env or {})}),
        cwd=ROOT,
    )


def test_the_front_ends_look_for_exactly_the_modules_of_the_extra() -> None:
    assert set(EXTRA_MODULES) == _sandbox_extra_modules()
    assert {"moto", "flask", "aiosmtpd", "dnslib", "pymap"} <= _sandbox_extra_modules()


@pytest.mark.parametrize(
    "args",
    [
        ["check", "--sandbox"],
        ["check", "--json", "--sandbox=bounce-spike"],
        ["run", "--sandbox", "--out", "{tmp}/report"],
        ["diagnose", "--sandbox"],
        ["mail-test", "--sandbox"],
        ["lab", "--sandbox", "--out", "{tmp}/investigation"],
        ["history", "--reports", "{tmp}", "--sandbox"],
        ["sandbox"],
        ["sandbox", "--list"],
    ],
    ids=lambda args: " ".join(a for a in args if "{tmp}" not in a),
)
def test_sandbox_without_its_extra_is_one_line_exit_2(tmp_path, args: list[str]) -> None:
    proc = _without_extra("ses_runbook.frontends.cli", *(a.format(tmp=tmp_path) for a in args))
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert proc.stderr.startswith(NEEDS_THE_EXTRA) and proc.stderr.count("\n") == 1, proc.stderr[-2000:]
    assert proc.stdout == "" and list(tmp_path.iterdir()) == []  # nothing started, nothing written


def test_regenerate_and_sample_history_without_the_extra_are_one_line_exit_2(tmp_path) -> None:
    notebooks = tmp_path / "notebooks"  # a copy: the committed notebooks are never at stake here
    notebooks.mkdir()
    shutil.copy(ROOT / "notebooks" / "00_health_check.ipynb", notebooks)
    before = (notebooks / "00_health_check.ipynb").read_bytes()
    proc = _without_extra("ses_runbook.frontends.regenerate", "00", env={"SES_RUNBOOK_NOTEBOOKS": str(notebooks)})
    assert proc.returncode == 2 and proc.stderr.startswith(NEEDS_THE_EXTRA), proc.stderr[-2000:]
    assert proc.stderr.count("\n") == 1 and (notebooks / "00_health_check.ipynb").read_bytes() == before
    proc = _without_extra("ses_runbook.frontends.samplehistory", str(tmp_path / "history"))
    assert proc.returncode == 2 and proc.stderr.startswith(NEEDS_THE_EXTRA), proc.stderr[-2000:]
    assert proc.stderr.count("\n") == 1 and not (tmp_path / "history").exists()


def test_a_dependency_missing_at_import_is_the_extra_and_a_module_of_the_package_is_not() -> None:
    """A module of the extra's own dependencies, found missing only when imported, says the same;
    a missing module of the package itself is a broken installation, not a missing extra."""
    with pytest.raises(
        SandboxExtraError, match=r"pip install 'ses-runbook\[sandbox\]' \(no module named 'xmltodict'\)"
    ):
        with sandbox_imports():
            raise ModuleNotFoundError("No module named 'xmltodict'", name="xmltodict")
    with pytest.raises(ModuleNotFoundError) as broken, sandbox_imports():
        raise ModuleNotFoundError("No module named 'ses_runbook.sandbox.gone'", name="ses_runbook.sandbox.gone")
    assert not isinstance(broken.value, SandboxExtraError)
