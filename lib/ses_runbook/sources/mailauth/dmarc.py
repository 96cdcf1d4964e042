"""DMARC (RFC 7489): a record's tags, which record governs a From domain, and the verdict.

``discover`` finds the policy the way a receiver does (section 6.6.3): ``_dmarc.<From domain>``,
and only when that name holds no DMARC record, ``_dmarc.<organizational domain>``, whose ``sp=``
(defaulting to ``p=``) then applies, since the From domain is a subdomain. Mail from
``no-reply@news.thephenom.app`` is therefore governed by ``_dmarc.thephenom.app``'s ``sp=``; reading
``_dmarc.<verified domain>`` and its ``p=`` instead would state the wrong policy. ``evaluate``
decides pass or fail from the authenticated identifiers with ``domains.aligned``: ``dns.dmarc``
feeds it what SES will sign and use as MAIL FROM, ``message.dmarc`` what a message carries, so
the two agree on the same records.

``parse_dmarc`` is stricter than a receiver (an unknown tag or a bad report address is an error
here, where a receiver ignores it): the DNS check reports such a record as something to fix, and
``discover`` still applies the policy a receiver would take from it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from ses_runbook.core.errors import RecordError
from ses_runbook.core.identities import normal
from ses_runbook.sources.mailauth.dns import Resolver, tag_list
from ses_runbook.sources.mailauth.domains import aligned, org_domain

DMARC_DEFAULTS = {"adkim": "r", "aspf": "r", "fo": "0", "pct": 100, "rf": "afrf", "ri": 86400}
POLICIES = ("none", "quarantine", "reject")
_URI = re.compile(r"^mailto:[^@\s]+@[^@\s]+?(![0-9]+[kmgt]?)?$", re.IGNORECASE)


def is_dmarc(value: str) -> bool:
    return bool(re.match(r"^v\s*=\s*DMARC1\s*(;|$)", value, re.IGNORECASE))


def parse_dmarc(record: str) -> dict[str, Any]:
    """The tags of a DMARC record with the RFC's defaults filled in (``sp`` defaults to ``p``);
    raises ``RecordError`` for a tag or value the RFC does not allow. Also ``warnings``."""
    tags: dict[str, Any] = {}
    warnings: list[str] = []
    parts = [p.strip() for p in record.strip().rstrip(";").split(";")]
    for i, part in enumerate(parts):
        if not part:
            continue
        name, sep, value = part.partition("=")
        name, value = name.strip().lower(), value.strip()
        if not sep:
            raise RecordError(f"'{part}' is not a tag=value pair")
        if i == 0:
            if name != "v" or value.upper() != "DMARC1":
                raise RecordError("the record must start with v=DMARC1")
            continue
        if name in tags:
            raise RecordError(f"the {name} tag appears more than once")
        tags[name] = value
    if "p" not in tags:
        raise RecordError("the p tag (policy) is missing")
    for name, value in list(tags.items()):
        if name in ("p", "sp"):
            if value.lower() not in POLICIES:
                raise RecordError(f"{name}={value}: the policy must be none, quarantine or reject")
            tags[name] = value.lower()
        elif name in ("adkim", "aspf"):
            if value.lower() not in ("r", "s"):
                raise RecordError(f"{name}={value}: alignment is r (relaxed) or s (strict)")
            tags[name] = value.lower()
        elif name in ("pct", "ri"):
            if not value.isdigit() or (name == "pct" and int(value) > 100):
                raise RecordError(
                    f"{name}={value}: must be a whole number" + (" from 0 to 100" if name == "pct" else "")
                )
            tags[name] = int(value)
        elif name in ("rua", "ruf"):
            uris = [u.strip() for u in value.split(",") if u.strip()]
            bad = [u for u in uris if not _URI.match(u)]
            if not uris or bad:
                raise RecordError(f"{name}={value}: report addresses must be mailto: URIs")
        elif name == "fo":
            if not re.fullmatch(r"[01ds](:[01ds])*", value):
                raise RecordError(f"fo={value}: must be 0, 1, d or s, separated by ':'")
        elif name == "rf":
            pass
        else:
            raise RecordError(f"unknown tag {name}")
    if tags.get("pct", 100) < 100:
        warnings.append(f"pct={tags['pct']}: the policy applies to only {tags['pct']}% of failing mail")
    if "rua" not in tags:
        warnings.append("no rua tag: nobody receives aggregate reports")
    full = {**DMARC_DEFAULTS, "sp": tags["p"], **tags}
    return {"tags": full, "warnings": warnings}


def _lenient(record: str) -> dict[str, Any]:
    """The tags a receiver takes from a record ``parse_dmarc`` refuses: unknown tags ignored, an
    invalid policy read as ``none`` (RFC 7489 section 6.6.3, step 6), defaults filled in."""
    raw = tag_list(record)
    tags: dict[str, Any] = {**DMARC_DEFAULTS, **{k: v for k, v in raw.items() if k != "v"}}
    policy = str(raw.get("p", "")).lower()
    tags["p"] = policy if policy in POLICIES else "none"
    sub = str(raw.get("sp", "")).lower()
    tags["sp"] = sub if sub in POLICIES else tags["p"]
    for name in ("adkim", "aspf"):
        tags[name] = "s" if str(tags.get(name, "r")).lower() == "s" else "r"
    pct = str(tags.get("pct", "100"))
    tags["pct"] = min(int(pct), 100) if pct.isdigit() else 100
    return tags


def discover(lookup: Resolver, from_domain: str) -> dict[str, Any]:
    """The DMARC policy that governs mail from ``from_domain`` (RFC 7489 section 6.6.3).

    ``found`` and ``location`` (the ``_dmarc`` name it came from), ``inherited`` when that is the
    organizational domain's record, ``policy_tag`` (``sp`` when inherited, else ``p``) and
    ``policy`` (its value), ``adkim``/``aspf``/``pct``, ``tags``, ``record`` and ``records`` (the
    DMARC records at the location), ``parse_error`` and ``warnings`` from ``parse_dmarc``, and
    ``asked``: each name asked with what it held. Without a policy, ``error`` says why.
    """
    domain = normal(from_domain)
    org = org_domain(domain)
    asked: list[dict[str, str]] = []
    base: dict[str, Any] = {"from_domain": domain, "org_domain": org, "asked": asked}
    for where in dict.fromkeys([domain, org]):
        name = f"_dmarc.{where}"
        answer = lookup.query(name, "TXT")
        records = [v for v in answer.values if is_dmarc(v)]
        held = (
            f"{len(records)} DMARC record(s)"
            if records
            else answer.absent
            if not answer.values
            else "TXT records exist but none starts with v=DMARC1"
        )
        asked.append({"name": name, "answer": held})
        if len(records) > 1:  # step 5: more than one record ends discovery: no policy at all
            return {
                **base,
                "found": False,
                "location": name,
                "records": records,
                "error": f"{name} has {len(records)} DMARC records: receivers ignore them all",
            }
        if not records:
            continue
        inherited = where != domain
        try:
            parsed = parse_dmarc(records[0])
            tags, warnings, problem = dict(parsed["tags"]), list(parsed["warnings"]), None
        except RecordError as exc:
            tags, warnings, problem = _lenient(records[0]), [], str(exc)
        tag = "sp" if inherited else "p"
        found = {
            **base,
            "found": True,
            "location": name,
            "inherited": inherited,
            "policy_tag": tag,
            "policy": tags[tag],
            "adkim": tags["adkim"],
            "aspf": tags["aspf"],
            "pct": tags["pct"],
            "record": records[0],
            "records": records,
            "tags": tags,
            "warnings": warnings,
        }
        if problem is not None:
            found["parse_error"] = problem
        return found
    names = " or ".join(a["name"] for a in asked)
    return {**base, "found": False, "location": names, "records": [], "error": "no DMARC record"}


def evaluate(
    policy: Mapping[str, Any], dkim_domains: Iterable[str], spf_domain: str | None, spf_pass: bool
) -> dict[str, Any]:
    """DMARC's verdict (RFC 7489 section 4.2): pass when a passing DKIM signature's ``d=`` or a
    passing SPF's MAIL FROM domain is aligned with the From domain in the policy's mode.

    ``policy`` is what ``discover`` returned (its ``from_domain``, ``adkim``, ``aspf``; relaxed
    without a record). Returns ``result`` (pass or fail), ``dkim_aligned`` (the aligned ``d=``
    domains) and ``spf_aligned``.
    """
    from_domain = policy["from_domain"]
    dkim_aligned = [d for d in dkim_domains if aligned(d, from_domain, str(policy.get("adkim", "r")))]
    spf_aligned = bool(spf_pass) and aligned(spf_domain, from_domain, str(policy.get("aspf", "r")))
    return {
        "result": "pass" if dkim_aligned or spf_aligned else "fail",
        "dkim_aligned": dkim_aligned,
        "spf_aligned": spf_aligned,
    }
