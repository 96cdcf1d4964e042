"""The one DNS layer of mail authentication: the run's resolver, its answers and how to repeat them.

Every DNS question the runbook asks (the DNS checks, SPF, DMARC, DKIM keys, the mail tester)
goes through one ``Lookup`` per run: the parameters' nameservers (``dns_nameservers``, entries
``host`` or ``host:port``) or the system resolver, a lifetime of ``dns_timeout_s`` per question,
answers memoized for the run, a dead server asked only once, and a count of the questions sent
(``Lookup.asked``: what a run cost its resolver). SPF, DMARC and DKIM take a ``Lookup`` (or
anything with its ``query``), never a resolver of their own, so what the DNS checks see is what
the mail tester sees.
"""

from __future__ import annotations

import re
import socket
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ses_runbook.core.commands import join
from ses_runbook.core.errors import DnsError

if TYPE_CHECKING:
    import dns.resolver


def _dnspython() -> Any:
    """dnspython, imported when a DNS check first asks (7 MiB and a tenth of a second that a
    notebook without DNS checks never needs; in ``check`` it loads in the DNS section's thread).

    The runbook asks plain DNS over UDP/TCP. With DNS-over-HTTPS available dnspython imports
    httpx2, httpcore2, h2 and anyio as it loads; ``force`` is dnspython's own switch for an
    optional feature, used only before dnspython's query module loads, so a process that already
    uses DoH keeps it.
    """
    if "dns.query" not in sys.modules:
        # deferred: dnspython (7 MiB): only when DNS is asked
        import dns._features

        dns._features.force("doh", False)
    # deferred: dnspython (7 MiB): only when DNS is asked
    import dns.exception
    import dns.name
    import dns.nameserver
    import dns.resolver

    return dns


# -- resolving ---------------------------------------------------------------------------
def split_server(entry: str) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 address -> (host, port)."""
    entry = entry.strip()
    if entry.startswith("[") and "]" in entry:
        host, _, rest = entry[1:].partition("]")
        return host, int(rest.lstrip(":") or 53)
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        return host, int(port)
    return entry, 53


def _address(host: str) -> str:
    """dnspython wants an IP address; a name like ns1.example.net is resolved once by the OS."""
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
        return host
    except OSError:
        pass
    try:
        return str(socket.getaddrinfo(host, 53, proto=socket.IPPROTO_UDP)[0][4][0])
    except OSError as exc:
        raise DnsError(f"DNS server '{host}' (dns_nameservers) cannot be resolved: {exc.strerror or exc}") from None


def make_resolver(params: Any) -> tuple[dns.resolver.Resolver, str]:
    """A dnspython resolver for the parameters, and how to name it in messages.

    No cache (the runbook asks what is there now), absolute names only (no search list), and a
    lifetime of ``dns_timeout_s`` per query with retries inside it, so a dead server costs that
    long and no more.
    """
    dns = _dnspython()
    timeout = float(params.dns_timeout_s)
    if params.dns_nameservers:
        resolver = dns.resolver.Resolver(configure=False)
        servers = [split_server(e) for e in params.dns_nameservers]
        resolver.nameservers = [dns.nameserver.Do53Nameserver(_address(h), p) for h, p in servers]
        label = ", ".join(f"{h}:{p}" if p != 53 else h for h, p in servers)
    else:
        try:
            resolver = dns.resolver.Resolver()
        except dns.resolver.NoResolverConfiguration:
            raise DnsError("no system DNS resolver is configured; set dns_nameservers (host or host:port)") from None
        label = "the system resolver (" + ", ".join(str(n) for n in resolver.nameservers) + ")"
    resolver.cache = None
    resolver.timeout = min(1.0, timeout)
    resolver.lifetime = timeout
    return resolver, label


@dataclass
class Answer:
    """One DNS question's answer: values in presentation form, and why there are none."""

    name: str
    rtype: str
    values: list[str] = field(default_factory=list)
    rcode: str = "NOERROR"  # NOERROR, NXDOMAIN; NOERROR with no values is NODATA

    @property
    def absent(self) -> str:
        return "no such name (NXDOMAIN)" if self.rcode == "NXDOMAIN" else f"the name has no {self.rtype} record"

    @property
    def void(self) -> bool:
        """NXDOMAIN, or NOERROR with no record: what RFC 7208 section 4.6.4 calls a void lookup."""
        return not self.values


class Resolver(Protocol):
    """What SPF, DMARC and DKIM need of the DNS: ``Lookup.query`` (a unit test passes a fake)."""

    def query(self, name: str, rtype: str) -> Answer: ...


class Lookup:
    """The run's DNS: one resolver, answers memoized, and a dead server asked only once.

    After a timeout every later question of the run fails at once with the same message, so four
    DNS checks against an unreachable server cost one timeout, not twenty.
    """

    def __init__(self, params: Any) -> None:
        self.params = params
        self.resolver, self.label = make_resolver(params)
        self.asked = 0  # questions sent to the resolver (a memoized answer is not asked again)
        self._memo: dict[tuple[str, str], Answer] = {}
        self._dead: DnsError | None = None

    def query(self, name: str, rtype: str) -> Answer:
        key = (name.lower().rstrip("."), rtype.upper())
        if key in self._memo:
            return self._memo[key]
        if self._dead is not None:
            raise self._dead
        answer = Answer(key[0], key[1])
        self.asked += 1
        dns = _dnspython()
        try:
            result = self.resolver.resolve(
                dns.name.from_text(key[0]), key[1], raise_on_no_answer=False, lifetime=self.resolver.lifetime
            )
            answer.values = [_text(rr, key[1]) for rr in (result.rrset or [])]
        except dns.resolver.NXDOMAIN:
            answer.rcode = "NXDOMAIN"
        except dns.exception.Timeout:
            self._dead = DnsError(
                f"DNS: no answer from {self.label} within {self.params.dns_timeout_s:g} s "
                f"(dns_timeout_s) for {key[0]} {key[1]}"
            )
            raise self._dead from None
        except dns.resolver.NoNameservers as exc:
            raise DnsError(f"DNS: {self.label} could not answer {key[0]} {key[1]} ({_short(exc)})") from None
        except dns.exception.DNSException as exc:
            raise DnsError(f"DNS: {key[0]} {key[1]} via {self.label}: {_short(exc)}") from None
        self._memo[key] = answer
        return answer


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) < 200 else text[:197] + "..."


def _text(rr: Any, rtype: str) -> str:
    if rtype == "TXT":
        return b"".join(rr.strings).decode("utf-8", "replace")
    if rtype == "MX":
        return f"{rr.preference} {rr.exchange.to_text().rstrip('.').lower()}"
    return rr.to_text().rstrip(".").lower()


def tag_list(value: str) -> dict[str, str]:
    """A ``tag=value; ...`` list (RFC 6376 section 3.2, the syntax of DKIM keys and signatures and of
    DMARC records): tag names in lower case, whitespace inside values removed; a part without
    ``=`` is skipped, so a damaged record still shows what it holds."""
    out = {}
    for part in value.split(";"):
        key, sep, val = part.partition("=")
        if sep:
            out[key.strip().lower()] = re.sub(r"\s+", "", val)
    return out


def dig_command(params: Any, rtype: str, name: str) -> str:
    words = ["dig", "+short", rtype, name]
    if params.dns_nameservers:
        host, port = split_server(params.dns_nameservers[0])
        words += [f"@{host}"] + (["-p", str(port)] if port != 53 else [])
    return join(words)
