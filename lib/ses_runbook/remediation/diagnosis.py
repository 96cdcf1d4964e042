"""The diagnosis as data: each symptom's causes judged against check results, and the fixes made.

``walk_symptom`` judges every cause of one symptom from results (and ``Facts``) already at hand; the
``Diagnosis`` holds what a walk found (per symptom, every cause with its verdict, evidence and
steps) and the guarded fixes planned or made. Running the checks is ``investigate``'s job; the
catalogue judged against lives in ``catalogue``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ses_runbook.core.results import CheckResult, Status
from ses_runbook.remediation.catalogue import (
    CAUSES,
    CONFIRMED,
    RULED_OUT,
    SEVERITY,
    VERDICT_ORDER,
    Cause,
    Facts,
    Step,
    Symptom,
)

if TYPE_CHECKING:
    from ses_runbook.core.aws import Aws
    from ses_runbook.core.params import Params


@dataclass
class Finding:
    cause: Cause
    verdict: str
    note: str
    evidence: list[CheckResult]
    steps: list[Step]

    def to_dict(self) -> dict[str, Any]:
        return {
            "cause": self.cause.id,
            "title": self.cause.title,
            "verdict": self.verdict,
            "note": self.note,
            "why": self.cause.why,
            "fix": self.cause.fix,
            "request": self.cause.request,
            "evidence": [{"id": r.id, "status": r.status.value, "summary": r.summary} for r in self.evidence],
            "steps": [s.to_dict() for s in self.steps],
        }


@dataclass
class SymptomFindings:
    symptom: Symptom
    findings: list[Finding]

    @property
    def confirmed(self) -> list[Finding]:
        return [f for f in self.findings if f.verdict == CONFIRMED]


@dataclass
class ConfirmedCause:
    """One confirmed cause, once, with every symptom it explains: what a diagnosis leads with."""

    finding: Finding
    symptoms: list[Symptom]

    @property
    def cause(self) -> Cause:
        return self.finding.cause

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.finding.to_dict(),
            "severity": self.cause.severity,
            "impact": SEVERITY[self.cause.severity],
            "symptoms": [s.id for s in self.symptoms],
        }


_WORST = {Status.FAIL: 0, Status.WARN: 1}


def _severity_key(finding: Finding) -> tuple[int, int, int]:
    """Most severe first: the cause's severity, then fail before warn evidence, then catalogue order."""
    worst = min((_WORST.get(r.status, 2) for r in finding.evidence), default=2)
    return finding.cause.severity, worst, list(CAUSES).index(finding.cause.id)


@dataclass
class FixResult:
    """One guarded fix: planned (read-only run) or made, and its re-check."""

    id: str
    title: str
    cause: str
    commands: list[str]
    applied: bool = False
    ok: bool | None = None  # re-check passed (None: not made)
    message: str = ""
    recheck: CheckResult | None = None
    before: CheckResult | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)  # e.g. the suppression list

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "cause": self.cause,
            "commands": self.commands,
            "applied": self.applied,
            "ok": self.ok,
            "message": self.message,
            "recheck": self.recheck.to_dict() if self.recheck else None,
            "rows": self.rows,
        }


@dataclass
class Diagnosis:
    requested: str
    params: Params
    symptoms: list[SymptomFindings]
    results: list[CheckResult]
    aws: Aws
    fixes: list[FixResult] = field(default_factory=list)
    walked: list[SymptomFindings] = field(
        default_factory=list
    )  # every symptom walked (auto keeps only those confirmed)
    facts: Facts = field(default_factory=Facts)  # what was read beside the checks for the steps

    def unique_findings(self) -> list[Finding]:
        """Every cause walked, once, in verdict order: what a run with nothing confirmed shows."""
        seen: dict[str, Finding] = {}
        for s in self.walked or self.symptoms:
            for f in s.findings:
                seen.setdefault(f.cause.id, f)
        return sorted(seen.values(), key=lambda f: VERDICT_ORDER[f.verdict])

    @property
    def causes(self) -> list[ConfirmedCause]:
        """Confirmed causes, each once, most severe first, each with the symptoms it explains."""
        seen: dict[str, ConfirmedCause] = {}
        for s in self.symptoms:
            for f in s.confirmed:
                seen.setdefault(f.cause.id, ConfirmedCause(f, [])).symptoms.append(s.symptom)
        return sorted(seen.values(), key=lambda c: _severity_key(c.finding))

    @property
    def confirmed(self) -> list[Finding]:
        """Confirmed causes, each once, most severe first."""
        return [c.finding for c in self.causes]

    def by_cause(self) -> dict[str, str]:
        """Cause id -> verdict over every symptom walked."""
        out: dict[str, str] = {}
        for s in self.symptoms:
            for f in s.findings:
                out[f.cause.id] = f.verdict
        return out

    @property
    def exit_code(self) -> int:
        if self.confirmed:
            return 1
        return 2 if any(r.status == Status.ERROR for r in self.results) else 0

    def final_results(self) -> list[CheckResult]:
        """The checks as they stand now: a re-check after a fix replaces the result it re-checked."""
        latest = {f.recheck.id: f.recheck for f in self.fixes if f.recheck is not None}
        return [latest.get(r.id, r) for r in self.results]

    def to_dict(self) -> dict[str, Any]:
        return {
            "symptom": self.requested,
            "run": {
                "as_of": self.params.as_of_datetime().strftime("%Y-%m-%dT%H:%M:%SZ"),
                "region": self.params.region,
                "endpoint_url": self.params.endpoint_url or f"AWS ({self.params.region})",
                "allow_writes": self.params.allow_writes,
                "aws_calls": self.aws.stats(),
            },
            "confirmed": [f.cause.id for f in self.confirmed],
            "causes": [c.to_dict() for c in self.causes],
            "symptoms": [
                {"id": s.symptom.id, "title": s.symptom.title, "findings": [f.to_dict() for f in s.findings]}
                for s in self.symptoms
            ],
            "fixes": [f.to_dict() for f in self.fixes],
            "checks": [r.to_dict() for r in self.final_results()],
            "exit_code": self.exit_code,
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=str)


def walk_symptom(
    symptom: Symptom, params: Params, results: dict[str, CheckResult], facts: Facts | None = None
) -> SymptomFindings:
    """Judge every cause of ``symptom`` from ``results``; the steps of each not ruled out, with ``facts``."""
    facts = facts or Facts()
    findings = []
    for cid in symptom.causes:
        cause = CAUSES[cid]
        verdict, note = cause.judge(results)
        evidence = [results[i] for i in cause.checks if i in results]
        steps = cause.steps(params, results, facts) if verdict != RULED_OUT else []
        findings.append(Finding(cause, verdict, note, evidence, steps))
    findings.sort(key=lambda f: VERDICT_ORDER[f.verdict])  # stable: most likely first within each verdict
    return SymptomFindings(symptom, findings)
