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
    """Collect what ``record`` published in an executed notebook (nbformat node)."""
    checks: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if MIME_TYPE in data:
                payload = dict(data[MIME_TYPE])
                checks.extend(payload.pop("checks", []))
                extra.update(payload)
    return {"checks": checks, **extra}
