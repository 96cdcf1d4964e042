"""SPF (RFC 7208), evaluated by one walker for both of the runbook's questions.

``audit(lookup, domain)`` answers what ``dns.spf`` asks of a published record: does it parse, how
many DNS lookups and void lookups its includes and redirects cost in the worst case (nothing
matches before the end), what its ``all`` says, and through which includes a pass is reached
(``include:amazonses.com`` directly or nested). ``check_host(lookup, ip, sender, helo)`` answers
what ``message.spf`` asks: the RFC's ``check_host()`` result for the IP that delivered a message.
Both walk the same parsed record with the same counting; the audit simply lets nothing match,
counts past the limits instead of stopping there, and reads a name's A and AAAA records together.

Why the project's own evaluator and not pyspf: pyspf answers ``check_host()`` only, so it stops at
the first match and at the first limit exceeded, and it asks for A or AAAA by the connecting IP's
family. An audit needs the whole tree counted (to say "13 lookups", not "too many"), and an
``a:`` host that has only an AAAA record must not count as a void lookup for a record that serves
IPv6 senders too; neither can be had from pyspf without re-implementing its walk. pyspf also asks
DNS through a module-level function that has to be swapped for the run's resolver, bypassing the
run's memo and its one-timeout-per-run rule. One walker over ``mailauth.dns.Lookup`` gives both
answers from the same parsing, the same limits and the same DNS answers.

Limits (RFC 7208 section 4.6.4): ``include``, ``a``, ``mx``, ``ptr``, ``exists`` and ``redirect``
cost one DNS lookup each, at most 10 (10 is fine, the 11th is a permerror); at most 2 void
lookups (NXDOMAIN or no answer); at most 10 MX hosts per ``mx`` and 10 PTR names per ``ptr``.
"""

from __future__ import annotations

import ipaddress
import re
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from ses_runbook.core.errors import DnsError, RecordError
from ses_runbook.core.identities import normal
from ses_runbook.sources.mailauth.dns import Answer, Resolver

LOOKUP_LIMIT = 10
VOID_LIMIT = 2
MX_LIMIT = 10  # address look-ups per mx mechanism
PTR_LIMIT = 10  # PTR names validated per ptr mechanism or %{p}
FOLLOW_LIMIT = 30  # the audit stops following includes after this many lookups: the verdict is already "too many"
SES_DOMAIN = "amazonses.com"
RESULTS = ("pass", "fail", "softfail", "neutral", "none", "permerror", "temperror")

_QUALIFIERS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}
_MECHANISMS = {"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"}
_MODIFIER = re.compile(r"^([A-Za-z][A-Za-z0-9\-_.]*)=(.*)$")
_DIRECTIVE = re.compile(r"^([+\-~?]?)([A-Za-z0-9]+)(.*)$")
_DUAL_CIDR = re.compile(r"^(?P<spec>.*?)(?:/(?P<v4>\d+))?(?://(?P<v6>\d+))?$")
_MACRO = re.compile(
    r"%(?:\{(?P<letter>[a-zA-Z])(?P<digits>\d*)(?P<reverse>[rR]?)(?P<delims>[.\-+,/_=]*)\}|(?P<escape>[%_-]))"
)
_DOMAIN_LETTERS = set("slodiphv")
_EXPLAIN_LETTERS = _DOMAIN_LETTERS | set("crt")
_TOPLABEL = re.compile(r"^(?=.*[a-z])[a-z0-9]([a-z0-9-]*[a-z0-9])?$", re.IGNORECASE)


def is_spf(value: str) -> bool:
    return value.lower() == "v=spf1" or value.lower().startswith("v=spf1 ")


def includes_term(record: str, domain: str = SES_DOMAIN) -> bool:
    """Whether the record itself names ``include:<domain>`` with a pass qualifier (no DNS asked)."""
    target = normal(domain)
    for term in record.split()[1:]:
        match = _DIRECTIVE.match(term)
        if match and match.group(1) in ("", "+") and match.group(2).lower() == "include":
            if normal(match.group(3).lstrip(":")) == target:
                return True
    return False


# -- parsing -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Term:
    """One directive of a record: qualifier result, mechanism, its domain-spec and CIDR lengths."""

    text: str
    result: str  # what a match yields: pass, fail, softfail, neutral
    mechanism: str
    spec: str | None = None  # domain-spec, macros unexpanded; None: the current domain
    network: Any = None  # ip4/ip6: the ipaddress network
    cidr4: int = 32
    cidr6: int = 128


@dataclass
class Record:
    """A parsed SPF record: its directives in order and its ``redirect``/``exp`` modifiers."""

    domain: str
    text: str
    terms: list[Term] = field(default_factory=list)
    redirect: str | None = None
    exp: str | None = None


def _check_macros(spec: str, where: str, letters: set[str], spaces: bool = False) -> None:
    """A macro-string (RFC 7208 section 7.1): every ``%`` starts a valid macro, letters as allowed;
    ``spaces`` for an explanation text, the one place a space may appear."""
    rest = _MACRO.sub("", spec)
    if "%" in rest:
        raise RecordError(f"{where}: invalid macro in {spec!r}")
    for match in _MACRO.finditer(spec):
        letter = match.group("letter")
        if letter and letter.lower() not in letters:
            raise RecordError(f"{where}: macro %{{{letter}}} is not allowed in {spec!r}")
        if letter and match.group("digits") and int(match.group("digits")) == 0:
            raise RecordError(f"{where}: macro digits must not be 0 in {spec!r}")
    if any((c.isspace() and not (spaces and c == " ")) or ord(c) > 126 for c in spec):
        raise RecordError(f"{where}: invalid character in {spec!r}")


def _check_domain(spec: str, where: str) -> None:
    """A domain-spec ends in a top label or a macro (RFC 7208 section 7.1): ``include:192.0.2.1`` does not."""
    _check_macros(spec, where, _DOMAIN_LETTERS)
    name = spec.rstrip(".")
    if name.endswith("}") or name.endswith(("%%", "%_", "%-")):  # domain-end is a macro
        return
    top = name.rpartition(".")[2]
    if "." not in name or not _TOPLABEL.match(top) or ".." in name or name.startswith("."):
        raise RecordError(f"{where}: {spec!r} is not a domain name")


def parse(record: str, domain: str) -> Record:
    """Parse a record (RFC 7208 sections 4.6 and 12); ``RecordError`` for any syntax error, as a
    receiver returns permerror for one anywhere in the record before evaluating anything."""
    if not is_spf(record):
        raise RecordError(f"{domain}: not an SPF record (must start with v=spf1): {record!r}")
    parsed = Record(domain=normal(domain), text=record)
    for term in record.split()[1:]:
        where = f"{domain}: {term!r}"
        modifier = _MODIFIER.match(term)
        if modifier:
            name, value = modifier.group(1).lower(), modifier.group(2)
            if name in ("redirect", "exp"):
                if getattr(parsed, name) is not None:
                    raise RecordError(f"{domain}: more than one {name}= modifier (RFC 7208 section 6)")
                _check_domain(value, where)
                setattr(parsed, name, value)
            else:
                _check_macros(value, where, _EXPLAIN_LETTERS)  # unknown modifiers are ignored, but must parse
            continue
        directive = _DIRECTIVE.match(term)
        if not directive or directive.group(2).lower() not in _MECHANISMS:
            raise RecordError(f"{domain}: unknown mechanism {term!r}")
        qualifier, name, rest = directive.group(1) or "+", directive.group(2).lower(), directive.group(3)
        result = _QUALIFIERS[qualifier]
        if rest and rest[0] not in ":/":
            raise RecordError(f"{domain}: unknown mechanism {term!r}")
        if name == "all":
            if rest:
                raise RecordError(f"{domain}: 'all' takes no argument ({term!r})")
            parsed.terms.append(Term(term, result, name))
        elif name in ("ip4", "ip6"):
            if not rest.startswith(":"):
                raise RecordError(f"{domain}: {name} needs an address ({term!r})")
            parsed.terms.append(Term(term, result, name, network=_network(name, rest[1:], domain)))
        elif name in ("include", "exists"):
            if not rest.startswith(":") or len(rest) < 2:
                raise RecordError(f"{domain}: {name} needs a domain ({term!r})")
            _check_domain(rest[1:], where)
            parsed.terms.append(Term(term, result, name, spec=rest[1:]))
        elif name == "ptr":
            spec = rest[1:] if rest.startswith(":") else None
            if rest and (not spec or rest.startswith("/")):
                raise RecordError(f"{domain}: invalid ptr ({term!r})")
            if spec:
                _check_domain(spec, where)
            parsed.terms.append(Term(term, result, name, spec=spec))
        else:  # a, mx: [":" domain-spec] [ "/" ip4-cidr ] [ "//" ip6-cidr ]
            cidr = _DUAL_CIDR.match(rest)
            assert cidr is not None  # the pattern matches every string
            spec = cidr.group("spec")
            if spec and not spec.startswith(":") or spec == ":":
                raise RecordError(f"{domain}: invalid {name} ({term!r})")
            v4 = int(cidr.group("v4")) if cidr.group("v4") else 32
            v6 = int(cidr.group("v6")) if cidr.group("v6") else 128
            if v4 > 32 or v6 > 128:
                raise RecordError(f"{domain}: invalid CIDR length in {term!r}")
            if spec:
                _check_domain(spec[1:], where)
            parsed.terms.append(Term(term, result, name, spec=spec[1:] or None, cidr4=v4, cidr6=v6))
    return parsed


def _network(name: str, text: str, domain: str) -> Any:
    address, _, length = text.partition("/")
    try:
        network = ipaddress.ip_network(text if length else address, strict=False)
    except ValueError:
        raise RecordError(f"{domain}: invalid {name} address {text!r}") from None
    if (network.version == 4) != (name == "ip4"):
        raise RecordError(f"{domain}: {text} is not an IPv{4 if name == 'ip4' else 6} address")
    if length and (not length.isdigit() or int(length) > network.max_prefixlen or length != str(int(length))):
        raise RecordError(f"{domain}: invalid CIDR length in {name}:{text}")
    return network


# -- walking -------------------------------------------------------------------------------------
class _Walk:
    """One evaluation: the counters RFC 7208 limits, and the state macros expand from.

    ``ip`` None is the audit: nothing matches, the limits are counted past, and ``a`` reads A and
    AAAA together; with an ``ip`` it is ``check_host()`` and a limit exceeded is a permerror at once.
    """

    def __init__(self, lookup: Resolver, ip: Any, sender: str, helo: str) -> None:
        self.lookup = lookup
        self.ip = ip
        self.audit = ip is None
        self.sender = sender
        self.helo = helo
        self.lookups = 0
        self.voids = 0
        self.warnings: list[str] = []
        self.includes: list[str] = []  # domains whose pass is a pass of the record walked
        self.matched: tuple[str, str] | None = None  # (domain, term) that decided

    # counting
    def count(self) -> bool:
        """One more DNS-querying term; False when the audit has stopped following."""
        self.lookups += 1
        if not self.audit and self.lookups > LOOKUP_LIMIT:
            raise RecordError(f"more than {LOOKUP_LIMIT} DNS lookups (RFC 7208 section 4.6.4)")
        return not (self.audit and self.lookups > FOLLOW_LIMIT)

    def query(self, name: str, rtype: str, void: bool = True) -> Answer:
        answer = self.lookup.query(name, rtype)
        if void and answer.void:
            self.note_void()
        return answer

    def note_void(self) -> None:
        self.voids += 1
        if not self.audit and self.voids > VOID_LIMIT:
            raise RecordError(f"more than {VOID_LIMIT} void lookups (RFC 7208 section 4.6.4)")

    def fetch(self, domain: str, void: bool = True) -> str | None:
        """The one SPF record of ``domain``; None without one; ``RecordError`` for more than one."""
        answer = self.query(domain, "TXT", void=void)
        records = [v for v in answer.values if is_spf(v)]
        if len(records) > 1:
            raise RecordError(f"{domain} has {len(records)} SPF records (RFC 7208 section 4.5)")
        return records[0] if records else None

    # macros (RFC 7208 section 7)
    def expand(self, spec: str, domain: str, explain: bool = False) -> str | None:
        """A macro-string expanded; None in the audit when it needs the connecting IP or sender."""
        if "%" not in spec:
            return spec if explain else _truncate(spec)
        if self.audit:
            return None
        local, _, sender_domain = self.sender.rpartition("@")

        def one(match: re.Match[str]) -> str:
            escape = match.group("escape")
            if escape:
                return {"%": "%", "_": " ", "-": "%20"}[escape]
            letter = match.group("letter")
            value = self._macro_value(letter.lower(), local, sender_domain, domain)
            delims = match.group("delims") or "."
            parts = re.split("[" + re.escape(delims) + "]", value)
            if match.group("reverse"):
                parts.reverse()
            if match.group("digits"):
                parts = parts[-int(match.group("digits")) :]
            text = ".".join(parts)
            return urllib.parse.quote(text, safe="-._~") if letter.isupper() else text

        expanded = _MACRO.sub(one, spec)
        return expanded if explain else _truncate(expanded)

    def _macro_value(self, letter: str, local: str, sender_domain: str, domain: str) -> str:
        ip = self.ip
        if letter == "s":
            return self.sender
        if letter == "l":
            return local
        if letter == "o":
            return sender_domain
        if letter == "d":
            return domain
        if letter == "i":
            return str(ip) if ip.version == 4 else ".".join(ip.exploded.replace(":", ""))
        if letter == "p":
            return self.validated_name(domain, count=False) or "unknown"
        if letter == "v":
            return "in-addr" if ip.version == 4 else "ip6"
        if letter == "h":
            return self.helo or "unknown"
        if letter == "c":
            return str(ip)
        if letter == "r":
            return "unknown"
        return str(int(time.time()))  # t

    # mechanisms
    def validated_name(self, target: str, count: bool = True) -> str | None:
        """The connecting IP's PTR name that is ``target`` or under it and resolves back to the IP
        (RFC 7208 section 5.5); any validated name when none is under it; None without one."""
        answer = self.query(self.ip.reverse_pointer, "PTR", void=count)
        validated = []
        for name in answer.values[:PTR_LIMIT]:
            addresses = self.lookup.query(name, "A" if self.ip.version == 4 else "AAAA").values
            if str(self.ip) in {str(ipaddress.ip_address(a)) for a in addresses}:
                validated.append(normal(name))
        under = [n for n in validated if _under(n, target)]
        return next(iter(under or validated), None)

    def matches(self, term: Term, domain: str, seen: frozenset[str]) -> bool:
        name = term.mechanism
        if name in ("ip4", "ip6"):
            return not self.audit and self.ip in term.network
        if not self.count():
            return False
        target = domain if term.spec is None else self.expand(term.spec, domain)
        if name == "ptr":
            if self.audit:
                self.warnings.append(f"{domain}: the ptr mechanism should not be used (RFC 7208 section 5.5)")
                return False
            return _under(self.validated_name(target or domain), target or domain)
        if target is None:  # the audit cannot expand a macro without a connecting IP: counted, not asked
            return False
        if name == "include":
            return self.include(target, term, seen)
        if name == "exists":
            return bool(self.query(target, "A").values)
        if name == "a":
            return self.addresses_match(target, term)
        return self.mx_match(target, term)  # mx

    def addresses_match(self, host: str, term: Term) -> bool:
        if self.audit:  # a name with either record serves some senders: void only with neither
            a = self.lookup.query(host, "A")
            aaaa = self.lookup.query(host, "AAAA")
            if a.void and aaaa.void:
                self.note_void()
            return False
        answer = self.query(host, "A" if self.ip.version == 4 else "AAAA")
        return self._any_in(answer.values, term)

    def mx_match(self, domain: str, term: Term) -> bool:
        answer = self.query(domain, "MX")
        if self.audit:
            return False
        hosts = [v.partition(" ")[2] for v in answer.values if v.partition(" ")[2] not in ("", ".")]
        if len(hosts) > MX_LIMIT:
            raise RecordError(f"{domain}: more than {MX_LIMIT} MX records for the mx mechanism (RFC 7208 4.6.4)")
        for host in hosts:
            if self._any_in(self.query(host, "A" if self.ip.version == 4 else "AAAA").values, term):
                return True
        return False

    def _any_in(self, addresses: list[str], term: Term) -> bool:
        length = term.cidr4 if self.ip.version == 4 else term.cidr6
        for text in addresses:
            try:
                network = ipaddress.ip_network(f"{text}/{length}", strict=False)
            except ValueError:
                continue
            if self.ip in network:
                return True
        return False

    def include(self, target: str, term: Term, seen: frozenset[str]) -> bool:
        if normal(target) in seen:
            raise RecordError(f"include:{target} loops back to a record already being evaluated")
        record = self.fetch(target)
        if record is None:
            raise RecordError(f"include:{target} has no SPF record (RFC 7208 section 5.2: permerror)")
        before, decided = len(self.includes), self.matched
        if term.result == "pass":
            self.includes.append(normal(target))
        result = self.evaluate(target, record, seen)
        if term.result != "pass":
            del self.includes[before:]  # what is reached through a non-pass include passes nothing
        if result != "pass":
            self.matched = decided  # a term that ended the included record without a pass decided nothing
        return result == "pass"

    def evaluate(self, domain: str, text: str, seen: frozenset[str] = frozenset()) -> str | None:
        """One record: the result of the first matching term, else its redirect's, else neutral.
        In the audit nothing matches: the result is the ``all`` reached (None without one)."""
        domain = normal(domain)
        record = parse(text, domain)
        seen = seen | {domain}
        for i, term in enumerate(record.terms):
            if term.mechanism == "all" or self.matches(term, domain, seen):
                if term.mechanism == "all":
                    rest = [t.text for t in record.terms[i + 1 :]]
                    if rest:
                        self.warnings.append(f"{domain}: {' '.join(rest)} after '{term.text}' is never evaluated")
                    if record.redirect is not None:
                        self.warnings.append(f"{domain}: redirect={record.redirect} is ignored: the record has 'all'")
                self.matched = self.matched or (domain, term.text)
                return term.result
        if record.redirect is None:
            return None if self.audit else "neutral"
        if not self.count():
            return None
        target = self.expand(record.redirect, domain)
        if target is None:
            return None
        if normal(target) in seen:
            raise RecordError(f"redirect={target} loops back to a record already being evaluated")
        following = self.fetch(target)
        if following is None:
            raise RecordError(f"{domain}: redirect={target} has no SPF record (RFC 7208 section 6.1: permerror)")
        self.includes.append(normal(target))
        return self.evaluate(target, following, seen)

    def explanation(self, domain: str, text: str) -> str | None:
        """The ``exp=`` text of a failing record, expanded (RFC 7208 section 6.2); None when absent or broken."""
        try:
            record = parse(text, domain)
            if record.exp is None:
                return None
            target = self.expand(record.exp, domain)
            if target is None:
                return None
            values = self.lookup.query(target, "TXT").values
            if len(values) != 1:
                return None
            _check_macros(values[0], f"{domain}: exp", _EXPLAIN_LETTERS, spaces=True)
            return self.expand(values[0], domain, explain=True)
        except (RecordError, DnsError):
            return None


def _truncate(name: str) -> str:
    """A domain name of at most 253 characters, left labels removed (RFC 7208 section 7.3)."""
    name = name.rstrip(".")
    while len(name) > 253 and "." in name:
        name = name.partition(".")[2]
    return name


def _under(name: str | None, target: str) -> bool:
    if not name:
        return False
    target = normal(target)
    return name == target or name.endswith("." + target)


# -- the two questions ---------------------------------------------------------------------------
def audit(lookup: Resolver, domain: str, record: str | None = None) -> dict[str, Any]:
    """Grade a published record: worst-case DNS lookups, void lookups, the ``all`` result, warnings.

    Returns ``{"dns_lookups", "void_dns_lookups", "all", "warnings", "includes", "permerror"}``:
    ``includes`` the domains whose pass passes the record (``amazonses.com`` in it means SES's IPs
    pass), ``permerror`` what makes receivers return permerror (limits exceeded), empty when none.
    Raises ``RecordError`` for a syntax error, a missing or doubled record, an include without a
    record or a loop; ``DnsError`` when DNS cannot answer.
    """
    walk = _Walk(lookup, None, "", "")
    if record is None:
        record = walk.fetch(normal(domain), void=False)
        if record is None:
            raise RecordError(f"{domain} has no SPF record")
    result = walk.evaluate(domain, record)
    permerror = []
    if walk.lookups > LOOKUP_LIMIT:
        permerror.append(f"{walk.lookups} DNS lookups (limit {LOOKUP_LIMIT})")
    if walk.voids > VOID_LIMIT:
        permerror.append(f"{walk.voids} void lookups (limit {VOID_LIMIT})")
    return {
        "dns_lookups": walk.lookups,
        "void_dns_lookups": walk.voids,
        "all": result,
        "warnings": list(dict.fromkeys(walk.warnings)),
        "includes": list(dict.fromkeys(walk.includes)),
        "permerror": permerror,
    }


def check_host(lookup: Resolver, ip: str, sender: str, helo: str = "") -> dict[str, Any]:
    """RFC 7208 ``check_host()`` as a receiver runs it for a connecting IP and envelope sender.

    Returns ``{"result", "explanation", "ip", "sender", "helo", "dns_lookups", "void_lookups",
    "resolver"}``; ``result`` is one of ``RESULTS``. A null sender is checked as
    ``postmaster@<helo>`` (section 2.4). DNS that cannot answer is a temperror, any syntax error or
    exceeded limit a permerror, as receivers grade them.
    """
    address = ipaddress.ip_address(ip)
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    local, _, domain = (sender or "").rpartition("@")
    domain = normal(domain or helo)
    identity = f"{local or 'postmaster'}@{domain}"
    walk = _Walk(lookup, address, identity, helo)
    result, explanation = "none", ""
    try:
        labels = domain.split(".")
        if len(labels) < 2 or any(not label or len(label) > 63 for label in labels):
            explanation = f"{domain or '(empty)'} is not a domain name SPF can be checked for"
        else:
            record = walk.fetch(domain, void=False)
            if record is None:
                explanation = f"{domain} publishes no SPF record"
            else:
                result = walk.evaluate(domain, record) or "neutral"
                decided = walk.matched
                if result == "fail":
                    explanation = walk.explanation(domain, record) or (
                        f"{address} is not authorised by the SPF record of {domain}"
                        + (f" ({decided[1]} at {decided[0]})" if decided else "")
                    )
                elif decided:
                    explanation = f"{decided[1]} at {decided[0]}"
                else:
                    explanation = f"no term of the SPF record of {domain} matched {address}, and it has no 'all'"
    except RecordError as exc:
        result, explanation = "permerror", str(exc)
    except DnsError as exc:
        result, explanation = "temperror", str(exc)
    return {
        "result": result,
        "explanation": explanation,
        "ip": str(address),
        "sender": identity,
        "helo": helo,
        "dns_lookups": walk.lookups,
        "void_lookups": walk.voids,
        "resolver": getattr(lookup, "label", ""),
    }
