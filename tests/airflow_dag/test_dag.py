"""The Airflow DAG end to end with ``dag.test()`` against the sandbox (``make test-airflow``, its own
environment; skipped where Airflow is not installed, as in ``make test``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# Airflow reads its configuration when first imported: a metadata database of this test's own.
HOME = Path(tempfile.mkdtemp(prefix="ses-runbook-airflow-"))
os.environ.update(
    AIRFLOW_HOME=str(HOME),
    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{HOME}/airflow.db",
    AIRFLOW__CORE__DAGS_FOLDER=str(HOME / "dags"),
    AIRFLOW__CORE__LOAD_EXAMPLES="False",
    AIRFLOW__CORE__UNIT_TEST_MODE="True",
)
pytest.importorskip("airflow.sdk", reason="Airflow is an optional extra: make test-airflow")

from ses_runbook.runs import storage  # noqa: E402

TARGETS = """
concurrency: 2
targets:
  - name: primary
    region: us-east-1
  - name: last-week
    region: us-east-1
    parameters: {lookback_days: 7}
"""


@pytest.fixture
def airflow_home() -> Path:
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, timeout=600)
    return HOME


DAG_FILE = """from ses_runbook.frontends.airflow import build_dag
dag = build_dag(targets={targets!r}, reports={reports!r}, schedule=None, notebooks=["00"], parameters={parameters!r}, jobs=1)
"""


def test_dag_runs_every_target_into_s3_and_writes_a_fleet_index(tmp_path, sandbox, airflow_home) -> None:
    import importlib.util

    targets = tmp_path / "targets.yaml"
    targets.write_text(TARGETS)
    spec = "s3://ses-runbook-reports/airflow"
    dags = airflow_home / "dags"
    dags.mkdir(exist_ok=True)
    dag_file = dags / "ses_runbook_dag.py"  # the README's two lines, pointed at the sandbox
    # the world's fixed "now" with its endpoints: judged at today's date, its keys would be weeks unused
    dag_file.write_text(DAG_FILE.format(targets=str(targets), reports=spec, parameters=sandbox.overrides()))
    spec_ = importlib.util.spec_from_file_location("ses_runbook_dag", dag_file)
    module = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(module)
    run = module.dag.test()
    assert str(run.state).endswith("success"), run.state
    root = storage.open_root(spec, sandbox.params)
    runs = list(root.runs())
    assert len(runs) == 2 and all(r.path.startswith("123456789012/us-east-1/") for r in runs)
    assert all(json.loads(r.summary)["worst"] == "ok" for r in runs)
    keys = [o["Key"] for o in root.client.list_objects_v2(Bucket=root.bucket, Prefix="airflow/fleet/")["Contents"]]
    fleet = json.loads(
        root.client.get_object(Bucket=root.bucket, Key=next(k for k in keys if k.endswith("fleet.json")))["Body"].read()
    )
    assert {t["target"]: t["worst"] for t in fleet["targets"]} == {"primary": "ok", "last-week": "ok"}
    assert os.environ.get("AIRFLOW_HOME") == str(airflow_home)
