"""Which SES identity covers a sender address, as SES documents it.

"When you verify a domain identity, you can send email from any subdomain or email address of the
verified domain" (SES developer guide, "Creating and verifying identities"): verified
``thephenom.app`` covers ``no-reply@thephenom.app`` and ``no-reply@mail.thephenom.app`` alike, and
an address identity covers only itself. An address that only inherits its verification can do
simple sending; configuration-set defaults, sending authorization and per-address overrides need
the address verified as its own identity, which is why the covering identity is named, not only
whether there is one.

The rule lives in the core because two sides must apply it alike: the identity and DNS checks
predict with it what SES will accept and sign, and the sandbox, standing in for SES, accepts and
signs by it (the sandbox may import nothing above the core).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

VERIFIED = "Success"  # SES v1's spelling of a verified identity (sources.ses.V1_STATUS)


def normal(domain: str) -> str:
    """A domain as compared everywhere: lower case, no trailing dot, no surrounding space."""
    return domain.strip().rstrip(".").lower()


def domain_of(address: str | None) -> str | None:
    """The domain of an address (``user@Example.ORG`` -> ``example.org``); None without one."""
    if not address or "@" not in address:
        return None
    return normal(address.rpartition("@")[2]) or None


def covers(identity: str, address: str) -> bool:
    """Whether ``identity`` (an address or a domain) covers ``address``.

    An address identity covers the same address (domain compared without case); a domain identity
    covers every address on the domain and on any of its subdomains, label by label
    (``thephenom.app`` covers ``mail.thephenom.app``, not ``evilthephenom.app``).
    """
    if "@" in identity:
        local, _, domain = identity.rpartition("@")
        other_local, _, other_domain = address.rpartition("@")
        return local == other_local and normal(domain) == normal(other_domain)
    sender_domain, name = domain_of(address), normal(identity)
    if not sender_domain or not name:
        return False
    return sender_domain == name or sender_domain.endswith("." + name)


def most_specific(address: str, names: Iterable[str]) -> str | None:
    """Of ``names``, the one that covers ``address`` most closely, as given: the address itself, then
    the domain with the most labels; None when none covers it."""
    covering = [name for name in names if covers(name, address)]
    return max(covering, key=lambda n: (("@" in n), normal(n).count(".")), default=None)


def covering_identity(address: str, statuses: Mapping[str, str]) -> str | None:
    """The most specific verified identity that covers ``address`` (the address itself, then its
    domain, then each parent domain), as ``statuses`` spells it; None when none does: SES then
    rejects mail from it ("Email address is not verified").

    ``statuses`` maps identity names to their verification status in SES v1's spelling
    (``Success``, ``Pending``, ...), as ``sources.ses.email_identities`` gives them.
    """
    return most_specific(address, [name for name, status in statuses.items() if status == VERIFIED])


def covering_domain(address: str, statuses: Mapping[str, str]) -> str | None:
    """The most specific verified *domain* identity that covers ``address``: the one whose Easy DKIM
    key signs the mail (``d=`` this name, never an address) and whose custom MAIL FROM SES uses,
    an address identity of its own notwithstanding. None when no verified domain covers it."""
    return most_specific(address, [n for n, status in statuses.items() if status == VERIFIED and "@" not in n])


def nearest_domain_identity(address: str, statuses: Mapping[str, str]) -> str | None:
    """The most specific domain identity above ``address``, verified or not (to say why it is not
    covered: ``thephenom.app`` is Pending, say); None when there is none."""
    return most_specific(address, [name for name in statuses if "@" not in name])
