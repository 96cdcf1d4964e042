"""Domain names as DMARC compares them: the organizational domain and identifier alignment.

RFC 7489 section 3.2 defines the organizational domain by the public suffix list, so
``news.thephenom.app`` and ``thephenom.app`` belong to one organization while ``a.github.io`` and
``b.github.io`` (a private suffix on the list) do not; a suffix test on the names cannot tell these
apart. ``aligned`` is the one alignment test of the runbook: the DNS checks predict with it what
the mail tester measures with it. Names are compared as ``core.identities.normal`` spells them,
the one spelling SES identities are matched in too.
"""

from __future__ import annotations

import functools

from publicsuffixlist import PublicSuffixList

from ses_runbook.core.identities import normal


@functools.lru_cache(maxsize=1)
def _suffixes() -> PublicSuffixList:
    """The list bundled with publicsuffixlist, parsed once per process (static data, not a run's).

    Without the A-label (``xn--``) spelling of each internationalized rule, which costs two thirds
    of the parse (50 ms of every ``check``): ``org_domain`` looks such names up in their Unicode form.
    """
    return PublicSuffixList(accept_encoded_idn=False)


def _unicode(name: str) -> str:
    """``xn--`` labels in their Unicode form, the form the list is held in; others as they are."""
    try:
        return ".".join(
            label.encode("ascii").decode("idna") if label.startswith("xn--") else label for label in name.split(".")
        )
    except (UnicodeError, ValueError):
        return name


def org_domain(domain: str) -> str:
    """The organizational domain (RFC 7489 section 3.2): the public suffix plus one label.

    A name that is itself a public suffix (``com``, ``github.io``) or is not under any has no
    organizational domain above it: the name itself is returned, as receivers then use it.
    """
    name = normal(domain)
    if "xn--" not in name:
        return _suffixes().privatesuffix(name) or name
    found = _suffixes().privatesuffix(_unicode(name))
    if not found:
        return name
    return ".".join(name.split(".")[-len(found.split(".")) :])  # the same labels, spelled as given


def aligned(domain: str | None, from_domain: str | None, mode: str = "r") -> bool:
    """DMARC identifier alignment (RFC 7489 section 3.1): strict (``s``) is the same name, relaxed
    (``r``, the default) the same organizational domain, whichever of the two is the parent."""
    if not domain or not from_domain:
        return False
    domain, from_domain = normal(domain), normal(from_domain)
    if domain == from_domain:
        return True
    return mode != "s" and org_domain(domain) == org_domain(from_domain)
