"""What a trace of one recipient or one message reads: each source read-only, once for all traced targets.

``ses-runbook trace`` and ``12_trace`` answer "why did this person not get our mail?". The answer is
spread over several places, each read here and handed up as plain data (the verdict is decided in
``checks.trace``):

- the account-level suppression list (SESv2 ``GetSuppressedDestination``, or ``ListSuppressedDestinations``
  once for a bulk trace, see ``BULK_AT``);
- the bounce, complaint, delay and delivery notifications the runbook already reads (the feedback
  queue, through ``sources.feedback``), matched by destination or message id in ONE pass over rows that
  are already parsed, so another store of the same rows (an event store) can be matched the same way;
- VDM's message insights (SESv2 ``GetMessageInsights``), when VDM is on;
- the recipient domain's MX (the shared resolver of ``sources.mailauth.dns``);
- the account's sandbox and sending state and its verified identities, and the sender's identity.

Every source answers or says why it could not (``SourceRead.error``, naming the IAM action for
AccessDenied); one source failing never hides the others. The number of calls is bounded by the
sources, not by the number of traced addresses.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import botocore.exceptions

from ses_runbook.core.aws import describe_error
from ses_runbook.core.errors import DnsError, FeedbackError
from ses_runbook.core.identities import VERIFIED, covering_identity, domain_of
from ses_runbook.sources import events, feedback, ses
from ses_runbook.sources.mailauth.dns import Lookup

if TYPE_CHECKING:
    from ses_runbook.core.aws import Aws
    from ses_runbook.core.params import Params

# From this many traced addresses on, the suppression list is read whole (ListSuppressedDestinations,
# 1,000 entries a page) instead of asked about each address (GetSuppressedDestination, one call each).
# A per-address answer carries the message and feedback ids that put the address there, which the
# listing does not; a listing costs ceil(list size / 1,000) calls whatever the number of addresses.
# Fifty calls of a few milliseconds each is where asking each address stops being the cheaper way for
# the list sizes this account keeps (tens of thousands: a few dozen pages), and a support ticket
# rarely names more than a handful, so the common case keeps the ids.
BULK_AT = 50
# GetMessageInsights is limited by AWS to one call per second: a trace asks about at most this many
# messages (the traced message ids first, then the newest message of each traced address).
INSIGHTS_MAX = 10
# Recipient domains whose MX is looked up, at most (one query each, two without an MX): a bulk trace of
# addresses at thousands of domains would otherwise cost one DNS round trip per address.
DNS_MAX_DOMAINS = 100

# How long each source keeps what it knows: what "no-record" must say.
KEEPS = {
    "suppression list": "keeps an address until it is removed (no expiry)",
    "notifications": "the feedback queue keeps a notification for its retention period (SQS: at most 14 days) "
    "and only until a consumer deletes it",
    "event store": "the event store keeps what its S3 lifecycle keeps (Firehose writes every event; nothing consumes it)",
    "message insights": "VDM keeps message insights for its own retention window, only while VDM is on",
    "DNS": "answers now (not history)",
    "account": "answers now (not history)",
}

SUPPRESSION, NOTIFICATIONS, EVENTS, INSIGHTS, DNS, ACCOUNT = (
    "suppression list",
    "notifications",
    "event store",
    "message insights",
    "DNS",
    "account",
)


@dataclass
class SourceRead:
    """One source's pass: what it searched, how long it keeps records, and why it could not answer."""

    name: str
    searched: str = ""
    error: str | None = None
    skipped: str | None = None  # not asked, and why (VDM off, too many domains)

    @property
    def keeps(self) -> str:
        return KEEPS[self.name]

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.name,
            "searched": self.searched,
            "keeps": self.keeps,
            "error": self.error,
            "skipped": self.skipped,
        }


# -- the account suppression list ------------------------------------------------------------------
def _not_found(exc: Exception) -> bool:
    return (
        isinstance(exc, botocore.exceptions.ClientError)
        and exc.response.get("Error", {}).get("Code") == "NotFoundException"
    )


def suppression(aws: Aws, params: Params, addresses: list[str]) -> tuple[dict[str, dict[str, Any]], SourceRead]:
    """The suppression list's entry of each address that is on it (keys in lower case).

    Fewer than ``BULK_AT`` addresses: SESv2 ``GetSuppressedDestination`` each (a NotFoundException
    means "not on the list"); more: SESv2 ``ListSuppressedDestinations`` once, all pages.
    """
    read = SourceRead(SUPPRESSION)
    found: dict[str, dict[str, Any]] = {}
    wanted = {a.lower() for a in addresses}
    if not wanted:
        read.skipped = "no address traced"
        return found, read
    try:
        if len(wanted) < BULK_AT:
            read.searched = f"GetSuppressedDestination for {len(wanted)} address(es)"
            for address in sorted(wanted):
                try:
                    item = aws.call("sesv2", "GetSuppressedDestination", EmailAddress=address)["SuppressedDestination"]
                except Exception as exc:
                    if _not_found(exc):
                        continue
                    raise
                found[address] = _entry(item)
        else:
            read.searched = f"ListSuppressedDestinations (whole list, for {len(wanted)} addresses)"
            for item in ses.suppressed_destinations(aws):
                address = str(item.get("EmailAddress", "")).lower()
                if address in wanted:
                    found[address] = _entry(item)
    except Exception as exc:  # noqa: BLE001 - this source errors, the others still answer
        read.error = describe_error(exc, params)
    return found, read


def _entry(item: dict[str, Any]) -> dict[str, Any]:
    attributes = item.get("Attributes") or {}
    return {
        "reason": item.get("Reason"),
        "last_update": ses.when(item.get("LastUpdateTime")),
        "message_id": attributes.get("MessageId"),
        "feedback_id": attributes.get("FeedbackId"),
    }


# -- notifications ---------------------------------------------------------------------------------
def notification_rows(aws: Aws, params: Params) -> tuple[list[dict[str, Any]], SourceRead]:
    """Every notification on the feedback queue as parsed rows (``sources.feedback``: one receive pass,
    nothing consumed), or from the event store when the parameters name one (``sources.events``, over
    ``trace_lookback_days``). The rows are what ``match`` takes, whichever source gave them."""
    if events.configured(params):
        return _event_rows(aws, params)
    read = SourceRead(NOTIFICATIONS)
    if not params.feedback_queue_url:
        read.error = "no feedback_queue_url: set it to the SQS queue subscribed to the feedback topic"
        return [], read
    try:
        queue = feedback.read_queue(aws, params)
    except FeedbackError as exc:
        read.error = str(exc)
        return [], read
    rows, counts = feedback.parse(queue.bodies)
    read.searched = (
        f"feedback queue {queue.notes.get('queue')}: {counts['notifications']} notification(s) in "
        f"{queue.notes.get('messages_read', 0)} message(s), read {'to its end' if queue.notes.get('read_to_end') else 'NOT to its end'}"
    )
    return rows, read


def _event_rows(aws: Aws, params: Params) -> tuple[list[dict[str, Any]], SourceRead]:
    read = SourceRead(EVENTS)
    window = params.model_copy(update={"lookback_days": params.trace_lookback_days})
    try:
        found = events.load(aws, window)
    except FeedbackError as exc:
        read.error = str(exc)
        return [], read
    frame = found.frame.astype(object).where(found.frame.notna(), None)  # a missing field is None, not NaN
    read.searched = events.notes_text(found.notes)
    return frame.to_dict("records"), read


def match(
    rows: Iterable[dict[str, Any]],
    addresses: Iterable[str],
    message_ids: Iterable[str],
    since: datetime,
    until: datetime,
) -> dict[str, list[dict[str, Any]]]:
    """One pass over parsed notification rows: the rows of each traced address (lower case) and message
    id, inside [since, until], oldest first. Cost: one dictionary look-up per row, whatever the number
    of traced targets."""
    by_address = {a.lower(): a.lower() for a in addresses}
    ids = set(message_ids)
    out: dict[str, list[dict[str, Any]]] = {key: [] for key in [*by_address.values(), *ids]}
    for row in rows:
        when = row_time(row)
        if when is None or not since <= when <= until:
            continue
        recipient = str(row.get("recipient") or "").lower()
        if recipient in by_address:
            out[recipient].append(row)
        mid = row.get("ses_message_id")
        if mid in ids:
            out[mid].append(row)
    for found in out.values():
        found.sort(key=lambda r: row_time(r) or since)
    return out


def row_time(row: dict[str, Any]) -> datetime | None:
    value = row.get("time")
    if isinstance(value, datetime):
        return value
    try:
        return ses.when(str(value)) if value else None
    except ValueError:
        return None


# -- VDM message insights --------------------------------------------------------------------------
_INSIGHT_TYPES = {
    "DELIVERY": "Delivery",
    "BOUNCE": "Bounce",
    "COMPLAINT": "Complaint",
    "DELIVERY_DELAY": "DeliveryDelay",
    "REJECT": "Reject",
}


def insights(aws: Aws, params: Params, message_ids: list[str]) -> tuple[list[dict[str, Any]], SourceRead]:
    """VDM's events of up to ``INSIGHTS_MAX`` messages (SESv2 ``GetMessageInsights``), as notification
    rows (``format`` "insights"); when VDM is off, nothing is asked and the note says what it would add."""
    read = SourceRead(INSIGHTS)
    try:
        enabled = (ses.account(aws).get("VdmAttributes") or {}).get("VdmEnabled") == "ENABLED"
    except Exception as exc:  # noqa: BLE001
        read.error = describe_error(exc, params)
        return [], read
    if not enabled:
        read.skipped = (
            "VDM is off: with it on, GetMessageInsights gives each message's events (send, delivery, bounce "
            "with its diagnostic code, complaint, open, click) by message id, even when no notification was kept"
        )
        return [], read
    asked = list(dict.fromkeys(message_ids))[:INSIGHTS_MAX]
    read.searched = f"GetMessageInsights for {len(asked)} message(s)"
    if len(message_ids) > INSIGHTS_MAX:
        read.searched += f" ({len(set(message_ids)) - len(asked)} more not asked: AWS allows one call a second)"
    rows: list[dict[str, Any]] = []
    for mid in asked:
        try:
            answer = aws.call("sesv2", "GetMessageInsights", MessageId=mid)
        except Exception as exc:  # noqa: BLE001
            if _not_found(exc):
                continue
            read.error = describe_error(exc, params)
            break
        for insight in answer.get("Insights", []):
            for event in insight.get("Events", []):
                kind = _INSIGHT_TYPES.get(str(event.get("Type")))
                if kind is None:
                    continue
                bounce = (event.get("Details") or {}).get("Bounce") or {}
                complaint = (event.get("Details") or {}).get("Complaint") or {}
                rows.append(
                    {
                        "time": ses.when(event.get("Timestamp")),
                        "type": kind,
                        "recipient": insight.get("Destination"),
                        "bounce_type": str(bounce.get("BounceType", "")).title() or None,
                        "bounce_subtype": bounce.get("BounceSubType"),
                        "diagnostic_code": bounce.get("DiagnosticCode"),
                        "complaint_type": complaint.get("ComplaintFeedbackType"),
                        "ses_message_id": mid,
                        "source": answer.get("FromEmailAddress"),
                        "format": "insights",
                    }
                )
    return rows, read


# -- the recipient domain's MX ---------------------------------------------------------------------
@dataclass
class MxAnswer:
    """Whether a domain can receive mail: ``mx``, ``null-mx`` (RFC 7505), ``a-fallback``, ``none`` or ``nxdomain``."""

    domain: str
    state: str
    records: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return {
            "mx": f"{self.domain} MX: {', '.join(self.records)}",
            "null-mx": f"{self.domain} publishes a null MX (RFC 7505, '0 .'): it accepts no mail",
            "a-fallback": f"{self.domain} has no MX; mail goes to its A record ({', '.join(self.records)}) (RFC 5321 fallback)",
            "none": f"{self.domain} has neither an MX nor an A record: no mail can be delivered",
            "nxdomain": f"{self.domain} does not exist (NXDOMAIN)",
        }[self.state]

    @property
    def cannot_receive(self) -> bool:
        return self.state in ("null-mx", "none", "nxdomain")


def recipient_mx(params: Params, domains: Iterable[str]) -> tuple[dict[str, MxAnswer], SourceRead]:
    """The MX of each recipient domain (the first ``DNS_MAX_DOMAINS``): an MX, a null MX, no MX with an A
    record to fall back on, or no such domain."""
    read = SourceRead(DNS)
    unique = sorted({d.lower() for d in domains if d})
    asked = unique[:DNS_MAX_DOMAINS]
    read.searched = f"MX of {len(asked)} recipient domain(s)"
    if len(unique) > len(asked):
        read.skipped = f"{len(unique) - len(asked)} more domain(s) not looked up (at most {DNS_MAX_DOMAINS} a trace)"
    out: dict[str, MxAnswer] = {}
    try:
        lookup = Lookup(params)
        for domain in asked:
            mx = lookup.query(domain, "MX")
            if mx.rcode == "NXDOMAIN":
                out[domain] = MxAnswer(domain, "nxdomain")
                continue
            hosts = [v for v in mx.values if v.split()[1:] not in ([], ["."], [""])]
            if mx.values and not hosts:
                out[domain] = MxAnswer(domain, "null-mx", mx.values)
            elif hosts:
                out[domain] = MxAnswer(domain, "mx", sorted(hosts, key=lambda v: int(v.split()[0])))
            else:
                a = lookup.query(domain, "A")
                out[domain] = MxAnswer(domain, "a-fallback" if a.values else "none", a.values)
    except DnsError as exc:
        read.error = str(exc)
    return out, read


# -- the account and the sender --------------------------------------------------------------------
@dataclass
class AccountState:
    """What stops a message before SES sends it: the sandbox, paused sending, unverified identities."""

    production_access: bool | None = None
    sending_enabled: bool | None = None
    enforcement: str | None = None
    sender: str = ""
    sender_identity: str | None = None  # the verified identity that covers the sender, None: none does
    verified: dict[str, str] = field(default_factory=dict)  # identity -> v1 status, for recipients in the sandbox

    def recipient_verified(self, address: str) -> bool:
        return covering_identity(address, self.verified) is not None


def account_state(aws: Aws, params: Params) -> tuple[AccountState, SourceRead]:
    """SESv2 ``GetAccount`` (sandbox, sending, enforcement) and ``ListEmailIdentities`` (which identities
    are verified: the sender's, and in the sandbox the recipients')."""
    read = SourceRead(ACCOUNT, searched="GetAccount, ListEmailIdentities")
    state = AccountState(sender=params.sender)
    try:
        account = ses.account(aws)
        state.production_access = bool(account.get("ProductionAccessEnabled"))
        state.sending_enabled = bool(account.get("SendingEnabled", True))
        state.enforcement = account.get("EnforcementStatus")
        identities = ses.email_identities(aws)
        state.verified = {
            name: item["verification"] for name, item in identities.items() if item["verification"] == VERIFIED
        }
        state.sender_identity = covering_identity(params.sender, state.verified)
    except Exception as exc:  # noqa: BLE001
        read.error = describe_error(exc, params)
    return state, read


def domains_of(addresses: Iterable[str]) -> list[str]:
    return sorted({d for d in (domain_of(a) for a in addresses) if d})
