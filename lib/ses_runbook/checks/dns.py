"""Runbook rows "DKIM verification failed" and "Emails going to spam": the DNS records themselves.

The SES API says what it last saw; these checks ask DNS what is there *now* (dnspython, against
``params.dns_nameservers`` or the system resolver), so a CNAME deleted in Cloudflare shows up
before SES flips the identity to Failed. Every record that is missing or wrong comes back as the
exact line to paste into the zone (``details["zone_lines"]``) and as data
(``details["records_to_add"]``). ``identity.mail_from`` lives here too: it is an API status plus
an MX record, and it shares the resolver.

What a record means is decided in ``sources.mailauth``, the same code the mail tester judges a
delivered message with: SPF by ``mailauth.spf.audit``, DMARC by ``mailauth.dmarc.discover`` for
the sender's From domain (its own ``_dmarc`` record, else the organizational domain's with ``sp=``)
and ``mailauth.dmarc.evaluate`` for what SES's signature and MAIL FROM will align with.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ses_runbook.checks import Context, Outcome, check
from ses_runbook.checks.domain import domain_identity
from ses_runbook.core.aws import describe_error
from ses_runbook.core.commands import aws_command
from ses_runbook.core.errors import DnsError, RecordError
from ses_runbook.core.identities import VERIFIED, covering_domain, domain_of, normal
from ses_runbook.core.results import Status
from ses_runbook.sources import ses
from ses_runbook.sources.mailauth import dmarc as dmarc_auth
from ses_runbook.sources.mailauth import spf as spf_auth
from ses_runbook.sources.mailauth.dns import Lookup, dig_command
from ses_runbook.sources.mailauth.domains import org_domain

if TYPE_CHECKING:
    from ses_runbook.core.params import Params

TTL = 300  # what Cloudflare's "Auto" TTL means
DEFAULT_SIGNING_ZONE = "dkim.amazonses.com"
SPF_VALUE = f"v=spf1 include:{spf_auth.SES_DOMAIN} ~all"  # the record to publish where there is none


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


# -- the identity as the API states it (``checks.domain.domain_identity``) ----------------
def _not_an_identity(ctx: Context) -> Outcome:
    return Outcome(
        Status.FAIL,
        f"{ctx.params.domain} is not an SES identity in {ctx.params.region}: "
        "nothing to check (see identity.verification)",
        {"identity": ctx.params.domain},
        "domain-not-verified",
    )


def signing_zone(zone: str | None) -> str:
    """The suffix Easy DKIM CNAMEs point under, from the identity's ``SigningHostedZone``.

    AWS documents the zone as the full suffix (``dkim.amazonses.com``, ``dkim.REGION.amazonses.com``);
    a bare ``amazonses.com`` (older answers) means the classic ``dkim.amazonses.com``, and so does
    no zone at all. Every CNAME target the runbook prints or compares comes from here.
    """
    zone = (zone or DEFAULT_SIGNING_ZONE).strip().rstrip(".").lower()
    return zone if zone.startswith("dkim.") else "dkim." + zone


def dkim_target(token: str, zone: str | None) -> str:
    """Where a token's CNAME must point: ``TOKEN.<SigningHostedZone>`` (``signing_zone``)."""
    return f"{token.lower()}.{signing_zone(zone)}"


def mail_from_domain(ctx: Context) -> tuple[str | None, dict[str, Any]]:
    """The custom MAIL FROM domain (or None) and its API attributes."""
    attrs = dict(domain_identity(ctx).get("MailFromAttributes") or {})
    return (attrs.get("MailFromDomain") or None), attrs


# -- checks ------------------------------------------------------------------------------
@check(
    "identity.mail_from",
    "Custom MAIL FROM domain is verified and its MX is published",
    lambda p: aws_command(p, "ses", "get-identity-mail-from-domain-attributes", "--identities", p.domain),
    remediation="emails-going-to-spam",
)
def mail_from(ctx: Context) -> Outcome:
    p = ctx.params
    if not domain_identity(ctx):
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
    spf = [v for v in resolver.query(domain, "TXT").values if spf_auth.is_spf(v)]
    try:
        includes_ses = any(_authorises_ses(ctx, domain, v) for v in spf)
    except DnsError:  # an include that DNS cannot answer is dns.spf's to report; the note reads the record
        includes_ses = any(spf_auth.includes_term(v, spf_auth.SES_DOMAIN) for v in spf)
    spf_note = (
        "SPF includes amazonses.com"
        if includes_ses
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
        aws_command(p, "sesv2", "get-email-identity", "--email-identity", p.domain, "--query", "DkimAttributes")
        + " ; "
        + dig_command(p, "CNAME", f"TOKEN._domainkey.{p.domain}")
    ),
    remediation="dkim-verification-failed",
)
def dkim(ctx: Context) -> Outcome:
    p = ctx.params
    if not domain_identity(ctx):
        return _not_an_identity(ctx)
    attrs = domain_identity(ctx).get("DkimAttributes") or {}
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
    return Outcome(
        Status.OK, f"all {len(tokens)} DKIM CNAMEs of {p.domain} point to TOKEN.{signing_zone(zone)}{note}", details
    )


def _with_ses_include(value: str) -> str:
    """The record with ``include:amazonses.com`` added before its ``all`` term (or redirect)."""
    terms = value.split()
    for i, term in enumerate(terms):
        if term.lower().lstrip("+-~?") == "all" or term.lower().startswith("redirect="):
            return " ".join(terms[:i] + [f"include:{spf_auth.SES_DOMAIN}"] + terms[i:])
    return " ".join(terms + [f"include:{spf_auth.SES_DOMAIN}"])


def _authorises_ses(ctx: Context, name: str, value: str) -> bool:
    """Whether a pass of the record can come from amazonses.com's SPF: ``include:amazonses.com``
    in the record, or reached through its includes and redirects."""
    if spf_auth.includes_term(value, spf_auth.SES_DOMAIN):
        return True
    return spf_auth.SES_DOMAIN in _spf_audit(ctx, name, value).get("includes", [])


def _spf_audit(ctx: Context, name: str, value: str) -> dict[str, Any]:
    """One SPF record graded by ``mailauth.spf.audit``: syntax, DNS lookups with includes and
    redirects followed, void lookups, the ``all`` result, and the includes a pass goes through."""

    def grade() -> dict[str, Any]:
        try:
            return {"valid": True, **spf_auth.audit(lookup(ctx), name, value)}
        except RecordError as exc:
            return {"valid": False, "error": str(exc)}

    return ctx.once(f"dns.spf.audit:{name}:{value}", grade)


@check(
    "dns.spf",
    "SPF of the MAIL FROM domain authorises Amazon SES",
    lambda p: (
        aws_command(p, "sesv2", "get-email-identity", "--email-identity", p.domain, "--query", "MailFromAttributes")
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
    records = [v for v in answer.values if spf_auth.is_spf(v)]
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
    evaluation = _spf_audit(ctx, name, value)
    direct = spf_auth.includes_term(value, spf_auth.SES_DOMAIN)
    if not _authorises_ses(ctx, name, value):
        fixed = [record(name, "TXT", _with_ses_include(value))]
        _with_records(details, fixed)
        details["replace"] = value
        return Outcome(
            Status.FAIL,
            f"the SPF record of {name} does not include amazonses.com ({value}){note}; "
            f"replace it with: {zone_line(fixed[0])}",
            details,
        )
    details.update({k: v for k, v in evaluation.items() if k not in ("includes", "permerror")})
    if not direct:
        details["ses_included_via"] = [d for d in evaluation["includes"] if d != spf_auth.SES_DOMAIN]
    problems, permerror = [], []
    if not evaluation["valid"]:
        permerror.append(evaluation["error"])
    else:
        permerror += evaluation["permerror"]
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
        f"{evaluation.get('dns_lookups')}/{spf_auth.LOOKUP_LIMIT} DNS lookups: {value}{note}",
        details,
    )


def signing_identity(ctx: Context) -> tuple[str | None, dict[str, Any]]:
    """The verified domain identity that covers the sender (``core.identities.covering_domain``),
    whose Easy DKIM signs its mail (``d=`` that name) and whose custom MAIL FROM SES uses, with its
    GetEmailIdentity answer: ``domain`` for ``no-reply@news.thephenom.app`` under ``thephenom.app``,
    but ``news.thephenom.app`` once that is verified as an identity of its own. ``(None, {})`` when
    no verified domain covers the sender (identity.verification fails it)."""
    p = ctx.params
    own = domain_identity(ctx)
    if domain_of(p.sender) == normal(p.domain) and ses.V1_STATUS.get(own.get("VerificationStatus", "")) == VERIFIED:
        return p.domain, own  # nothing more specific than the sender's own domain can cover it: no listing needed
    statuses = {name: row["verification"] for name, row in ses.email_identities(ctx.aws).items()}
    name = covering_domain(p.sender, statuses)
    if name is None:
        return None, {}
    return name, own if normal(name) == normal(p.domain) else ses.email_identity(ctx.aws, name)


def _alignment(ctx: Context, policy: dict[str, Any]) -> dict[str, Any]:
    """What DMARC will say of SES's mail from the sender: its DKIM signature (``d=`` the identity
    that covers the sender, when its signing is on and verified) and its MAIL FROM (that identity's
    custom domain when SES uses it, else amazonses.com) aligned with the From domain under the
    policy (``mailauth.dmarc.evaluate``)."""
    p = ctx.params
    from_domain = policy["from_domain"]
    try:
        signer, data = signing_identity(ctx)
    except Exception as exc:  # noqa: BLE001 - alignment is context; the record check stands alone
        return {"from_domain": from_domain, "error": describe_error(exc, p)}
    dkim_attrs = data.get("DkimAttributes") or {}
    signs = bool(dkim_attrs.get("SigningEnabled")) and dkim_attrs.get("Status") == "SUCCESS"
    mf = data.get("MailFromAttributes") or {}
    custom = mf.get("MailFromDomain") if str(mf.get("MailFromDomainStatus", "")).upper() == "SUCCESS" else None
    envelope = custom or "amazonses.com"
    dkim_domain = normal(signer) if signer and signs else None
    verdict = dmarc_auth.evaluate(policy, [dkim_domain] if dkim_domain else [], envelope, spf_pass=True)
    return {
        "from_domain": from_domain,
        "signing_identity": signer,
        "dkim_domain": dkim_domain,
        "dkim_aligned": bool(verdict["dkim_aligned"]),
        "mail_from": envelope,
        "spf_aligned": bool(custom) and verdict["spf_aligned"],
    }


def _dmarc_names(p: Params) -> list[str]:
    """Where a receiver looks for the sender's policy: its From domain, then its organizational domain."""
    from_domain = domain_of(p.sender) or p.domain
    return [f"_dmarc.{d}" for d in dict.fromkeys([from_domain, org_domain(from_domain)])]


def _enforcing(value: str, tag: str) -> tuple[str, str]:
    """The record with the policy that applies moved from none to quarantine, and the tag moved:
    ``sp=`` when the subdomain policy is written out, else ``p=`` (which ``sp=`` defaults to)."""
    name = tag if re.search(rf"(^|;)\s*{tag}\s*=", value, re.IGNORECASE) else "p"
    moved = re.sub(rf"(^|;)(\s*){name}\s*=\s*none", rf"\1\2{name}=quarantine", value, count=1, flags=re.IGNORECASE)
    return name, moved


@check(
    "dns.dmarc",
    "DMARC record is published with an enforcing policy",
    lambda p: " ; ".join(dig_command(p, "TXT", name) for name in _dmarc_names(p)),
    remediation="emails-going-to-spam",
)
def dmarc(ctx: Context) -> Outcome:
    p = ctx.params
    from_domain = domain_of(p.sender) or p.domain
    resolver = lookup(ctx)
    policy = dmarc_auth.discover(resolver, from_domain)
    name = policy["location"] if policy["found"] or policy["records"] else policy["asked"][0]["name"]
    details: dict[str, Any] = {"name": name, "dmarc_records": policy["records"], "resolver": resolver.label}
    if policy.get("inherited"):
        details.update(from_domain=from_domain, asked=policy["asked"], policy_tag=policy["policy_tag"])
    if not policy["found"] and not policy["records"]:
        org = policy["org_domain"]
        where = f"_dmarc.{org}"
        suggested = f"v=DMARC1; p=quarantine; adkim=r; aspf=r; rua=mailto:dmarc-reports@{org}"
        add = [record(where, "TXT", suggested)]
        _with_records(details, add)
        details["asked"] = policy["asked"]
        why = " nor ".join(f"at {a['name']} ({a['answer']})" for a in policy["asked"])
        return Outcome(
            Status.FAIL,
            f"no DMARC record {why}: receivers apply no policy and send no "
            f"reports (adjust rua to a mailbox you read){_add_text(add)}",
            details,
        )
    if not policy["found"]:
        return Outcome(Status.FAIL, f"{policy['error']}; keep one", details)
    value = policy["record"]
    if "parse_error" in policy:
        details["error"] = policy["parse_error"]
        return Outcome(
            Status.WARN, f"the DMARC record at {name} does not parse: {policy['parse_error']} ({value})", details
        )
    tags = policy["tags"]
    effective, adkim, aspf = policy["policy"], policy["adkim"], policy["aspf"]
    align = _alignment(ctx, policy)
    details.update(
        policy=effective,
        subdomain_policy=tags.get("sp"),
        adkim=adkim,
        aspf=aspf,
        pct=policy["pct"],
        rua=tags.get("rua"),
        tags=tags,
        alignment=align,
        warnings=list(policy["warnings"]),
    )
    if "error" in align:
        how = f"alignment unknown ({align['error']})"
    else:
        if align["dkim_aligned"]:
            dkim_text = f"DKIM aligned (d={align['dkim_domain']})"
        elif align["dkim_domain"]:
            dkim_text = f"DKIM NOT aligned (d={align['dkim_domain']})"
        elif align["signing_identity"]:
            dkim_text = f"DKIM NOT aligned ({align['signing_identity']} does not sign)"
        else:
            dkim_text = f"DKIM NOT aligned (no verified domain identity covers {p.sender})"
        spf_text = (
            f"SPF aligned via MAIL FROM {align['mail_from']}"
            if align["spf_aligned"]
            else f"SPF not aligned (MAIL FROM {align['mail_from']})"
        )
        how = f"{dkim_text}, {spf_text}"
    if policy["inherited"]:
        head = (
            f"{name} governs {from_domain} (no record at _dmarc.{from_domain}: the organizational domain's "
            f"sp= applies): sp={effective} (p={tags['p']})"
        )
    else:
        head = f"{name}: p={effective}"
    summary = f"{head}, adkim={adkim}, aspf={aspf}, pct={details['pct']}; {how}"
    fails = "error" not in align and not align["dkim_aligned"] and not align["spf_aligned"]
    if fails and effective in ("quarantine", "reject"):
        # neither identifier aligns, so every message of the sender fails DMARC and the policy applies to it
        details["unaligned"] = True  # the record is there and enforcing: the sender's identifiers are the fault
        return Outcome(
            Status.FAIL,
            f"{summary}: mail from {p.sender} fails DMARC, and receivers {effective} it",
            details,
            remediation="emails-going-to-spam",
        )
    if effective == "none":
        tag, moved = _enforcing(value, policy["policy_tag"])
        details["suggested_record"] = record(name, "TXT", moved)  # replaces ``value``: one DMARC record per name
        details["suggested"] = zone_line(details["suggested_record"])
        return Outcome(
            Status.WARN,
            f"{summary}; {policy['policy_tag']}=none only monitors: spoofed mail is still delivered "
            f"(move to {tag}=quarantine: {details['suggested']})",
            details,
        )
    return Outcome(Status.OK, summary, details)
