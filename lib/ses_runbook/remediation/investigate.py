"""A diagnosis made: run only the checks a symptom's causes need, judge each cause, plan or make the fixes.

``diagnose(params, symptom)`` runs the checks in-process with one ``Aws``, reads with the same
clients what the steps need beside them (``read_facts``: the feedback queue's spike cause, only when
a cause that names it is not ruled out) and returns a ``Diagnosis``; ``walk`` is the notebook's
entry. It sits above ``diagnosis`` (the judging) and ``fixes`` (the guarded writes), which know
nothing of each other's callers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ses_runbook.checks import Context, run, trace
from ses_runbook.checks.mailtest import mail_test
from ses_runbook.core.aws import Aws
from ses_runbook.core.results import CheckResult
from ses_runbook.remediation.catalogue import SYMPTOMS, Facts, checks_for, facts_for, symptom_ids
from ses_runbook.remediation.diagnosis import Diagnosis, walk_symptom
from ses_runbook.remediation.fixes import apply_fixes, plan_fixes
from ses_runbook.sources import events

if TYPE_CHECKING:
    from ses_runbook.core.params import Params


def _message_results(params: Params, aws: Aws, ids: list[str]) -> list[CheckResult]:
    """The mail test's verdicts, read-only: ``message_file``, else the newest message the inbound bucket holds
    (nothing is sent during a diagnosis). Without either, the message causes stay 'could not tell'."""
    if not (params.message_file or (params.inbound_address and params.inbound_bucket)):
        return []
    try:
        test = mail_test(params.model_copy(update={"send_test_email": False}), aws=aws)
    except Exception:  # noqa: BLE001 - a message that cannot be read leaves its causes undecided
        return []
    return [r for r in test.results if r.id in ids]


def _trace_results(params: Params, aws: Aws) -> list[CheckResult]:
    """The trace of ``trace_recipients`` and ``trace_message_ids``, as one result; none named: nothing
    (the recipient causes stay 'could not tell')."""
    if not (params.trace_recipients or params.trace_message_ids):
        return []
    report = trace.trace(params, aws, list(params.trace_recipients or []), list(params.trace_message_ids or []))
    return [trace.result(report)]


def read_facts(params: Params, aws: Aws, names: set[str]) -> Facts:
    """What the steps to be shown need beside the check results, read once with the run's clients
    (so the calls count with the run's): the spike's cause from the feedback queue."""
    return Facts(feedback_cause=events.cause_for(aws, params) if "feedback_cause" in names else None)


def diagnose(params: Params, symptom: str = "auto", aws: Aws | None = None, fix: bool | None = None) -> Diagnosis:
    """Run only the checks ``symptom``'s causes need and judge each cause.

    ``auto`` walks every symptom and keeps those with a confirmed cause. ``fix`` (default: the
    ``allow_writes`` parameter) also applies the guarded fixes of the confirmed causes.
    """
    sids = symptom_ids(symptom)
    aws = aws or Aws(params)
    ctx = Context(params=params, aws=aws)
    wanted = checks_for(symptom)
    order = {cid: i for i, cid in enumerate(wanted)}
    from_message = [cid for cid in wanted if cid.startswith("message.")]  # judged on a message, not by a check
    from_trace = [cid for cid in wanted if cid.startswith("trace.")]  # judged on the traced recipients
    results = sorted(
        run(ctx, ids=[cid for cid in wanted if cid not in from_message and cid not in from_trace]),
        key=lambda r: order[r.id],
    )  # most likely cause's checks first
    if from_message:
        results += _message_results(params, aws, from_message)
    if from_trace:
        results += _trace_results(params, aws)
    by_id = {r.id: r for r in results}
    facts = read_facts(params, aws, facts_for(sids, by_id))
    walked = [walk_symptom(SYMPTOMS[sid], params, by_id, facts) for sid in sids]
    everything = walked
    if symptom == "auto":
        walked = [w for w in walked if w.confirmed]
    diagnosis = Diagnosis(symptom, params, walked, results, aws, walked=everything, facts=facts)
    if params.allow_writes if fix is None else fix:
        apply_fixes(diagnosis)
    else:
        diagnosis.fixes = plan_fixes(diagnosis)
    return diagnosis


def walk(session: Any, symptom: str) -> Diagnosis:
    """Notebook entry: diagnose with the session's clients and keep the checks for ``record``."""
    d = diagnose(session.params, symptom, aws=session.aws, fix=False)
    session.results.extend(d.results)
    return d
