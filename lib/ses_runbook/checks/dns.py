"""Runbook rows "DKIM verification failed" and "Emails going to spam": the DNS records themselves.

The SES API says what it last saw; these checks ask DNS what is there *now* (dnspython, against
``params.dns_nameservers`` or the system resolver), so a CNAME deleted in Cloudflare shows up
before SES flips the identity to Failed. Every record that is missing or wrong comes back as the
exact line to paste into the zone (``details["zone_lines"]``) and as data
(``details["records_to_add"]``). ``identity.mail_from`` lives here too: it is an API status plus
an MX record, and it shares the resolver.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ses_runbook.checks import Context, Outcome, check
from ses_runbook.core.aws import describe_error
from ses_runbook.core.commands import aws_command
from ses_runbook.core.results import Status
from ses_runbook.sources import ses
from ses_runbook.sources.mailauth import spfdmarc
from ses_runbook.sources.mailauth.dns import Lookup, dig_command

if TYPE_CHECKING:
    pass

TTL = 300  # what Cloudflare's "Auto" TTL means
DEFAULT_SIGNING_ZONE = "dkim.amazonses.com"
SPF_VALUE = "v=spf1 include:amazonses.com ~all"
SPF_LOOKUP_LIMIT = spfdmarc.LOOKUP_LIMIT
SPF_VOID_LIMIT = spfdmarc.VOID_LIMIT
_SES_INCLUDE = re.compile(r"^[+]?include:amazonses\.com\.?$", re.IGNORECASE)


def lookup(ctx: Context) -> Lookup:
    """The run's ``Lookup``, created on first use and shared by every DNS check."""
    return ctx.once("dns", lambda: Lookup(ctx.params))


# -- records to add ---------------------------------------------------------------------
def record(name: str, rtype: str, value: str, ttl: int = TTL) -> dict[str, Any]:
    """One DNS record as data: what ``records_to_add`` holds."""
    return {"name": name.rstrip("."), "type": rtype, "value": value, "ttl": ttl}


def _quote_txt(value: str) -> str:
    """Quoted character-strings of at most 255 characters each (split first, then escaped)."""
    chunks = [value[i : i + 255] for i in range(0, len(value), 255)] or [""]
    return " ".join('"' + c.replace("\\", "\\\\").replace('"', '\\"') + '"' for c in chunks)


def zone_line(rec: dict[str, Any]) -> str:
    """The record as a zone-file line, as Cloudflare's import and every DNS host accept it."""
    rtype = rec["type"].upper()
    value = str(rec["value"])
    if rtype in ("CNAME", "NS", "PTR"):
        rdata = value.rstrip(".") + "."
    elif rtype == "MX":
        pref, _, host = value.partition(" ")
        rdata = f"{pref} {host.strip().rstrip('.')}."
    elif rtype == "TXT":
        rdata = _quote_txt(value)
    else:
        rdata = value
    return f"{rec['name'].rstrip('.')}. {rec.get('ttl', TTL)} IN {rtype} {rdata}"


def _with_records(details: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    details["records_to_add"] = records
    details["zone_lines"] = [zone_line(r) for r in records]
    return details


def _add_text(records: list[dict[str, Any]]) -> str:
    return "; add to the zone: " + " | ".join(zone_line(r) for r in records)


# -- the identity as the API states it ---------------------------------------------------
def identity(ctx: Context) -> dict[str, Any]:
    """SESv2 GetEmailIdentity for the domain (memoized by the client layer); ``{}`` when the
    domain is not an identity at all (NotFoundException), which identity.verification fails."""

    def fetch() -> dict[str, Any]:
        try:
            return ses.email_identity(ctx.aws, ctx.params.domain)
        except Exception as exc:
            if getattr(exc, "response", {}).get("Error", {}).get("Code") != "NotFoundException":
                raise
            return {}

    return ctx.once("dns.identity", fetch)


def _not_an_identity(ctx: Context) -> Outcome:
    return Outcome(
        Status.FAIL,
        f"{ctx.params.domain} is not an SES identity in {ctx.params.region}: "
        "nothing to check (see identity.verification)",
        {"identity": ctx.params.domain},
        "domain-not-verified",
    )


def dkim_target(token: str, zone: str | None) -> str:
    """Where a token's CNAME must point: ``TOKEN.<SigningHostedZone>``.

    AWS documents the zone as the full suffix (``dkim.amazonses.com``, ``dkim.REGION.amazonses.com``);
    a bare ``amazonses.com`` (older answers, the sandbox) means the classic ``TOKEN.dkim.amazonses.com``.
    """
    zone = (zone or DEFAULT_SIGNING_ZONE).strip().rstrip(".").lower()
    if not zone.startswith("dkim."):
        zone = "dkim." + zone
    return f"{token.lower()}.{zone}"


def mail_from_domain(ctx: Context) -> tuple[str | None, dict[str, Any]]:
    """The custom MAIL FROM domain (or None) and its API attributes."""
    attrs = dict(identity(ctx).get("MailFromAttributes") or {})
    return (attrs.get("MailFromDomain") or None), attrs


# -- checks ------------------------------------------------------------------------------
@check(
    "identity.mail_from",
    "Custom MAIL FROM domain is verified and its MX is published",
    lambda p: aws_command(p, "ses", "get-identity-mail-from-domain-attributes", f"--identities {p.domain}"),
    remediation="emails-going-to-spam",
)
def mail_from(ctx: Context) -> Outcome:
    p = ctx.params
    if not identity(ctx):
        return _not_an_identity(ctx)
    domain, attrs = mail_from_domain(ctx)
    behavior = attrs.get("BehaviorOnMxFailure", "USE_DEFAULT_VALUE")
    if not domain:
        return Outcome(
            Status.OK,
            f"no custom MAIL FROM for {p.domain}: SES uses its own amazonses.com MAIL FROM "
            "(SPF then passes for amazonses.com, not aligned with the From domain; DMARC relies on DKIM)",
            {"identity": p.domain, "MailFromDomain": None, "BehaviorOnMxFailure": behavior},
        )
    status = str(attrs.get("MailFromDomainStatus", "PENDING")).upper()
    feedback = f"feedback-smtp.{p.region}.amazonses.com"
    resolver = lookup(ctx)
    mx = resolver.query(domain, "MX")
    hosts = [v.split(" ", 1)[1] for v in mx.values]
    spf = [v for v in resolver.query(domain, "TXT").values if spfdmarc.is_spf(v)]
    spf_note = (
        "SPF includes amazonses.com"
        if any(_includes_ses(v) for v in spf)
        else "SPF missing"
        if not spf
        else "SPF lacks include:amazonses.com"
    ) + " (graded by dns.spf)"
    details: dict[str, Any] = {
        "identity": p.domain,
        "MailFromDomain": domain,
        "MailFromDomainStatus": status,
        "BehaviorOnMxFailure": behavior,
        "mx": mx.values,
        "expected_mx": f"10 {feedback}",
        "spf": spf,
        "resolver": resolver.label,
    }
    on_failure = (
        "SES REJECTS every message while the MX is missing (REJECT_MESSAGE)"
        if behavior == "REJECT_MESSAGE"
        else "meanwhile SES falls back to its amazonses.com MAIL FROM, so SPF is not aligned (USE_DEFAULT_VALUE)"
    )
    if feedback not in hosts:
        records = [record(domain, "MX", f"10 {feedback}")]
        found = f"MX points to {', '.join(mx.values)}" if mx.values else mx.absent
        _with_records(details, records)
        return Outcome(
            Status.FAIL,
            f"MAIL FROM {domain} (API status {status}): the MX to {feedback} is missing "
            f"({found}); {on_failure}{_add_text(records)}",
            details,
        )
    if status == "FAILED":
        return Outcome(
            Status.FAIL,
            f"MAIL FROM {domain}: SES reports FAILED although DNS now has the MX; "
            f"SES re-checks the record periodically; {on_failure}",
            details,
        )
    if status != "SUCCESS":
        return Outcome(Status.WARN, f"MAIL FROM {domain}: MX present, SES status {status}; {on_failure}", details)
    if len(hosts) > 1:
        others = [v for v in mx.values if not v.endswith(feedback)]
        details["extra_mx"] = others
        return Outcome(
            Status.WARN,
            f"MAIL FROM {domain}: besides {feedback} the domain has other MX records "
            f"({', '.join(others)}): bounces may not reach SES",
            details,
        )
    return Outcome(
        Status.OK,
        f"MAIL FROM {domain}: SUCCESS, MX 10 {feedback} present, BehaviorOnMxFailure {behavior}; {spf_note}",
        details,
    )


@check(
    "dns.dkim",
    "DKIM CNAME records are published in DNS",
    lambda p: (
        aws_command(p, "sesv2", "get-email-identity", f"--email-identity {p.domain}", "--query", "DkimAttributes")
        + " ; "
        + dig_command(p, "CNAME", f"TOKEN._domainkey.{p.domain}")
    ),
    remediation="dkim-verification-failed",
)
def dkim(ctx: Context) -> Outcome:
    p = ctx.params
    if not identity(ctx):
        return _not_an_identity(ctx)
    attrs = identity(ctx).get("DkimAttributes") or {}
    tokens = list(attrs.get("Tokens") or [])
    zone = attrs.get("SigningHostedZone")
    details: dict[str, Any] = {
        "identity": p.domain,
        "api_status": attrs.get("Status"),
        "SigningHostedZone": zone,
        "origin": attrs.get("SigningAttributesOrigin"),
    }
    if not tokens:
        return Outcome(
            Status.SKIP,
            f"{p.domain} has no Easy DKIM tokens (status {attrs.get('Status', 'NOT_STARTED')}, "
            f"origin {attrs.get('SigningAttributesOrigin', '?')}): no CNAMEs to look up; see identity.dkim",
            details,
        )
    resolver = lookup(ctx)
    rows, records, missing, wrong = [], [], [], []
    for token in tokens:
        name = f"{token}._domainkey.{p.domain}"
        expected = dkim_target(token, zone)
        answer = resolver.query(name, "CNAME")
        found = answer.values[0] if answer.values else None
        if found == expected:
            state = "ok"
        elif found is None:
            state = "missing"
            missing.append(name)
        else:
            state = "wrong"
            wrong.append(f"{name} -> {found}")
        rows.append(
            {"name": name, "expected": expected, "found": found, "state": state, "note": "" if found else answer.absent}
        )
        if state != "ok":
            records.append(record(name, "CNAME", expected))
    details.update(records=rows, resolver=resolver.label)
    if records:
        _with_records(details, records)
        parts = []
        if missing:
            parts.append(f"{len(missing)} of {len(tokens)} DKIM CNAMEs missing ({', '.join(missing)})")
        if wrong:
            parts.append(f"{len(wrong)} point elsewhere ({', '.join(wrong)})")
        api = f"; SES API status {attrs.get('Status')}"
        if attrs.get("Status") == "SUCCESS":
            api += " (SES has not noticed yet: signing stops when it does)"
        text = _add_text(records)
        if wrong:
            text = text.replace("add to the zone", "add to the zone (replacing the wrong ones)")
        return Outcome(Status.FAIL, "; ".join(parts) + api + text, details)
    note = (
        ""
        if attrs.get("Status") == "SUCCESS"
        else f"; SES still reports {attrs.get('Status')} (it re-checks within 72 h)"
    )
    suffix = dkim_target("TOKEN", zone).partition(".")[2]
    return Outcome(Status.OK, f"all {len(tokens)} DKIM CNAMEs of {p.domain} point to TOKEN.{suffix}{note}", details)


def _includes_ses(value: str) -> bool:
    return any(_SES_INCLUDE.match(term) for term in value.split())


def _with_ses_include(value: str) -> str:
    """The record with ``include:amazonses.com`` added before its ``all`` term (or redirect)."""
    terms = value.split()
    for i, term in enumerate(terms):
        if term.lower().lstrip("+-~?") == "all" or term.lower().startswith("redirect="):
            return " ".join(terms[:i] + ["include:amazonses.com"] + terms[i:])
    return " ".join(terms + ["include:amazonses.com"])


def _spf_evaluate(ctx: Context, name: str, value: str) -> dict[str, Any]:
    """One SPF record graded (``spfdmarc``): syntax, DNS lookups with includes followed, void lookups."""
    resolver = lookup(ctx)
    try:
        graded = spfdmarc.evaluate_spf(value, name, _query(resolver))
    except spfdmarc.RecordError as exc:
        return {"valid": False, "error": str(exc)}
    return {"valid": True, **graded}


def _query(resolver: Lookup) -> spfdmarc.Query:
    def query(name: str, rtype: str) -> tuple[list[str], bool]:
        answer = resolver.query(name, rtype)
        return answer.values, not answer.values

    return query


@check(
    "dns.spf",
    "SPF of the MAIL FROM domain authorises Amazon SES",
    lambda p: (
        aws_command(p, "sesv2", "get-email-identity", f"--email-identity {p.domain}", "--query", "MailFromAttributes")
        + " ; "
        + dig_command(p, "TXT", "MAIL_FROM_DOMAIN")
        + f"   # MAIL_FROM_DOMAIN from the first command, or {p.domain} without one"
    ),
    remediation="emails-going-to-spam",
)
def spf(ctx: Context) -> Outcome:
    p = ctx.params
    note = ""
    try:
        custom, _ = mail_from_domain(ctx)
    except Exception as exc:  # noqa: BLE001 - the apex record is still worth checking
        custom, note = None, f" (MAIL FROM unknown: {describe_error(exc, p)})"
    name = custom or p.domain
    role = "MAIL FROM domain" if custom else "domain (no custom MAIL FROM)"
    resolver = lookup(ctx)
    answer = resolver.query(name, "TXT")
    records = [v for v in answer.values if spfdmarc.is_spf(v)]
    details: dict[str, Any] = {"name": name, "role": role, "spf_records": records, "resolver": resolver.label}
    if not records:
        add = [record(name, "TXT", SPF_VALUE)]
        _with_records(details, add)
        why = answer.absent if not answer.values else "TXT records exist but none starts with v=spf1"
        return Outcome(
            Status.FAIL,
            f"no SPF record on {name}, the {role}{note} ({why}): receivers cannot tell "
            f"SES may send for it{_add_text(add)}",
            details,
        )
    if len(records) > 1:
        return Outcome(
            Status.FAIL,
            f"{name} has {len(records)} SPF records: receivers treat that as a permanent "
            f"error (RFC 7208 section 4.5); merge them into one{note}",
            details,
        )
    value = records[0]
    if not _includes_ses(value):
        fixed = [record(name, "TXT", _with_ses_include(value))]
        _with_records(details, fixed)
        details["replace"] = value
        return Outcome(
            Status.FAIL,
            f"the SPF record of {name} does not include amazonses.com ({value}){note}; "
            f"replace it with: {zone_line(fixed[0])}",
            details,
        )
    evaluation = _spf_evaluate(ctx, name, value)
    details.update(evaluation)
    problems, permerror = [], []
    if not evaluation["valid"]:
        permerror.append(evaluation["error"])
    else:
        if (evaluation.get("dns_lookups") or 0) > SPF_LOOKUP_LIMIT:
            permerror.append(f"{evaluation['dns_lookups']} DNS lookups (limit {SPF_LOOKUP_LIMIT})")
        if (evaluation.get("void_dns_lookups") or 0) > SPF_VOID_LIMIT:
            permerror.append(f"{evaluation['void_dns_lookups']} void lookups (limit {SPF_VOID_LIMIT})")
        if evaluation.get("all") == "pass":
            problems.append("'+all' lets any server pass SPF")
        problems += evaluation.get("warnings", [])
    if permerror:
        details["receivers_get"] = "permerror"
        return Outcome(
            Status.FAIL,
            f"SPF of {name} includes amazonses.com but receivers get a permerror (RFC 7208 4.6.4, "
            f"treated as a failure): {'; '.join(permerror + problems)}{note}",
            details,
        )
    if problems:
        return Outcome(Status.WARN, f"SPF of {name} includes amazonses.com but: {'; '.join(problems)}{note}", details)
    return Outcome(
        Status.OK,
        f"SPF of {name} ({role}) includes amazonses.com, valid, "
        f"{evaluation.get('dns_lookups')}/{SPF_LOOKUP_LIMIT} DNS lookups: {value}{note}",
        details,
    )


def _aligned(domain: str, org: str, mode: str) -> bool:
    domain, org = domain.lower().rstrip("."), org.lower().rstrip(".")
    return domain == org if mode == "s" else domain == org or domain.endswith("." + org)


def _alignment(ctx: Context, adkim: str, aspf: str) -> dict[str, Any]:
    """Whether SES's DKIM signature and MAIL FROM line up with the From domain under the policy."""
    p = ctx.params
    from_domain = p.sender.rpartition("@")[2].lower()
    try:
        data = identity(ctx)
    except Exception as exc:  # noqa: BLE001 - alignment is context; the record check stands alone
        return {"from_domain": from_domain, "error": describe_error(exc, p)}
    dkim_attrs = data.get("DkimAttributes") or {}
    signs = bool(dkim_attrs.get("SigningEnabled")) and dkim_attrs.get("Status") == "SUCCESS"
    mf = data.get("MailFromAttributes") or {}
    custom = mf.get("MailFromDomain") if str(mf.get("MailFromDomainStatus", "")).upper() == "SUCCESS" else None
    envelope = custom or "amazonses.com"
    return {
        "from_domain": from_domain,
        "dkim_domain": p.domain if signs else None,
        "dkim_aligned": signs and _aligned(p.domain, from_domain, adkim),
        "mail_from": envelope,
        "spf_aligned": bool(custom) and _aligned(envelope, from_domain, aspf),
    }


@check(
    "dns.dmarc",
    "DMARC record is published with an enforcing policy",
    lambda p: dig_command(p, "TXT", f"_dmarc.{p.domain}"),
    remediation="emails-going-to-spam",
)
def dmarc(ctx: Context) -> Outcome:
    p = ctx.params
    name = f"_dmarc.{p.domain}"
    resolver = lookup(ctx)
    answer = resolver.query(name, "TXT")
    records = [v for v in answer.values if spfdmarc.is_dmarc(v)]
    details: dict[str, Any] = {"name": name, "dmarc_records": records, "resolver": resolver.label}
    suggested = f"v=DMARC1; p=quarantine; adkim=r; aspf=r; rua=mailto:dmarc-reports@{p.domain}"
    if not records:
        add = [record(name, "TXT", suggested)]
        _with_records(details, add)
        why = answer.absent if not answer.values else "TXT records exist but none starts with v=DMARC1"
        return Outcome(
            Status.FAIL,
            f"no DMARC record at {name} ({why}): receivers apply no policy and send no "
            f"reports (adjust rua to a mailbox you read){_add_text(add)}",
            details,
        )
    if len(records) > 1:
        return Outcome(
            Status.FAIL, f"{name} has {len(records)} DMARC records: receivers ignore them all; keep one", details
        )
    value = records[0]
    try:
        parsed = spfdmarc.parse_dmarc(value)
    except spfdmarc.RecordError as exc:
        details["error"] = str(exc)
        return Outcome(Status.WARN, f"the DMARC record at {name} does not parse: {exc} ({value})", details)
    tags = parsed["tags"]
    policy, adkim, aspf = tags.get("p", "none"), tags.get("adkim", "r"), tags.get("aspf", "r")
    align = _alignment(ctx, adkim, aspf)
    details.update(
        policy=policy,
        subdomain_policy=tags.get("sp"),
        adkim=adkim,
        aspf=aspf,
        pct=tags.get("pct", "100"),
        rua=tags.get("rua"),
        tags=tags,
        alignment=align,
        warnings=list(parsed.get("warnings") or []),
    )
    if "error" in align:
        how = f"alignment unknown ({align['error']})"
    else:
        dkim_text = f"DKIM aligned (d={align['dkim_domain']})" if align["dkim_aligned"] else "DKIM NOT aligned"
        spf_text = (
            f"SPF aligned via MAIL FROM {align['mail_from']}"
            if align["spf_aligned"]
            else f"SPF not aligned (MAIL FROM {align['mail_from']})"
        )
        how = f"{dkim_text}, {spf_text}"
    summary = f"{name}: p={policy}, adkim={adkim}, aspf={aspf}, pct={details['pct']}; {how}"
    if policy == "none":
        details["suggested"] = zone_line(record(name, "TXT", value.replace("p=none", "p=quarantine", 1)))
        return Outcome(
            Status.WARN,
            f"{summary}; p=none only monitors: spoofed mail is still delivered "
            f"(move to p=quarantine: {details['suggested']})",
            details,
        )
    return Outcome(Status.OK, summary, details)
