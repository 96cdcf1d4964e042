"""Remediation: the failure-mode catalogue, the diagnosis, the guarded fixes and their rendering.

One module per concern:

- ``catalogue``: symptoms, causes, verdicts and steps (adding a failure mode touches it alone);
- ``diagnosis``: ``diagnose`` runs only the checks a symptom's causes need and judges each cause;
- ``fixes``: the guarded fixes (only with ``allow_writes``), each followed by a re-check;
- ``render``: text, HTML and rich output, and the ``show_*`` helpers of ``08_remediation``.

The names below are the package's public surface: ``from ses_runbook.remediation import ...``.
"""
from ..redact import mask_key_id
from .catalogue import (CAUSES, CONFIRMED, RULED_OUT, SES_CONSOLE, SYMPTOMS, UNKNOWN, USE_CASE, Cause, Step, Symptom,
                        checks_for, failure_modes, symptom_ids, use_case_text)
from .diagnosis import Diagnosis, Finding, SymptomFindings, diagnose, walk
from .fixes import FIXES, FixResult, apply_fixes, plan_fixes
from .render import (VERDICT_COLOUR, VERDICT_STYLE, fixes_html, fixes_text, print_diagnosis, show_failure_modes,
                     show_fixes, show_steps, show_suppression, show_walkthrough, steps_html, steps_text, walkthrough_html,
                     walkthrough_text)

__all__ = [
    "CAUSES", "CONFIRMED", "FIXES", "RULED_OUT", "SES_CONSOLE", "SYMPTOMS", "UNKNOWN", "USE_CASE", "VERDICT_COLOUR",
    "VERDICT_STYLE", "Cause", "Diagnosis", "Finding", "FixResult", "Step", "Symptom", "SymptomFindings", "apply_fixes",
    "checks_for", "diagnose", "failure_modes", "fixes_html", "fixes_text", "mask_key_id", "plan_fixes", "print_diagnosis",
    "show_failure_modes", "show_fixes", "show_steps", "show_suppression", "show_walkthrough", "steps_html", "steps_text",
    "symptom_ids", "use_case_text", "walk", "walkthrough_html", "walkthrough_text",
]
