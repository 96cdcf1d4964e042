"""Keeping secrets out of everything the runbook writes: outputs, reports, logs, metadata."""

from __future__ import annotations

import re

_KEY_ID = re.compile(r"\b(AKIA|ASIA|AIDA|AROA)[A-Z0-9]{12,}\b")


def mask_key_id(key_id: str | None) -> str:
    """Mask an access key id to its last four characters, as the IAM console shows it."""
    if not key_id:
        return ""
    return "****" + key_id[-4:]


def mask_key_ids(text: str) -> str:
    """Mask every access key id that appears in free text (error messages quote them)."""
    return _KEY_ID.sub(lambda m: mask_key_id(m.group(0)), text)
