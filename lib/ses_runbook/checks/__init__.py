"""The checks: one module per runbook section, one function per check id.

A check is ``fn(ctx) -> Outcome``; ``run`` wraps it into a ``CheckResult`` with its id, title
and equivalent CLI command, and turns any exception into an ``error`` result that says what
was missing, so one failing check never hides the others.

The checks spend most of their time waiting on AWS, DNS and SMTP, so ``run`` runs the sections
side by side (a small thread pool, one section per task, a section's checks in order) and
hands the results back in the runbook's order.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from ses_runbook.core.aws import describe_error
from ses_runbook.core.errors import ParameterError, RunbookError
from ses_runbook.core.results import CheckResult, Status

if TYPE_CHECKING:
    from ses_runbook.core.aws import Aws
    from ses_runbook.core.params import Params

SECTIONS = ("account", "quota", "reputation", "identity", "dns", "smtp", "iam", "suppression", "feedback")


class Outcome(NamedTuple):
    status: Status
    summary: str
    details: dict[str, Any] = {}
    remediation: str | None = None


@dataclass
class Context:
    """What every check gets: the parameters and the run's shared AWS clients."""

    params: Params
    aws: Aws
    cache: dict[str, Any] = field(default_factory=dict)
    _gates: dict[str, threading.Lock] = field(default_factory=dict, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def once(self, key: str, make: Callable[[], Any]) -> Any:
        """``cache[key]``, made by ``make()`` the first time: once per run even when checks of
        several sections ask at the same time. A ``make`` that raises leaves nothing behind."""
        with self._lock:
            gate = self._gates.setdefault(key, threading.Lock())
        with gate:
            if key not in self.cache:
                self.cache[key] = make()
            return self.cache[key]


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    fn: Callable[[Context], Outcome]
    cli: Callable[[Params], str]
    remediation: str | None
    on_request: bool = False  # runs only when named (a diagnosis, --only): it reads the whole feedback queue


REGISTRY: dict[str, Check] = {}
# Results that `check` builds only when named with --only, because they write (sending.py makes them).
ON_REQUEST = ("send.test_email",)


def check(
    id: str, title: str, cli: Callable[[Params], str], remediation: str | None = None, on_request: bool = False
) -> Callable[[Callable[[Context], Outcome]], Callable[[Context], Outcome]]:
    """Register a check function under its stable id (``on_request``: left out of a run of every check)."""

    def register(fn: Callable[[Context], Outcome]) -> Callable[[Context], Outcome]:
        REGISTRY[id] = Check(id, title, fn, cli, remediation, on_request)
        return fn

    return register


def all_checks() -> list[Check]:
    """Every check a run of all checks makes, in the runbook's order."""
    return [c for c in known_checks() if not c.on_request]


def known_checks() -> list[Check]:
    """Every registered check in the runbook's order, those that run only when named included."""
    for section in SECTIONS:
        importlib.import_module(f"{__name__}.{section}")
    # by section, whichever module a caller imported first; within a section, as the module defines them
    return sorted(REGISTRY.values(), key=lambda c: _section_rank(c.fn.__module__))


def _section_rank(module: str) -> int:
    section = module.rpartition(".")[2]
    return SECTIONS.index(section) if section in SECTIONS else len(SECTIONS)


def run_one(spec: Check, ctx: Context) -> CheckResult:
    """Run one check; never raises."""
    try:
        outcome = spec.fn(ctx)
    except RunbookError as exc:
        outcome = Outcome(Status.ERROR, str(exc))
    except Exception as exc:  # noqa: BLE001 - every failure becomes a readable result
        outcome = Outcome(Status.ERROR, describe_error(exc, ctx.params))
    remediation = outcome.remediation or (spec.remediation if outcome.status in (Status.WARN, Status.FAIL) else None)
    return CheckResult(
        id=spec.id,
        title=spec.title,
        status=outcome.status,
        summary=outcome.summary,
        details=dict(outcome.details),
        remediation=remediation,
        cli=spec.cli(ctx.params),
    )


def select(ids: Iterable[str] | None = None) -> list[Check]:
    """The registered checks with these ids (all when None), in the runbook's order."""
    specs = known_checks()
    if ids is None:
        return [s for s in specs if not s.on_request]
    wanted = list(ids)
    unknown = sorted(set(wanted) - {s.id for s in specs} - set(ON_REQUEST))
    if unknown:
        raise ParameterError(
            "check", f"unknown check id '{unknown[0]}'; allowed: {', '.join([s.id for s in specs] + list(ON_REQUEST))}"
        )
    return [s for s in specs if s.id in wanted]


MAX_WORKERS = 8  # sections at once; they wait on the network, not on the CPU


def run(
    ctx: Context,
    ids: Iterable[str] | None = None,
    progress: Callable[[CheckResult], None] | None = None,
    workers: int = MAX_WORKERS,
) -> list[CheckResult]:
    """Run the named checks (default: all); results (and ``progress``) in the runbook's order.

    Each section (check module) is one task of a small thread pool, its checks run in order
    (they share answers); sections overlap their waits on AWS, DNS and SMTP.
    """
    specs = select(ids)
    sections: dict[str, list[Check]] = {}
    for spec in specs:
        sections.setdefault(spec.fn.__module__, []).append(spec)
    futures: dict[str, Future[CheckResult]] = {spec.id: Future() for spec in specs}

    def section(group: list[Check]) -> None:
        for spec in group:
            futures[spec.id].set_result(run_one(spec, ctx))

    results = []
    pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(sections))), thread_name_prefix="check")
    try:
        for group in sections.values():
            pool.submit(section, group)
        for spec in specs:
            result = futures[spec.id].result()
            results.append(result)
            if progress:
                progress(result)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # Ctrl-C: do not wait for sections still on the network
    return results
