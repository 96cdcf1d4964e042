"""Many accounts and regions: a targets file, the suite run for each target, and a fleet index.

```yaml
concurrency: 2                 # targets at once (default 2)
targets:
  - name: phenom-us
    profile: phenom            # AWS profile (optional)
    role_arn: arn:aws:iam::123456789012:role/ses-runbook-read   # assumed with STS AssumeRole (optional)
    region: us-east-1
    parameters: {domain: thephenom.app, sender: no-reply@thephenom.app}
```

Each target runs as its own ``ses-runbook run --reports ROOT`` process (its kernels get that
target's credentials and nothing else), at most ``concurrency`` at once; a target that fails,
even before it starts (its role cannot be assumed), is that target's ``error`` and the others
run. The fleet index (``ROOT/fleet/<UTC time>/index.html`` and ``fleet.json``) has one row per
target: worst status, what changed since its previous run, a link to its report. No credential
and no parameter value is echoed in it.
"""

from __future__ import annotations

import html
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ses_runbook.core import foreign
from ses_runbook.core import params as params_mod
from ses_runbook.core.aws import describe_error
from ses_runbook.core.display import status_badge
from ses_runbook.core.errors import ForeignDataError, RunbookError, TargetsError
from ses_runbook.core.files import read_capped
from ses_runbook.core.redact import mask_key_ids
from ses_runbook.runs import storage
from ses_runbook.runs.history import changes_text

if TYPE_CHECKING:
    from ses_runbook.core.params import Params


class Target(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    profile: str | None = None
    role_arn: str | None = Field(None, pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
    region: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)


class Targets(BaseModel):
    model_config = ConfigDict(extra="forbid")

    concurrency: int = Field(2, ge=1, le=64)
    targets: list[Target] = Field(min_length=1)


def load_targets(path: str | Path) -> Targets:
    """The targets file, with one clear line for what is wrong (names, never values)."""
    path = Path(path)
    try:
        data = foreign.read_yaml(read_capped(path, foreign.MAX_BYTES), f"targets file '{path}'")
    except FileNotFoundError:
        raise TargetsError(f"targets file '{path}' does not exist") from None
    except ForeignDataError as exc:
        raise TargetsError(str(exc)) from None
    except (OSError, yaml.YAMLError) as exc:
        raise TargetsError(f"targets file '{path}' cannot be read as YAML ({type(exc).__name__})") from None
    try:
        targets = Targets.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        raise TargetsError(f"targets file '{path}': {where}: {error['msg']}") from None
    names = [t.name for t in targets.targets]
    if len(set(names)) != len(names):
        raise TargetsError(f"targets file '{path}': target names must be unique")
    return targets


def target_params(base: Params, target: Target) -> Params:
    """The base parameters with the target's profile, region and overrides (validated)."""

    values = base.model_dump()
    values.update(target.parameters)
    if target.profile:
        values["aws_profile"] = target.profile
    if target.region:
        values["region"] = target.region
    try:
        return params_mod.validate(values)
    except RunbookError as exc:
        raise TargetsError(f"target '{target.name}': {exc}") from None


def _credentials_env(params: Params, target: Target) -> dict[str, str]:
    """Environment for the target's process: its profile, or the role's temporary credentials
    (STS AssumeRole with the profile's credentials)."""
    env = dict(os.environ)  # a profile travels in the parameters (aws_profile)
    if not target.role_arn:
        return env
    # deferred: boto3 loads s3transfer: only the S3 reports root and SNS need it
    import boto3

    session = boto3.Session(profile_name=params.aws_profile, region_name=params.region)
    sts = session.client("sts", endpoint_url=params.endpoint_url)
    creds = sts.assume_role(RoleArn=target.role_arn, RoleSessionName=f"ses-runbook-{target.name}"[:64])["Credentials"]
    env.pop("AWS_PROFILE", None)
    env.update(
        AWS_ACCESS_KEY_ID=creds["AccessKeyId"],
        AWS_SECRET_ACCESS_KEY=creds["SecretAccessKey"],
        AWS_SESSION_TOKEN=creds["SessionToken"],
    )
    return env


def run_target(
    base: Params, target: Target, spec: str, notebooks: list[str], options: list[str], timeout: float
) -> dict[str, Any]:
    """One target as its own process; returns its fleet row (never raises)."""
    row: dict[str, Any] = {
        "target": target.name,
        "region": target.region or base.region,
        "account": None,
        "worst": "error",
        "exit_code": 2,
        "path": None,
        "changes": [],
        "error": None,
    }
    with tempfile.TemporaryDirectory(prefix="ses-runbook-target-") as tmp:
        try:
            params = target_params(base, target)
            row["region"] = params.region
            env = _credentials_env(params, target)
            values = params.public()
            values.pop(
                "aws_profile", None
            ) if target.role_arn else None  # the role's credentials are in the environment
            params_file = Path(tmp) / "params.yaml"
            params_file.write_text(yaml.safe_dump(values))
            result_file = Path(tmp) / "result.json"
            command = [
                sys.executable,
                "-m",
                "ses_runbook.frontends.cli",
                "run",
                *notebooks,
                "-f",
                str(params_file),
                "--reports",
                spec,
                "--result-file",
                str(result_file),
                *options,
            ]
            proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
            row["exit_code"] = proc.returncode
            if result_file.is_file():
                result = json.loads(result_file.read_text())
                row.update(
                    account=result["account"], worst=result["worst"], path=result["path"], changes=result["changes"]
                )
            else:
                row["error"] = mask_key_ids((proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1])[
                    :300
                ]
        except RunbookError as exc:
            row["error"] = str(exc)
        except subprocess.TimeoutExpired:
            row["error"] = f"did not finish within {timeout:g} s"
        except Exception as exc:  # noqa: BLE001 - one failing target never stops the others
            row["error"] = describe_error(exc)
    return row


def run_fleet(
    base: Params,
    targets: Targets,
    spec: str,
    notebooks: list[str],
    options: list[str] | None = None,
    timeout: float = 3600,
) -> tuple[list[dict[str, Any]], str]:
    """Every target, ``concurrency`` at once; then the fleet index. Returns the rows and its address."""
    with ThreadPoolExecutor(max_workers=targets.concurrency) as pool:
        rows = list(pool.map(lambda t: run_target(base, t, spec, notebooks, options or [], timeout), targets.targets))
    return rows, write_index(storage.open_root(spec, base), rows)


def worst_exit(rows: list[dict[str, Any]]) -> int:
    return max((r["exit_code"] for r in rows), default=0)


def write_index(root: storage.Root, rows: list[dict[str, Any]], when: datetime | None = None) -> str:
    """``ROOT/fleet/<UTC time>/index.html`` and ``fleet.json``: one row per target."""

    when = when or datetime.now(timezone.utc)
    name = storage.run_name(when)
    body = "".join(
        f"<tr><td>{html.escape(r['target'])}</td><td>{html.escape(str(r['account'] or '-'))}</td><td>{html.escape(r['region'])}</td>"
        f"<td>{status_badge(r['worst'])}</td>"
        f"<td>{'<br>'.join(html.escape(c) for c in r['changes']) or '-'}</td>"
        f"<td>{f'''<a href='../../{html.escape(r['path'])}/index.html'>report</a>''' if r['path'] else ''}</td>"
        f"<td>{html.escape(r['error'] or '')}</td></tr>"
        for r in rows
    )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>SES runbook fleet</title>"
        "<style>body{font-family:sans-serif;margin:16px}td,th{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}</style>"
        f"</head><body><h1>SES runbook fleet</h1><p>{when:%Y-%m-%d %H:%M:%S} UTC · {len(rows)} target(s)</p>"
        "<table><tr><th>target</th><th>account</th><th>region</th><th>worst</th><th>changed since its previous run</th>"
        f"<th>report</th><th>error</th></tr>{body}</table></body></html>"
    )
    files = {
        "index.html": page,
        "fleet.json": json.dumps({"when": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "targets": rows}, indent=2),
    }
    return _put(root, f"fleet/{name}", files)


def _put(root: storage.Root, path: str, files: dict[str, str]) -> str:
    root.write_files(path, files)
    return root.url(path)


def result_record(done: Any) -> dict[str, Any]:
    """What ``run --result-file`` writes for the fleet: where the run went and what changed."""

    summary = done.summary
    return {
        "account": summary["run"]["account"],
        "region": summary["run"]["region"],
        "worst": summary["worst"],
        "path": done.path,
        "url": done.url,
        "changes": changes_text(summary.get("changes")),
        "notification": summary.get("notification"),
    }
