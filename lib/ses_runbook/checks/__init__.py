"""The checks: one module per runbook section, one function per check id.

A check is ``fn(ctx) -> Outcome``; ``run`` wraps it into a ``CheckResult`` with its id, title
and equivalent CLI command, and turns any exception into an ``error`` result that says what
was missing, so one failing check never hides the others.
"""
from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, NamedTuple

from ..aws import describe_error
from ..exceptions import RunbookError
from ..results import CheckResult, Status

if TYPE_CHECKING:
    from ..aws import Aws
    from ..params import Params

SECTIONS = ("account", "quota", "reputation", "identity", "dns", "smtp", "iam", "suppression", "feedback")


class Outcome(NamedTuple):
    status: Status
    summary: str
    details: dict[str, Any] = {}
    remediation: str | None = None


@dataclass
class Context:
    """What every check gets: the parameters and the run's shared AWS clients."""

    params: "Params"
    aws: "Aws"
    cache: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    fn: Callable[[Context], Outcome]
    cli: Callable[["Params"], str]
    remediation: str | None


REGISTRY: dict[str, Check] = {}
# Results that `check` builds only when named with --only, because they write (sending.py makes them).
ON_REQUEST = ("send.test_email",)


def check(id: str, title: str, cli: Callable[["Params"], str], remediation: str | None = None) -> Callable[[Callable[[Context], Outcome]], Callable[[Context], Outcome]]:
    """Register a check function under its stable id."""

    def register(fn: Callable[[Context], Outcome]) -> Callable[[Context], Outcome]:
        REGISTRY[id] = Check(id, title, fn, cli, remediation)
        return fn

    return register


def all_checks() -> list[Check]:
    """Every registered check in the runbook's order."""
    for section in SECTIONS:
        importlib.import_module(f"{__name__}.{section}")
    return list(REGISTRY.values())


def run_one(spec: Check, ctx: Context) -> CheckResult:
    """Run one check; never raises."""
    try:
        outcome = spec.fn(ctx)
    except RunbookError as exc:
        outcome = Outcome(Status.ERROR, str(exc))
    except Exception as exc:  # noqa: BLE001 - every failure becomes a readable result
        outcome = Outcome(Status.ERROR, describe_error(exc, ctx.params))
    remediation = outcome.remediation or (spec.remediation if outcome.status in (Status.WARN, Status.FAIL) else None)
    return CheckResult(id=spec.id, title=spec.title, status=outcome.status, summary=outcome.summary,
                       details=dict(outcome.details), remediation=remediation, cli=spec.cli(ctx.params))


def select(ids: Iterable[str] | None = None) -> list[Check]:
    """The registered checks with these ids (all when None), in the runbook's order."""
    specs = all_checks()
    if ids is None:
        return specs
    wanted = list(ids)
    unknown = sorted(set(wanted) - {s.id for s in specs} - set(ON_REQUEST))
    if unknown:
        from ..exceptions import ParameterError

        raise ParameterError("check", f"unknown check id '{unknown[0]}'; allowed: {', '.join([s.id for s in specs] + list(ON_REQUEST))}")
    return [s for s in specs if s.id in wanted]


def run(ctx: Context, ids: Iterable[str] | None = None,
        progress: Callable[[CheckResult], None] | None = None) -> list[CheckResult]:
    """Run the named checks (default: all) in the runbook's order."""
    results = []
    for spec in select(ids):
        result = run_one(spec, ctx)
        results.append(result)
        if progress:
            progress(result)
    return results
