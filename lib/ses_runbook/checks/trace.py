"""One recipient or one message traced end to end: a verdict from a fixed vocabulary, its evidence, the next step.

Not part of the ``check`` suite (it needs the addresses or message ids a user asks about): ``ses-runbook
trace`` and ``12_trace`` call ``trace``. The sources are read once for all targets (``sources.trace``);
``decide`` is pure: the same evidence gives the same verdict.

The verdict of an address, first that applies:

1. ``not-sent``: SES would not send to it now (sending paused, the sender not verified, or the account in
   the sandbox and the recipient not verified);
2. ``suppressed-account``: on the account suppression list, or the newest bounce says so
   (``OnAccountSuppressionList``);
3. the newest notification (or VDM event) in the lookback: ``suppressed-global`` (bounce subtype
   ``Suppressed``, SES's global list), ``bounced-permanent``, ``bounced-transient``, ``complained``,
   ``delayed``, ``rejected``, ``delivered``;
4. ``bounced-permanent`` when nothing was recorded but the domain cannot receive mail (null MX,
   NXDOMAIN, neither MX nor A): SES bounces every message to it;
5. ``no-record``: nothing stored, saying what was searched and how long each source keeps records.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ses_runbook.core.commands import aws_command
from ses_runbook.core.display import terminal_text
from ses_runbook.core.errors import UsageError
from ses_runbook.core.files import read_capped
from ses_runbook.core.redact import mask_address, mask_addresses
from ses_runbook.core.results import CheckResult, Status
from ses_runbook.sources import trace as src

if TYPE_CHECKING:
    from ses_runbook.core.aws import Aws
    from ses_runbook.core.params import Params

VERDICTS = (
    "delivered",
    "bounced-permanent",
    "bounced-transient",
    "suppressed-account",
    "suppressed-global",
    "complained",
    "delayed",
    "rejected",
    "not-sent",
    "no-record",
)
MAX_TARGETS = 10_000  # addresses and message ids one trace takes (support tickets in bulk)
CHECK_ID = "trace.recipients"
# a local part of any printable characters (SMTPUTF8 allows more than ASCII), never a control character:
# an escape sequence in a pasted "address" is refused, not looked up and printed
_ADDRESS = re.compile(r"^[^@\s\x00-\x1f\x7f-\x9f]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+$")
# --from-file holds at most MAX_TARGETS lines of at most an address's 320 characters (and slack for
# blank lines and repeats): anything bigger, or a file without end (a device, a pipe), is refused
MAX_FILE_BYTES = 8 * 2**20
_MESSAGE_ID = re.compile(r"^[0-9A-Za-z][0-9A-Za-z-]{7,127}$")
# The next step of each verdict, in one line (the catalogue's symptom "recipient-not-receiving" has the steps).
NEXT = {
    "delivered": "SES handed it to the receiving server: ask the recipient to look in spam, quarantine and filters "
    "(the receiving server's response is the proof of delivery)",
    "bounced-permanent": "the address or its domain does not accept mail: confirm the address with the recipient "
    "and correct it; do not resend to it as it is",
    "bounced-transient": "the receiving server refused for now (mailbox full, throttled): SES has stopped retrying; "
    "resend later, or ask the recipient to make room",
    "suppressed-account": "SES drops every message to it silently: when the mailbox works again, remove it from the "
    "account suppression list (guarded fix, or the aws command shown)",
    "suppressed-global": "SES's global suppression list holds it (a hard bounce at any SES customer): confirm the "
    "address with the recipient; SES removes it after a while, no API can",
    "complained": "the recipient marked our mail as spam: do not mail them again unless they ask for it",
    "delayed": "the receiving server defers it: SES keeps retrying for up to its message lifetime; look again later",
    "rejected": "SES rejected the message before sending (virus or content): fix the message and send again",
    "not-sent": "SES would not send it: fix what blocks sending (see the evidence) and send again",
    "no-record": "nothing shows it was sent: check the application's own send log for the message id SES returned",
}
_SEVERITY = {v: i for i, v in enumerate(reversed(VERDICTS))}  # for a message with several recipients: the worst


@dataclass
class Evidence:
    time: str | None
    source: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"time": self.time, "source": self.source, "detail": self.detail}


@dataclass
class Trace:
    """One traced address or message id and what was found."""

    target: str
    kind: str  # "recipient" or "message"
    verdict: str = "no-record"
    summary: str = ""
    diagnostic: str | None = None  # the diagnostic code or receiving server's response, as SES recorded it
    next_step: str = ""
    evidence: list[Evidence] = field(default_factory=list)
    suppression: dict[str, Any] | None = None  # reason, last_update, message_id, feedback_id

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "kind": self.kind,
            "verdict": self.verdict,
            "summary": self.summary,
            "diagnostic": self.diagnostic,
            "next_step": self.next_step,
            "evidence": [e.to_dict() for e in self.evidence],
            "suppression": self.suppression,
        }


@dataclass
class TraceReport:
    traces: list[Trace]
    sources: list[src.SourceRead]
    lookback_days: int
    as_of: datetime
    calls: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """0 when every traced recipient was delivered, else 1."""
        return 0 if self.traces and all(t.verdict == "delivered" for t in self.traces) else 1

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.traces:
            out[t.verdict] = out.get(t.verdict, 0) + 1
        return dict(sorted(out.items()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "lookback_days": self.lookback_days,
            "verdicts": self.counts(),
            "traces": [t.to_dict() for t in self.traces],
            "sources": [s.to_dict() for s in self.sources],
            "aws_calls": self.calls,
        }


# -- input -----------------------------------------------------------------------------------------
def targets(items: Iterable[str]) -> tuple[list[str], list[str]]:
    """Split what a user named into addresses and message ids, blank lines and duplicates dropped
    (addresses compared without case); ``UsageError`` in one line for anything that is neither, or for
    more than ``MAX_TARGETS``."""
    addresses: dict[str, str] = {}
    ids: dict[str, str] = {}
    for raw in items:
        item = str(raw).strip()
        if not item:
            continue
        if "@" in item:
            if not _ADDRESS.match(item):
                raise UsageError(f"'{_printable(item)}' is not an email address (user@domain) nor an SES message id")
            addresses.setdefault(item.lower(), item)
        elif _MESSAGE_ID.match(item):
            ids.setdefault(item, item)
        else:
            raise UsageError(f"'{_printable(item)}' is not an email address (user@domain) nor an SES message id")
        if len(addresses) + len(ids) > MAX_TARGETS:
            raise UsageError(f"more than {MAX_TARGETS:,} addresses and message ids to trace; split the list")
    return list(addresses.values()), list(ids.values())


def _printable(text: str, limit: int = 80) -> str:
    """Text fit for one line on a terminal: no control characters (escape sequences), at most ``limit`` characters."""
    clean = terminal_text(text)
    return clean if len(clean) <= limit else clean[: limit - 3] + "..."


def read_file(path: str) -> list[str]:
    """The lines of ``--from-file`` (at most ``MAX_TARGETS`` non-blank ones after duplicates go), one line
    for a file that cannot be read, that is not a regular file or that is bigger than ``MAX_FILE_BYTES``."""
    try:
        data = read_capped(path, MAX_FILE_BYTES)
    except OSError as exc:
        raise UsageError(f"--from-file {_printable(path)}: cannot be read ({exc.strerror})") from None
    if len(data) > MAX_FILE_BYTES:
        raise UsageError(f"--from-file {_printable(path)}: more than {MAX_FILE_BYTES // 2**20} MiB; split the list")
    lines: list[str] = []
    seen: set[str] = set()
    for line in data.decode("utf-8", errors="replace").splitlines():
        item = line.strip()
        if not item or item.lower() in seen:
            continue
        seen.add(item.lower())
        lines.append(item)
        if len(lines) > MAX_TARGETS:
            raise UsageError(f"--from-file {_printable(path)}: more than {MAX_TARGETS:,} addresses; split the list")
    return lines


# -- the verdict -----------------------------------------------------------------------------------
def _stamp(value: Any) -> str | None:
    when = src.row_time({"time": value}) if value is not None else None
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when else None


def _row_verdict(row: dict[str, Any]) -> str | None:
    kind = row.get("type")
    if kind == "Bounce":
        sub = row.get("bounce_subtype")
        if sub == "OnAccountSuppressionList":
            return "suppressed-account"
        if sub == "Suppressed":
            return "suppressed-global"
        return "bounced-permanent" if row.get("bounce_type") == "Permanent" else "bounced-transient"
    return {
        "Complaint": "complained",
        "DeliveryDelay": "delayed",
        "Delivery": "delivered",
        "Reject": "rejected",
        "Open": "delivered",
        "Click": "delivered",
    }.get(str(kind))


def _row_evidence(row: dict[str, Any], keep: set[str]) -> Evidence:
    kind = str(row.get("type"))
    parts = [kind]
    if kind == "Bounce":
        parts.append(f"{row.get('bounce_type')}/{row.get('bounce_subtype')}")
    if row.get("delay_type"):
        parts.append(str(row["delay_type"]))
    if row.get("reject_reason"):
        parts.append(str(row["reject_reason"]))
    recipient = str(row.get("recipient") or "")
    shown = recipient if recipient.lower() in keep else mask_address(recipient)
    parts.append(f"to {shown}, message {row.get('ses_message_id')}, from {row.get('source')}")
    code = _code(row, keep)
    if code:
        parts.append(f"'{code}'")
    origin = "message insights (VDM)" if row.get("format") == "insights" else "notification (feedback queue)"
    return Evidence(_stamp(row.get("time")), origin, _printable(" ".join(parts), 600))


def _code(row: dict[str, Any], keep: set[str]) -> str | None:
    code = row.get("diagnostic_code") or row.get("status") or row.get("reject_reason")
    if row.get("type") == "Complaint":
        code = f"complaint feedback type {row.get('complaint_type') or '(not given)'}"
    return _printable(mask_addresses(str(code), keep), 400) if code else None


def decide(
    target: str,
    kind: str,
    rows: list[dict[str, Any]],
    suppressed: dict[str, Any] | None,
    mx: src.MxAnswer | None,
    account: src.AccountState | None,
    keep: set[str],
) -> Trace:
    """The verdict for one target from what the sources found (rows oldest first)."""
    out = Trace(target, kind)
    recipient = target if kind == "recipient" else None
    if suppressed:
        extra = (
            f"; put there by message {suppressed['message_id']} (feedback {suppressed['feedback_id']})"
            if suppressed.get("message_id")
            else ""
        )
        out.suppression = {**suppressed, "last_update": _stamp(suppressed.get("last_update"))}
        out.evidence.append(
            Evidence(_stamp(suppressed.get("last_update")), "suppression list", f"reason {suppressed['reason']}{extra}")
        )
    for row in reversed(rows[-5:]):
        out.evidence.append(_row_evidence(row, keep))
    if mx is not None:
        out.evidence.append(Evidence(None, "DNS", mx.text))
    blocked = _blocked(account, recipient)
    if blocked:
        out.evidence.append(Evidence(None, "account", blocked))
    decisive = next((r for r in reversed(rows) if _row_verdict(r)), None)
    if blocked:
        out.verdict, out.summary = "not-sent", blocked
    elif suppressed:
        out.verdict = "suppressed-account"
        out.summary = (
            f"on the account suppression list since {_stamp(suppressed.get('last_update'))} "
            f"(reason {suppressed['reason']}): SES drops every message to it"
        )
        if decisive is not None:
            out.diagnostic = _code(decisive, keep)
    elif decisive is not None:
        out.verdict = _row_verdict(decisive) or "no-record"
        out.diagnostic = _code(decisive, keep)
        out.summary = f"{decisive.get('type')} at {_stamp(decisive.get('time'))}" + (
            f": {out.diagnostic}" if out.diagnostic else ""
        )
    elif mx is not None and mx.cannot_receive:
        out.verdict = "bounced-permanent"
        out.summary = f"no notification kept, but {mx.text}: SES bounces every message to it"
        out.diagnostic = mx.text
    else:
        out.summary = "nothing stored about it in the sources searched (see sources)"
    out.next_step = NEXT[out.verdict]
    if out.verdict == "bounced-permanent" and mx is not None and mx.cannot_receive:
        out.next_step = "the domain cannot receive mail (see DNS above): ask the recipient for another address"
    return out


def _blocked(account: src.AccountState | None, recipient: str | None) -> str | None:
    """Why SES would not send to ``recipient`` now, or None."""
    if account is None or account.production_access is None:
        return None
    if account.enforcement == "SHUTDOWN" or account.sending_enabled is False:
        return f"sending is paused for the account (sending enabled: {account.sending_enabled}, enforcement {account.enforcement})"
    if account.sender and account.sender_identity is None:
        return f"the sender {account.sender} is not covered by a verified identity"
    if recipient and not account.production_access and not account.recipient_verified(recipient):
        return "the account is in the SES sandbox and the recipient is not a verified identity"
    return None


# -- the trace -------------------------------------------------------------------------------------
def trace(params: Params, aws: Aws, addresses: list[str], message_ids: list[str]) -> TraceReport:
    """Read every source once for all targets and decide each target's verdict."""
    as_of = params.as_of_datetime()
    if not addresses and not message_ids:
        return TraceReport([], [], params.trace_lookback_days, as_of, aws.stats())
    since = as_of - timedelta(days=params.trace_lookback_days)
    suppressed, s_read = src.suppression(aws, params, addresses)
    rows, n_read = src.notification_rows(aws, params)
    matched = src.match(rows, addresses, message_ids, since, as_of)
    newest = [
        m[-1]["ses_message_id"] for a in addresses if (m := matched.get(a.lower())) and m[-1].get("ses_message_id")
    ]
    insight_rows, i_read = src.insights(aws, params, [*message_ids, *newest])
    for row in src.match(insight_rows, addresses, message_ids, since, as_of).items():
        key, found = row
        merged = matched.setdefault(key, []) + found
        # at the same time, a notification (with its diagnostic code) outranks VDM's event of it
        matched[key] = sorted(merged, key=lambda r: (src.row_time(r) or since, r.get("format") != "insights"))
    mx, d_read = src.recipient_mx(params, src.domains_of(addresses))
    account, a_read = src.account_state(aws, params)
    if a_read.error:
        account = None  # type: ignore[assignment]
    n_read.searched += f" within {params.trace_lookback_days} day(s) before {as_of:%Y-%m-%d %H:%M} UTC"
    keep = {a.lower() for a in addresses}
    traces: list[Trace] = []
    for address in addresses:
        domain = address.rpartition("@")[2].lower()
        traces.append(
            decide(
                address,
                "recipient",
                matched.get(address.lower(), []),
                suppressed.get(address.lower()),
                mx.get(domain),
                account,
                keep,
            )
        )
    for mid in message_ids:
        traces.append(_message_trace(mid, matched.get(mid, []), suppressed, mx, account, keep))
    sources = [s_read, n_read, i_read, d_read, a_read]
    for t in traces:
        if t.verdict == "no-record":
            t.summary = "nothing stored about it: " + searched_text(sources)
    return TraceReport(traces, sources, params.trace_lookback_days, as_of, aws.stats())


def _message_trace(
    mid: str,
    rows: list[dict[str, Any]],
    suppressed: dict[str, dict[str, Any]],
    mx: dict[str, src.MxAnswer],
    account: src.AccountState | None,
    keep: set[str],
) -> Trace:
    """A message's verdict: the worst of its recipients' (a message to one recipient: that one's)."""
    recipients = sorted({str(r.get("recipient") or "").lower() for r in rows} - {""})
    if not recipients:
        out = decide(mid, "message", [], None, None, None, keep)
        return out
    per = [
        decide(
            mid, "message", [r for r in rows if str(r.get("recipient") or "").lower() == rcpt], None, None, None, keep
        )
        for rcpt in recipients
    ]
    worst = max(per, key=lambda t: _SEVERITY[t.verdict])
    worst.evidence = [e for t in per for e in t.evidence]
    return worst


def searched_text(sources: list[src.SourceRead]) -> str:
    """What each source searched (or why it could not), and how long it keeps records."""
    parts = []
    for s in sources:
        if s.error:
            state = f"not searched: {s.error}"
        elif s.skipped and not s.searched:
            state = f"not asked: {s.skipped}"
        else:
            state = s.searched + (f" ({s.skipped})" if s.skipped else "")
        parts.append(f"{s.name}: {state}; {s.keeps}")
    return " | ".join(parts)


# -- what the runbook records and shows ----------------------------------------------------------
def result(report: TraceReport) -> CheckResult:
    """The trace as one result (``trace.recipients``): ok when every target was delivered, fail otherwise,
    error when a source could not be read and a target has no record."""
    counts = report.counts()
    if not report.traces:
        return CheckResult(
            CHECK_ID,
            "Traced recipients got our mail",
            Status.SKIP,
            "nothing traced: set trace_recipients or trace_message_ids",
            {"verdicts": {}, "traces": []},
        )
    failed = [s for s in report.sources if s.error]
    status = Status.OK if report.exit_code == 0 else Status.FAIL
    if failed and any(t.verdict == "no-record" for t in report.traces):
        status = Status.ERROR
    summary = ", ".join(f"{n} {v}" for v, n in counts.items()) or "nothing traced"
    if failed:
        summary += "; could not read: " + "; ".join(f"{s.name} ({s.error})" for s in failed)
    return CheckResult(
        CHECK_ID,
        "Traced recipients got our mail",
        status,
        summary,
        {"verdicts": counts, "traces": [t.to_dict() for t in report.traces[:50]]},
        remediation="recipient-not-receiving" if status != Status.OK else None,
    )


def rows(report: TraceReport) -> list[dict[str, Any]]:
    """One row per target: what a table shows."""
    return [
        {
            "target": t.target,
            "verdict": t.verdict,
            "when": next((e.time for e in t.evidence if e.time), None),
            "diagnostic / response": t.diagnostic,
            "next step": t.next_step,
        }
        for t in report.traces
    ]


def evidence_rows(report: TraceReport, limit: int = 50) -> list[dict[str, Any]]:
    return [
        {"target": t.target, "time": e.time, "source": e.source, "detail": e.detail}
        for t in report.traces[:limit]
        for e in t.evidence
    ]


def source_rows(report: TraceReport) -> list[dict[str, Any]]:
    return [
        {
            "source": s.name,
            "searched": s.searched or "-",
            "state": f"error: {s.error}" if s.error else (s.skipped or "answered"),
            "keeps records": s.keeps,
        }
        for s in report.sources
    ]


def text(report: TraceReport) -> str:
    """The trace for a terminal: one block per target (verdict, summary, diagnostic, next step, evidence),
    then what each source searched."""
    out = []
    for t in report.traces[:200]:
        out.append(f"{t.target}: {t.verdict}")
        out.append(f"  {t.summary}")
        if t.diagnostic:
            out.append(f"  diagnostic: {t.diagnostic}")
        out.append(f"  next: {t.next_step}")
        out.extend(f"  - {e.time or 'now':20} {e.source}: {e.detail}" for e in t.evidence)
    if len(report.traces) > 200:
        out.append(f"... {len(report.traces) - 200} more (--json for all); verdicts: {report.counts()}")
    out.append("sources:")
    out.extend(f"  {r['source']}: {r['searched']}; {r['state']}; {r['keeps records']}" for r in source_rows(report))
    calls = report.calls or {}
    out.append(f"{calls.get('total', 0)} AWS call(s), {calls.get('writes', 0)} write(s)")
    return "\n".join(terminal_text(line) for line in out)  # codes and responses come from receiving servers


def lookup_command(params: Params, t: Trace) -> str:
    """The by-hand look-up of a target: its suppression entry (an address) or VDM's insights (a message id)."""
    if t.kind == "recipient":
        return aws_command(params, "sesv2", "get-suppressed-destination", "--email-address", t.target)
    return aws_command(params, "sesv2", "get-message-insights", "--message-id", t.target)
