"""Check results and reports: the one shape every check returns and every output reads.

A notebook records its results as a display output with this package's MIME type (the
technique scrapbook uses), so the runner reads them back from the executed notebook
without re-running anything.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

MIME_TYPE = "application/vnd.ses-runbook.results+json"


class Status(str, Enum):
    """Outcome of a check, ordered by how much it needs attention (a skip, asked for, needs none)."""

    OK = "ok"
    SKIP = "skip"
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def symbol(self) -> str:
        return {"ok": "✔", "skip": "–", "warn": "!", "fail": "✘", "error": "?"}[self.value]

    @classmethod
    def worst(cls, statuses: Iterable[Status]) -> Status:
        return max(statuses, key=lambda s: s.rank, default=cls.OK)


_RANK = {Status.SKIP: -1, Status.OK: 0, Status.WARN: 2, Status.FAIL: 3, Status.ERROR: 4}


def exit_code(status: Status) -> int:
    """The CLI contract: 0 nothing failed (warnings allowed), 1 a check failed, 2 could not run."""
    return {Status.FAIL: 1, Status.ERROR: 2}.get(status, 0)


@dataclass
class CheckResult:
    """What one check found; JSON-ready, no objects that do not serialise."""

    id: str
    title: str
    status: Status
    summary: str
    details: dict[str, Any] = field(default_factory=dict)
    remediation: str | None = None  # a symptom id of remediation.catalogue.SYMPTOMS (what `diagnose` walks)
    cli: str = ""  # the equivalent aws command, for copy and paste

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        return cls(**{**data, "status": Status(data["status"])})


@dataclass
class Report:
    """The checks of one run plus what a reader needs to trust them (the ``run`` block)."""

    run: dict[str, Any]
    checks: list[CheckResult]

    @property
    def worst(self) -> Status:
        return Status.worst(c.status for c in self.checks)

    @property
    def exit_code(self) -> int:
        return exit_code(self.worst)

    def by_id(self) -> dict[str, CheckResult]:
        return {c.id: c for c in self.checks}

    def sorted(self) -> list[CheckResult]:
        """Worst first, then in the runbook's order."""
        order = {c.id: i for i, c in enumerate(self.checks)}
        return sorted(self.checks, key=lambda c: (-c.status.rank, order[c.id]))

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.run, "checks": [c.to_dict() for c in self.checks], "worst": self.worst.value}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=str)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        return cls(run=data.get("run", {}), checks=[CheckResult.from_dict(c) for c in data.get("checks", [])])


def read_recorded(notebook: Any) -> dict[str, Any]:
    """Collect what ``record`` published in an executed notebook (nbformat node).

    ``export`` reads a teammate's notebook, so the records are foreign data: a check that is not a
    mapping with a text id, a known status and a text summary is skipped (and counted in
    ``skipped_records``), and call counts that are not counts are left out."""
    checks: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}
    skipped = 0
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if MIME_TYPE in data and isinstance(data[MIME_TYPE], dict):
                payload = dict(data[MIME_TYPE])
                found = payload.pop("checks", [])
                for check in found if isinstance(found, list) else [found]:
                    if _is_record(check):
                        checks.append(check)
                    else:
                        skipped += 1
                extra.update(payload)
    if "aws_calls" in extra and not _is_calls(extra["aws_calls"]):
        extra.pop("aws_calls")
        skipped += 1
    return {"checks": checks, **extra, **({"skipped_records": skipped} if skipped else {})}


def _is_record(check: Any) -> bool:
    return (
        isinstance(check, dict)
        and isinstance(check.get("id"), str)
        and check.get("status") in {s.value for s in Status}
        and isinstance(check.get("summary", ""), str)
        and isinstance(check.get("details", {}), dict)
    )


def _is_calls(calls: Any) -> bool:
    def count(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    return (
        isinstance(calls, dict)
        and all(count(calls.get(k, 0)) for k in ("total", "retries", "writes"))
        and isinstance(calls.get("by_operation", {}), dict)
        and all(count(v) for v in calls.get("by_operation", {}).values())
    )
