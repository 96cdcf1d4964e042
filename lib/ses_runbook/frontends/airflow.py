"""An Airflow DAG for the fleet: one mapped task per target, then the fleet index.

The DAG file a team drops into its ``dags/`` folder is two lines::

    from ses_runbook.frontends.airflow import build_dag
    dag = build_dag(targets="/etc/ses-runbook/targets.yaml", reports="s3://ops-reports/ses", schedule="@hourly")

Each target is one task (dynamic task mapping), so Airflow's executor spreads the targets over
its workers; each runs the suite as ``ses-runbook run --reports`` in a process of its own (see
``fleet.run_target``) into the shared reports root, which must therefore be one every worker
reaches (S3). The last task writes the fleet index and fails when a target failed or could not
run, so the DAG run's state is the scheduler's signal, as the exit code is for cron.
Airflow is an optional extra (``pip install 'ses-runbook[airflow]'``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from ses_runbook.core import params as params_mod
from ses_runbook.runs import fleet, storage


def build_dag(
    targets: str,
    reports: str,
    schedule: Any = "@hourly",
    dag_id: str = "ses_runbook",
    notebooks: Sequence[str] = (),
    parameters_files: Sequence[str] = (),
    parameters: dict[str, Any] | None = None,
    notify: str | None = None,
    notify_on: str = "change",
    keep: int | None = None,
    keep_days: float | None = None,
    jobs: int = 2,
    timeout: float = 3600,
    start_date: datetime | None = None,
    **dag_kwargs: Any,
) -> Any:
    """The DAG: ``targets`` (a targets YAML file, read when the DAG runs), ``reports`` (the root),
    ``parameters_files``/``parameters`` (the base parameters every target starts from)."""
    # deferred: Airflow is installed only where DAGs are parsed
    from airflow.sdk import dag, task

    options = [
        f"--{k.replace('_', '-')}={v}"
        for k, v in (
            ("jobs", jobs),
            ("notify", notify),
            ("notify_on", notify_on),
            ("keep", keep),
            ("keep_days", keep_days),
        )
        if v is not None
    ]

    def base_params() -> Any:
        return params_mod.load(list(parameters_files), overrides=parameters or {})

    @dag(
        dag_id=dag_id,
        schedule=schedule,
        start_date=start_date or datetime(2026, 1, 1, tzinfo=timezone.utc),
        catchup=False,
        max_active_runs=1,
        tags=["ses-runbook"],
        doc_md=__doc__,
        **dag_kwargs,
    )
    def ses_runbook() -> None:
        @task
        def list_targets() -> list[dict[str, Any]]:
            return [t.model_dump() for t in fleet.load_targets(targets).targets]

        @task
        def run_target(target: dict[str, Any]) -> dict[str, Any]:
            return fleet.run_target(base_params(), fleet.Target(**target), reports, list(notebooks), options, timeout)

        @task
        def fleet_index(rows: list[dict[str, Any]]) -> str:
            rows = list(rows)
            where = fleet.write_index(storage.open_root(reports, base_params()), rows)
            bad = [f"{r['target']}: {r['worst']}" for r in rows if r["exit_code"] != 0]
            if bad:
                raise RuntimeError(f"fleet index {where}; not ok: {', '.join(bad)}")
            return where

        fleet_index(run_target.expand(target=list_targets()))

    return ses_runbook()
