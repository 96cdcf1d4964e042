"""Remediation: the failure-mode catalogue, the diagnosis, the guarded fixes and their rendering.

One module per concern:

- ``catalogue``: symptoms, causes, verdicts and steps (adding a failure mode touches it alone); it
  reads nothing: what its steps name beyond the check results arrives as ``Facts``;
- ``diagnosis``: each symptom's causes judged against check results, as data;
- ``investigate``: ``diagnose`` runs only the checks a symptom's causes need, judges, plans or makes the fixes;
- ``fixes``: the guarded fixes (only with ``allow_writes``), each followed by a re-check;
- ``feedback_steps``: the by-hand commands that act on the feedback (suppress the exported
  addresses, build the bounce and complaint pipeline, alarm on the rates), for the steps and fixes;
- ``render``: text, HTML and rich output, and the ``show_*`` helpers of ``08_remediation``.

The names below are the package's public surface: ``from ses_runbook.remediation import ...``.
"""

from ses_runbook.core.redact import mask_key_id
from ses_runbook.remediation.catalogue import (
    CAUSES,
    CONFIRMED,
    PLACEHOLDER,
    RULED_OUT,
    SES_CONSOLE,
    SEVERITY,
    SYMPTOMS,
    UNKNOWN,
    Cause,
    Facts,
    Step,
    Symptom,
    checks_for,
    failure_modes,
    production_access_command,
    symptom_ids,
    use_case_sentences,
    use_case_text,
)
from ses_runbook.remediation.diagnosis import ConfirmedCause, Diagnosis, Finding, FixResult, SymptomFindings
from ses_runbook.remediation.fixes import FIXES, apply_fixes, plan_fixes
from ses_runbook.remediation.investigate import diagnose, walk
from ses_runbook.remediation.render import (
    VERDICT_COLOUR,
    VERDICT_STYLE,
    causes_html,
    causes_text,
    fixes_html,
    fixes_text,
    placeholders,
    print_diagnosis,
    show_causes,
    show_failure_modes,
    show_fixes,
    show_steps,
    show_suppression,
    show_walkthrough,
    steps_html,
    steps_text,
    walkthrough_html,
    walkthrough_text,
)

__all__ = [
    "CAUSES",
    "CONFIRMED",
    "FIXES",
    "PLACEHOLDER",
    "RULED_OUT",
    "SES_CONSOLE",
    "SEVERITY",
    "SYMPTOMS",
    "UNKNOWN",
    "VERDICT_COLOUR",
    "VERDICT_STYLE",
    "Cause",
    "ConfirmedCause",
    "Diagnosis",
    "Facts",
    "Finding",
    "FixResult",
    "Step",
    "Symptom",
    "SymptomFindings",
    "apply_fixes",
    "causes_html",
    "causes_text",
    "checks_for",
    "diagnose",
    "failure_modes",
    "fixes_html",
    "fixes_text",
    "mask_key_id",
    "placeholders",
    "plan_fixes",
    "print_diagnosis",
    "production_access_command",
    "show_causes",
    "show_failure_modes",
    "show_fixes",
    "show_steps",
    "show_suppression",
    "show_walkthrough",
    "steps_html",
    "steps_text",
    "symptom_ids",
    "use_case_sentences",
    "use_case_text",
    "walk",
    "walkthrough_html",
    "walkthrough_text",
]
