"""Keeping secrets out of everything the runbook writes: outputs, reports, logs, metadata."""

from __future__ import annotations

import re
from typing import Any

_KEY_ID = re.compile(r"\b(AKIA|ASIA|AIDA|AROA)[A-Z0-9]{12,}\b")


def mask_key_id(key_id: str | None) -> str:
    """Mask an access key id to its last four characters, as the IAM console shows it."""
    if not key_id:
        return ""
    return "****" + key_id[-4:]


def mask_key_ids(text: str) -> str:
    """Mask every access key id that appears in free text (error messages quote them)."""
    return _KEY_ID.sub(lambda m: mask_key_id(m.group(0)), text)


def mask_address(address: Any) -> Any:
    """``jane.doe@example.com`` -> ``j***@example.com``: enough to tell domains and repeats apart, not to
    mail. Split at the last ``@`` (the domain never holds one; a local part may, quoted), so an address
    like ``=HYPERLINK("...@x")@example.com`` keeps only its first character."""
    if not isinstance(address, str) or "@" not in address:
        return address
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}***@{domain}"


_ADDRESS_IN_TEXT = re.compile(r"[^\s<>;:,\"'()\[\]]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def mask_addresses(text: str, keep: set[str] | frozenset[str] = frozenset()) -> str:
    """Every address in free text (a diagnostic code quotes the recipient) masked, except those in
    ``keep`` (lower case): the addresses a user asked about may be shown."""
    return _ADDRESS_IN_TEXT.sub(lambda m: m.group(0) if m.group(0).lower() in keep else mask_address(m.group(0)), text)


# OWASP "CSV Injection": a cell a spreadsheet would run as a formula starts with one of these
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """One CSV cell a spreadsheet shows as text: a leading ``=``, ``+``, ``-``, ``@``, tab or carriage
    return is prefixed with ``'`` (OWASP's rule), so ``=HYPERLINK(...)`` in a bounced address is
    never run when the export is opened."""
    missing = value is None or (isinstance(value, float) and value != value)  # None, or pandas' NaN
    text = "" if missing else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_value(cell: str) -> str:
    """A cell written by ``csv_cell`` read back as the value it was."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(_FORMULA_START) else cell
