"""SPF and DMARC records read and graded: RFC 7208 lookup counting and RFC 7489 tags.

What the ``dns.spf`` and ``dns.dmarc`` checks need from a record, on the run's own resolver
(``checks.dns.Lookup``: memoized, one timeout for a dead server): SPF syntax, the DNS lookups
its includes and redirects cost (limit 10) and the void ones (limit 2), the ``all`` result;
DMARC tags with their defaults, checked against the RFC's values. checkdmarc answers the same,
but importing it costs more than the rest of a ``check`` (its ``utils`` loads httpx with its
command-line interface, rich and pygments, and parses the public suffix list), so the runbook
keeps this small part here.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

LOOKUP_LIMIT = 10  # RFC 7208 section 4.6.4
VOID_LIMIT = 2
_FOLLOW_LIMIT = 30  # stop following includes after this many lookups: the verdict is already "too many"
_QUALIFIERS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}
_MECHANISMS = {"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"}
_COUNTED = {"include", "a", "mx", "ptr", "exists"}
_CIDR = re.compile(r"^(?P<domain>[^/]*)(/(?P<v4>\d{1,2}))?(//(?P<v6>\d{1,3}))?$")

# query(name, rtype) -> (values, void): what a resolver answered, and whether the answer was
# NXDOMAIN or had no records (a "void lookup"); raises when DNS cannot answer at all.
Query = Callable[[str, str], "tuple[list[str], bool]"]


class RecordError(ValueError):
    """The record does not parse, or cannot be evaluated (a permanent error in RFC terms)."""


def is_spf(value: str) -> bool:
    return value.lower() == "v=spf1" or value.lower().startswith("v=spf1 ")


def spf_record(query: Query, domain: str) -> str:
    """The one SPF record of ``domain`` (TXT starting ``v=spf1``)."""
    values, _ = query(domain, "TXT")
    records = [v for v in values if is_spf(v)]
    if not records:
        raise RecordError(f"{domain} has no SPF record")
    if len(records) > 1:
        raise RecordError(f"{domain} has {len(records)} SPF records")
    return records[0]


def evaluate_spf(record: str, domain: str, query: Query) -> dict[str, Any]:
    """Parse an SPF record and follow its includes and redirect, counting DNS lookups.

    Returns ``{"dns_lookups", "void_dns_lookups", "all", "warnings"}``; raises ``RecordError``
    for a syntax error or an include without a record. Lookups over the limit are counted, not
    raised, so the caller can say how many there are.
    """
    state = {"lookups": 0, "void": 0, "warnings": []}
    result = _walk(record, domain, query, state, seen=set())
    return {
        "dns_lookups": state["lookups"],
        "void_dns_lookups": state["void"],
        "all": result,
        "warnings": state["warnings"],
    }


def _walk(record: str, domain: str, query: Query, state: dict[str, Any], seen: set[str]) -> str | None:
    """One record's terms; returns the qualifier name of its ``all`` (or of its redirect's)."""
    if domain.lower() in seen:
        raise RecordError(f"SPF include loop at {domain}")
    seen = seen | {domain.lower()}
    terms = record.split()[1:]
    all_result, redirect = None, None
    for term in terms:
        if "=" in term and ":" not in term.split("=", 1)[0]:
            name, _, value = term.partition("=")
            name = name.lower()
            if name == "redirect":
                if redirect is not None:
                    raise RecordError(f"{domain}: more than one redirect")
                redirect = value
            elif name == "exp":
                pass
            elif not re.fullmatch(r"[a-z][a-z0-9_.-]*", name):
                raise RecordError(f"{domain}: invalid modifier {term!r}")
            continue
        qualifier = term[0] if term[0] in _QUALIFIERS else "+"
        body = term[1:] if term[0] in _QUALIFIERS else term
        name, sep, arg = body.partition(":")
        if sep == "" and "/" in name:
            name, _, cidr = name.partition("/")
            arg = "/" + cidr
        name = name.lower()
        if name not in _MECHANISMS:
            raise RecordError(f"{domain}: unknown mechanism {term!r}")
        if name == "all":
            if arg:
                raise RecordError(f"{domain}: 'all' takes no argument ({term!r})")
            all_result = _QUALIFIERS[qualifier]
            continue
        if name in ("ip4", "ip6"):
            try:
                network = ipaddress.ip_network(arg, strict=False)
            except ValueError:
                raise RecordError(f"{domain}: invalid {name} address {arg!r}") from None
            if (network.version == 4) != (name == "ip4"):
                raise RecordError(f"{domain}: {arg} is not an IPv{4 if name == 'ip4' else 6} address")
            continue
        if name in ("include", "exists") and not arg:
            raise RecordError(f"{domain}: {name} needs a domain ({term!r})")
        match = _CIDR.match(arg.lstrip(":") if arg.startswith("/") else arg)
        target = (match.group("domain") if match else arg) or domain
        state["lookups"] += 1
        if name == "ptr":
            state["warnings"].append(f"{domain}: the ptr mechanism should not be used (RFC 7208 section 5.5)")
            continue
        if state["lookups"] > _FOLLOW_LIMIT:
            continue
        if "%" in target:  # macros: counted, not expanded
            continue
        if name == "include":
            values, void = query(target, "TXT")
            records = [v for v in values if is_spf(v)]
            if void:
                state["void"] += 1
            if not records:
                raise RecordError(f"{domain}: include:{target} has no SPF record")
            if len(records) > 1:
                raise RecordError(f"{domain}: include:{target} has {len(records)} SPF records")
            _walk(records[0], target, query, state, seen)
        elif name == "a":
            a, void_a = query(target, "A")
            aaaa, void_aaaa = query(target, "AAAA")
            if void_a and void_aaaa:
                state["void"] += 1
        elif name == "mx":
            _, void = query(target, "MX")
            if void:
                state["void"] += 1
        elif name == "exists":
            _, void = query(target, "A")
            if void:
                state["void"] += 1
    if redirect is not None:
        if all_result is not None:
            state["warnings"].append(f"{domain}: redirect={redirect} is ignored because the record has an 'all'")
            return all_result
        state["lookups"] += 1
        return _walk(spf_record(query, redirect), redirect, query, state, seen)
    return all_result


# -- DMARC ---------------------------------------------------------------------------------
DMARC_DEFAULTS = {"adkim": "r", "aspf": "r", "fo": "0", "pct": 100, "rf": "afrf", "ri": 86400}
_POLICIES = ("none", "quarantine", "reject")
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
            if value.lower() not in _POLICIES:
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
