"""The ``message.*`` checks: one received message judged the way a mailbox provider judges it.

DKIM, SPF, DMARC and one-click unsubscribe, verified against live DNS through the run's
``mailauth.dns.Lookup``. The verdicts come from ``sources.mailauth``, the code the DNS checks grade
the records with, so ``message.*`` and ``dns.*`` cannot disagree about the same records:

- DKIM and ARC: ``mailauth.dkim`` (dkimpy; rsa-sha256 and ed25519-sha256);
- SPF: ``mailauth.spf.check_host`` for the connecting IP of the Received chain (RFC 7208,
  including the 10-lookup and 2-void-lookup limits);
- DMARC: ``mailauth.dmarc.discover`` (the From domain's record, else the organizational
  domain's with ``sp=``) and ``mailauth.dmarc.evaluate`` (alignment by organizational domain);
- the receiver's own verdicts (``sources.message.receiver_verdicts``: ``Authentication-Results``,
  ARC, SES receiving's ``X-SES-*-Verdict``) shown beside ours.

The message itself (parsing, its Received chain, body defects) is ``sources.message``; where it
comes from (a saved file, or what SES receiving stored) is ``checks.mailtest``. Here are the
results built from the verdicts, the ``judge`` that runs all four, and Gmail's and Yahoo's sender
requirements read from them. Nothing prints; a check that cannot run is an ``error`` result that
says why, never a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ses_runbook.core.errors import RunbookError
from ses_runbook.core.identities import domain_of
from ses_runbook.core.results import CheckResult, Status
from ses_runbook.sources.mailauth import dkim as dkim_auth
from ses_runbook.sources.mailauth import dmarc as dmarc_auth
from ses_runbook.sources.mailauth import spf as spf_auth
from ses_runbook.sources.mailauth.dns import Lookup, dig_command, tag_list
from ses_runbook.sources.mailauth.domains import aligned, org_domain
from ses_runbook.sources.message import Message, body_defects, connecting_hop, receiver_verdicts

if TYPE_CHECKING:
    from ses_runbook.core.params import Params

IDS = ("message.dkim", "message.spf", "message.dmarc", "message.unsubscribe")
TITLES = {
    "message.dkim": "DKIM signature of the message verifies, aligned with the From domain",
    "message.spf": "SPF of the envelope sender passes for the connecting IP",
    "message.dmarc": "DMARC passes: SPF or DKIM aligned with the From domain",
    "message.unsubscribe": "Subscribed mail carries one-click unsubscribe (RFC 8058)",
}


# -- the receiver's verdict beside ours ----------------------------------------------------------
def _theirs(verdicts: list[dict[str, Any]], method: str) -> str | None:
    found = [v["result"] for v in verdicts if v["method"] == method and v["source"] == "Authentication-Results"]
    found = found or [v["result"] for v in verdicts if v["method"] == method]
    return found[0] if found else None


def _beside(ours: str, theirs: str | None) -> dict[str, Any]:
    if theirs is None:
        return {"receiver": None}
    agree = (ours == "pass") == (theirs == "pass")
    note = (
        ""
        if agree
        else (
            f"the receiver said {theirs}, we say {ours}: DNS changed since delivery (a key rotated, a record edited), "
            "or the message was altered after the receiver checked it (forwarding, saving, a footer added)"
        )
    )
    return {"receiver": theirs, "agrees": agree, "disagreement": note}


# -- the four checks -----------------------------------------------------------------------------
def _result(
    check_id: str, status: Status, summary: str, details: dict[str, Any], remediation: str | None, cli: str
) -> CheckResult:
    return CheckResult(
        id=check_id,
        title=TITLES[check_id],
        status=status,
        summary=summary,
        details=details,
        remediation=remediation if status in (Status.WARN, Status.FAIL) else None,
        cli=cli,
    )


def check_dkim(msg: Message, lookup: Lookup, verdicts: list[dict[str, Any]]) -> CheckResult:
    rows = dkim_auth.verify(msg.raw, lookup)
    from_domain = msg.from_domain
    for row in rows:
        row["aligned"] = aligned(row["d"], from_domain)
    details: dict[str, Any] = {
        "from_domain": from_domain,
        "signatures": rows,
        "resolver": lookup.label,
        "arc": dkim_auth.verify_arc(msg.raw, lookup) if msg.headers("ARC-Seal") else None,
        "body_defects": body_defects(msg),
    }
    first = rows[0]["selector_name"] if rows else f"SELECTOR._domainkey.{from_domain}"
    cli = dig_command(lookup.params, "TXT", first)
    passing = [r for r in rows if r["result"] == "pass"]
    good = [r for r in passing if r["aligned"]]
    ours = "pass" if passing else ("none" if not rows else "fail")  # as a receiver reports dkim=: any valid signature
    details.update(_beside(ours, _theirs(verdicts, "dkim")))

    def describe(r):
        return f"d={r['d']} s={r['s']} a={r['a']} {r['key_bits'] or '?'}-bit: {r['result']}" + (
            f" ({r['reason']})" if r["reason"] else ""
        )

    if not rows:
        return _result(
            "message.dkim",
            Status.FAIL,
            f"no DKIM-Signature in the message: receivers see it unsigned, and DMARC "
            f"for {from_domain} can pass only through aligned SPF",
            details,
            "emails-going-to-spam",
            cli,
        )
    bad = [r for r in rows if r["result"] != "pass"]
    notes = [
        f"{r['d']} signs only the first {r['l']} bytes of the body (l=): anything appended is unsigned"
        for r in passing
        if r["l"]
    ]
    if details["body_defects"] and bad:
        notes.append("body defects: " + ", ".join(details["body_defects"]))
    total = len(msg.headers("DKIM-Signature"))
    if total > len(rows):
        details["signatures_total"] = total
        notes.append(f"{total} DKIM signatures: only the first {len(rows)} judged, as receivers limit them too")
    suffix = ("; " + "; ".join(notes)) if notes else ""
    if not good:
        status = Status.FAIL if bad or not passing else Status.WARN
        if passing and not bad:
            text = f"DKIM passes but no signature is aligned with the From domain {from_domain}: " + "; ".join(
                describe(r) for r in rows
            )
        else:
            text = f"no aligned DKIM signature verifies for {from_domain}: " + "; ".join(describe(r) for r in rows)
        return _result("message.dkim", status, text + suffix, details, "emails-going-to-spam", cli)
    if bad or notes:
        return _result(
            "message.dkim",
            Status.WARN,
            f"aligned signature passes ({describe(good[0])}) but: " + "; ".join([describe(r) for r in bad] + notes),
            details,
            "emails-going-to-spam",
            cli,
        )
    return _result(
        "message.dkim",
        Status.OK,
        "; ".join(describe(r) + (" aligned" if r["aligned"] else "") for r in rows),
        details,
        None,
        cli,
    )


def check_spf(msg: Message, lookup: Lookup, verdicts: list[dict[str, Any]]) -> CheckResult:
    params = lookup.params
    return_path = msg.return_path
    hop = connecting_hop(msg)
    envelope = return_path or ""
    domain = domain_of(envelope) or ""
    details: dict[str, Any] = {"return_path": return_path, "mail_from_domain": domain or None, "connecting_hop": hop}
    details.update(_beside("?", _theirs(verdicts, "spf")))
    cli = dig_command(params, "TXT", domain or "MAIL_FROM_DOMAIN")
    if return_path is None:
        return _result(
            "message.spf",
            Status.ERROR,
            "no Return-Path header: the message was not saved as delivered (the "
            "receiving server adds it), so the envelope sender is unknown",
            details,
            None,
            cli,
        )
    if not domain:
        return _result(
            "message.spf",
            Status.ERROR,
            "the Return-Path is the null sender <> (a bounce): SPF is checked on the "
            "HELO name then, not measurable here",
            details,
            None,
            cli,
        )
    if hop is None:
        return _result(
            "message.spf",
            Status.ERROR,
            "no Received header names a public connecting IP (the chain has no IP, "
            "or only private ones): SPF cannot be evaluated for this message",
            details,
            None,
            cli,
        )
    evaluation = spf_auth.check_host(lookup, hop["ip"], envelope, hop.get("from") or "")
    details.update(evaluation)
    details.update(_beside(evaluation["result"], _theirs(verdicts, "spf")))
    result = evaluation["result"]
    head = (
        f"SPF {result} for {domain} (Return-Path) from {hop['ip']} ({hop.get('from') or '?'}); "
        f"{evaluation['dns_lookups']} DNS lookup(s)"
    )
    if evaluation["explanation"] and result != "pass":
        head += f": {evaluation['explanation']}"
    if result == "pass":
        return _result("message.spf", Status.OK, head, details, None, cli)
    if result == "temperror":
        return _result("message.spf", Status.ERROR, head + " (DNS did not answer: try again)", details, None, cli)
    if result in ("neutral", "none", "softfail"):
        return _result(
            "message.spf",
            Status.WARN if result == "neutral" else Status.FAIL,
            head,
            details,
            "emails-going-to-spam",
            cli,
        )
    return _result(
        "message.spf",
        Status.FAIL,
        head + ("; receivers treat a permerror as a failure (RFC 7208 2.6.7)" if result == "permerror" else ""),
        details,
        "emails-going-to-spam",
        cli,
    )


_RECORD_KEYS = ("found", "location", "record", "policy", "adkim", "aspf", "pct", "tags", "error", "parse_error")


def check_dmarc(
    msg: Message, lookup: Lookup, dkim_result: CheckResult, spf_result: CheckResult, verdicts: list[dict[str, Any]]
) -> CheckResult:
    from_domain = msg.from_domain
    details: dict[str, Any] = {"from_domain": from_domain}
    names = dict.fromkeys([f"_dmarc.{from_domain}", f"_dmarc.{org_domain(from_domain)}" if from_domain else ""])
    cli = " ; ".join(dig_command(lookup.params, "TXT", n) for n in names if n)
    if not from_domain:
        return _result(
            "message.dmarc",
            Status.FAIL,
            "the From header has no address with a domain: DMARC cannot align anything",
            details,
            "emails-going-to-spam",
            cli,
        )
    policy = dmarc_auth.discover(lookup, from_domain)
    record = {k: policy[k] for k in _RECORD_KEYS if k in policy}
    if policy.get("inherited"):
        record.update(inherited=True, policy_tag=policy["policy_tag"], asked=policy["asked"])
    details["record"] = record
    adkim, aspf = str(policy.get("adkim", "r")), str(policy.get("aspf", "r"))
    dkim_pass = [s["d"] for s in dkim_result.details.get("signatures", []) if s["result"] == "pass"]
    spf_domain = spf_result.details.get("mail_from_domain")
    spf_pass = spf_result.details.get("result") == "pass"
    verdict = dmarc_auth.evaluate(policy, dkim_pass, spf_domain, spf_pass)
    dkim_ok, spf_ok = verdict["dkim_aligned"], verdict["spf_aligned"]
    details.update(
        dkim_aligned=dkim_ok, spf_aligned=spf_ok, spf_domain=spf_domain, spf_known=spf_result.status != Status.ERROR
    )
    ours = verdict["result"]
    details.update(_beside(ours, _theirs(verdicts, "dmarc")))
    mode = f"adkim={adkim}, aspf={aspf} ({'strict' if 's' in (adkim, aspf) else 'relaxed'})"
    how = []
    how.append(
        f"DKIM aligned (d={dkim_ok[0]})"
        if dkim_ok
        else (f"DKIM passes for {', '.join(dkim_pass)} but is not aligned" if dkim_pass else "no passing DKIM")
    )
    how.append(
        f"SPF aligned ({spf_domain})"
        if spf_ok
        else (
            f"SPF passes for {spf_domain} but is not aligned"
            if spf_pass
            else "SPF not evaluated"
            if spf_result.status == Status.ERROR
            else "SPF does not pass"
        )
    )
    if not record.get("found"):
        status = Status.FAIL
        summary = (
            f"{record.get('error')} at {record['location']}: providers require one for bulk senders; {'; '.join(how)}"
        )
        return _result("message.dmarc", status, summary, details, "emails-going-to-spam", cli)
    tag = policy["policy_tag"]
    where = f" of {policy['location']}, the organizational domain's record" if policy["inherited"] else ""
    summary = f"DMARC {ours} for {from_domain} ({tag}={record['policy']}{where}, {mode}): {'; '.join(how)}"
    if ours == "pass":
        status = Status.OK
    elif not dkim_ok and spf_result.status == Status.ERROR:
        status = Status.ERROR
        summary += "; SPF could not be evaluated, so DMARC may still pass through SPF"
    else:
        status = Status.FAIL
        summary += f"; receivers apply {tag}={record['policy']}"
    return _result("message.dmarc", status, summary, details, "emails-going-to-spam", cli)


def check_unsubscribe(msg: Message, kind: str) -> CheckResult:
    """RFC 8058 one-click: an https List-Unsubscribe URI plus ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``."""
    value = msg.header("List-Unsubscribe")
    post = msg.header("List-Unsubscribe-Post")
    uris = re.findall(r"<([^>]+)>", value or "")
    https = [u for u in uris if u.lower().startswith("https://")]
    one_click = post is not None and re.sub(r"\s+", "", post).lower() == "list-unsubscribe=one-click"
    signed = any(
        "list-unsubscribe" in (tag_list(v).get("h") or "").lower().split(":") for v in msg.headers("DKIM-Signature")
    )
    details = {
        "message_kind": kind,
        "List-Unsubscribe": value,
        "List-Unsubscribe-Post": post,
        "https_uris": https,
        "one_click": one_click,
        "signed_by_dkim": signed,
    }
    cli = "ses-runbook mail-test MESSAGE.eml -p message_kind subscribed"
    missing = []
    if not https:
        missing.append("List-Unsubscribe with an https URI" + (f" (has only {', '.join(uris)})" if uris else ""))
    if not one_click:
        missing.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click" + (f" (has '{post}')" if post else ""))
    if kind == "transactional":
        text = "transactional mail is exempt from one-click unsubscribe" + (
            "" if not missing else "; it lacks " + " and ".join(missing) + " (needed once it is subscribed mail)"
        )
        return _result("message.unsubscribe", Status.OK, text, details, None, cli)
    if missing:
        return _result(
            "message.unsubscribe",
            Status.FAIL,
            "subscribed mail without one-click unsubscribe: missing "
            + " and ".join(missing)
            + "; Gmail and Yahoo require it from bulk senders",
            details,
            "emails-going-to-spam",
            cli,
        )
    note = "" if signed else " (not covered by a DKIM signature: Gmail wants both headers signed)"
    return _result(
        "message.unsubscribe",
        Status.OK if signed else Status.WARN,
        f"one-click unsubscribe present: {https[0]}{note}",
        details,
        "emails-going-to-spam",
        cli,
    )


@dataclass
class Judgement:
    """A message and everything judged about it: what the notebook and the CLI display."""

    message: Message
    results: list[CheckResult]
    verdicts: list[dict[str, Any]]

    def by_id(self) -> dict[str, CheckResult]:
        return {r.id: r for r in self.results}


def judge(msg: Message, params: Params, lookup: Lookup | None = None) -> Judgement:
    """The four ``message.*`` checks for one message; a check that cannot run is an ``error`` result."""

    verdicts = receiver_verdicts(msg)
    lookup = lookup or Lookup(params)
    results: list[CheckResult] = []

    def guarded(check_id: str, fn: Callable[[], CheckResult]) -> CheckResult:
        try:
            return fn()
        except RunbookError as exc:
            return _result(check_id, Status.ERROR, str(exc), {}, None, "")
        except Exception as exc:  # noqa: BLE001 - one bad header must not hide the other verdicts
            return _result(check_id, Status.ERROR, f"{type(exc).__name__}: {exc}", {}, None, "")

    dkim_r = guarded("message.dkim", lambda: check_dkim(msg, lookup, verdicts))
    spf_r = guarded("message.spf", lambda: check_spf(msg, lookup, verdicts))
    dmarc_r = guarded("message.dmarc", lambda: check_dmarc(msg, lookup, dkim_r, spf_r, verdicts))
    unsub_r = guarded("message.unsubscribe", lambda: check_unsubscribe(msg, params.message_kind))
    results = [dkim_r, spf_r, dmarc_r, unsub_r]
    for r in results:
        r.details.setdefault("source", msg.source)
        if msg.folder:
            r.details.setdefault("folder", msg.folder)
    return Judgement(message=msg, results=results, verdicts=verdicts)


# -- the providers' rules ------------------------------------------------------------------------
COMPLAINT_LIMIT = 0.003  # Gmail and Yahoo: keep the user-reported spam rate under 0.3 %


def verdict_rows(judgement: Judgement) -> list[dict[str, Any]]:
    """Our verdict beside the receiver's, per mechanism, with any disagreement explained."""
    rows = []
    for r in judgement.results[:3]:
        method = r.id.split(".")[1]
        signatures = r.details.get("signatures", [])
        ours = {
            "message.dkim": (
                "none" if not signatures else "pass" if any(s["result"] == "pass" for s in signatures) else "fail"
            )
            + (
                " (aligned)"
                if any(s.get("aligned") and s["result"] == "pass" for s in signatures)
                else " (not aligned)"
                if any(s["result"] == "pass" for s in signatures)
                else ""
            ),
            "message.spf": r.details.get("result", "not evaluated"),
            "message.dmarc": "pass"
            if r.status == Status.OK
            else ("fail" if r.status == Status.FAIL else "not evaluated"),
        }[r.id]
        rows.append(
            {
                "mechanism": method,
                "ours": ours,
                "status": r.status.value,
                "receiver": r.details.get("receiver") or "(none in message)",
                "note": r.details.get("disagreement") or "",
            }
        )
    for v in judgement.verdicts:
        if v["method"] in ("spam", "virus"):
            rows.append(
                {"mechanism": v["method"], "ours": "", "status": "", "receiver": v["result"], "note": v["source"]}
            )
    if judgement.message.folder:
        rows.append(
            {
                "mechanism": "placement",
                "ours": "",
                "status": "",
                "receiver": judgement.message.folder,
                "note": "IMAP folder the message was found in",
            }
        )
    return rows


def requirements(
    judgement: Judgement | None, complaint_rate: float | None = None, dns_results: Iterable[CheckResult] = ()
) -> list[dict[str, str]]:
    """Gmail's and Yahoo's sender requirements (enforced since 2024), each met / not met / not measurable here."""
    by_id = judgement.by_id() if judgement else {}
    dns_by_id = {r.id: r for r in dns_results}

    def state(ok: bool | None) -> str:
        return "not measurable here" if ok is None else ("met" if ok else "not met")

    def from_check(check_id: str) -> bool | None:
        r = by_id.get(check_id)
        if r is None or r.status in (Status.ERROR, Status.SKIP):
            return None
        return (
            r.status in (Status.OK, Status.WARN)
            if check_id != "message.dkim"
            else any(s["result"] == "pass" for s in r.details.get("signatures", []))
        )

    spf = from_check("message.spf")
    if spf is not None:
        spf = by_id["message.spf"].details.get("result") == "pass"
    dmarc = by_id.get("message.dmarc")
    has_record = (
        None
        if dmarc is None or dmarc.status == Status.ERROR and "record" not in dmarc.details
        else bool(dmarc.details.get("record", {}).get("found"))
    )
    aligned_ok = None if dmarc is None or dmarc.status == Status.ERROR else dmarc.status == Status.OK
    unsub = by_id.get("message.unsubscribe")
    kind = unsub.details.get("message_kind") if unsub else None
    one_click = None if unsub is None else (unsub.status != Status.FAIL)
    tls = None
    if judgement:
        hop = connecting_hop(judgement.message)
        tls = None if hop is None else hop["tls"] == "yes"
    rate_ok = None if complaint_rate is None else complaint_rate < COMPLAINT_LIMIT
    rows = [
        ("SPF passes for the sending domain", state(spf), "message.spf"),
        ("DKIM passes (a valid signature)", state(from_check("message.dkim")), "message.dkim"),
        ("A DMARC record is published (p=none at least)", state(has_record), "message.dmarc / dns.dmarc"),
        ("From domain aligned with SPF or DKIM (DMARC passes)", state(aligned_ok), "message.dmarc"),
        (
            "One-click unsubscribe on subscribed mail (RFC 8058)",
            state(one_click) + (" (transactional: exempt)" if kind == "transactional" else ""),
            "message.unsubscribe",
        ),
        ("Delivered over TLS", state(tls), "Received header of the connecting hop"),
        (
            "Spam complaint rate under 0.3 % (Postmaster Tools)",
            state(rate_ok) + ("" if complaint_rate is None else f" ({complaint_rate:.3%} SES complaint rate)"),
            "reputation.complaint_rate; 07_cloudwatch_metrics plot",
        ),
        ("Valid forward and reverse DNS of the sending IPs", "met (Amazon SES's shared IPs)", "SES"),
    ]
    if "dns.dmarc" in dns_by_id and has_record is None:
        rows[2] = (rows[2][0], state(dns_by_id["dns.dmarc"].status in (Status.OK, Status.WARN)), "dns.dmarc")
    return [{"requirement": r, "state": s, "evidence": e} for r, s, e in rows]
