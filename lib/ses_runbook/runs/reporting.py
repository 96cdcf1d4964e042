"""A run into a reports root: check the root, claim a folder, find the previous run, run the
notebooks, publish, prune, notify. ``ses-runbook run --reports`` and the Airflow tasks call this.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ses_runbook.core.aws import Aws
from ses_runbook.core.display import terminal_text
from ses_runbook.core.results import Status, exit_code
from ses_runbook.runs import history, runner, storage
from ses_runbook.runs import notify as notify_mod

if TYPE_CHECKING:
    from ses_runbook.core.params import Params
    from ses_runbook.runs.runner import SuiteResult

HEALTHY = {Status.OK.value, Status.WARN.value, Status.SKIP.value}


@dataclass
class RootRun:
    """What a run into a root left behind."""

    root: str
    path: str
    url: str
    summary: dict[str, Any]
    pruned: list[str]
    notified: str | None

    @property
    def exit_code(self) -> int:
        return exit_code(Status(self.summary["worst"]))


def _say(message: str) -> None:
    print(f"ses-runbook: {terminal_text(message)}", file=sys.stderr)


def run_into_root(
    params: Params,
    notebooks: list[Path],
    spec: str,
    label: str | None = None,
    jobs: int = 2,
    timeout: int = 600,
    scenario: str | None = None,
    keep: int | None = None,
    keep_days: float | None = None,
    notify: str | None = None,
    notify_on: str = "change",
    quiet: bool = False,
    session: Any = None,
    warn: Callable[[str], None] = _say,
) -> RootRun:
    """Run the suite into ``ROOT/<account>/<region>/<UTC time>[-label]/``; never changes earlier runs
    (except what ``keep``/``keep_days`` prune). The root is checked before any notebook runs."""

    root = storage.open_root(spec, params, session)
    root.check_writable()
    if notify:
        notify_mod.parse_target(notify)
    # The kernels run in the notebooks' folder: 11_history gets a folder root as an absolute path.
    where = str(root.path.resolve()) if isinstance(root, storage.LocalRoot) else spec
    params = params.model_copy(update={"reports_root": where})
    account = Aws(params, session).account_label()
    found = history.previous_run(root, account, params.region, warn)
    previous: dict[str, Any] = {}
    if found:
        run, summary = found
        previous = {"path": run.path, "href": f"../{run.name}/index.html", "summary": summary}
    slot = root.claim(account, params.region, datetime.now(timezone.utc), label)
    try:
        result: SuiteResult = runner.run_suite(
            params,
            notebooks,
            out=slot.local,
            jobs=jobs,
            label=label,
            timeout=timeout,
            scenario=scenario,
            quiet=quiet,
            previous=previous,
            account=account,
        )
    except KeyboardInterrupt:
        if slot.staged:
            root.publish(slot)  # what was written, marked INCOMPLETE
        raise
    summary = result.summary
    # The notification outcome belongs in the report, so it is decided before publishing.
    notified = None
    if notify:
        notified = notify_mod.send(notify, notify_on, summary, root.url(slot.path), params, session, warn)
        (slot.local / storage.SUMMARY).write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    root.publish(slot)
    url = root.url(slot.path)
    if not quiet and slot.staged:
        print(f"published: {url}")
    pruned = prune(root, account, params.region, keep, keep_days, keep_path=slot.path) if (keep or keep_days) else []
    for path in pruned:
        warn(f"pruned {path}")
    return RootRun(root=spec, path=slot.path, url=url, summary=summary, pruned=pruned, notified=notified)


def prune(
    root: storage.Root,
    account: str,
    region: str,
    keep: int | None,
    keep_days: float | None,
    keep_path: str | None = None,
    now: datetime | None = None,
) -> list[str]:
    """Remove runs beyond the newest ``keep`` or older than ``keep_days`` days, for one account and
    region. Never removed: the newest healthy run (worst ok/warn), any labelled run, ``keep_path``
    (the run just written), and folders that are not complete ses-runbook runs."""
    now = now or datetime.now(timezone.utc)
    runs = sorted(history.load(root, account, region), key=lambda r: (r.started, r.path), reverse=True)
    newest_healthy = next((r.path for r in runs if r.worst in HEALTHY), None)
    cutoff = now - timedelta(days=keep_days) if keep_days else None
    removed = []
    for index, run in enumerate(runs):
        if run.path in (newest_healthy, keep_path) or run.label:
            continue
        too_many = keep is not None and index >= keep
        started = history.parse_when(run.started)
        too_old = cutoff is not None and started is not None and started < cutoff
        if too_many or too_old:
            root.remove(run.path)
            removed.append(run.path)
    return removed
