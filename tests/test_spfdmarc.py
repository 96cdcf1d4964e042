"""SPF lookup counting and DMARC tags, on a fake resolver (no network)."""

from __future__ import annotations

import pytest

from ses_runbook.sources.mailauth import spfdmarc

ZONE = {
    ("example.org", "TXT"): ["v=spf1 include:_spf.example.net a mx ip4:192.0.2.0/24 ~all"],
    ("_spf.example.net", "TXT"): ["v=spf1 include:amazonses.com -all"],
    ("amazonses.com", "TXT"): ["v=spf1 ip4:199.255.192.0/22 -all"],
    ("example.org", "A"): ["192.0.2.1"],
    ("example.org", "MX"): ["10 mx.example.org"],
    ("redirected.example", "TXT"): ["v=spf1 redirect=example.org"],
}


def query(name: str, rtype: str) -> tuple[list[str], bool]:
    values = ZONE.get((name, rtype), [])
    return values, not values


def test_spf_counts_includes_a_and_mx_and_reads_all() -> None:
    graded = spfdmarc.evaluate_spf(ZONE[("example.org", "TXT")][0], "example.org", query)
    assert graded["dns_lookups"] == 4 and graded["all"] == "softfail"
    assert graded["void_dns_lookups"] == 0  # a: A answered although AAAA did not


def test_spf_redirect_counts_and_takes_the_target_all() -> None:
    graded = spfdmarc.evaluate_spf(ZONE[("redirected.example", "TXT")][0], "redirected.example", query)
    assert graded["dns_lookups"] == 5 and graded["all"] == "softfail"


def test_spf_void_lookups_and_plus_all() -> None:
    graded = spfdmarc.evaluate_spf(
        "v=spf1 a:gone.example mx:gone.example exists:x.gone.example +all", "example.org", query
    )
    assert graded["void_dns_lookups"] == 3 and graded["all"] == "pass"


@pytest.mark.parametrize(
    "record,message",
    [
        ("v=spf1 include:missing.example -all", "has no SPF record"),
        ("v=spf1 foo:bar -all", "unknown mechanism"),
        ("v=spf1 ip4:300.1.1.1 -all", "invalid ip4"),
    ],
)
def test_spf_errors(record: str, message: str) -> None:
    with pytest.raises(spfdmarc.RecordError, match=message):
        spfdmarc.evaluate_spf(record, "example.org", query)


def test_dmarc_defaults_and_values() -> None:
    parsed = spfdmarc.parse_dmarc("v=DMARC1; p=Reject; pct=50; rua=mailto:d@example.org")
    assert parsed["tags"]["p"] == "reject" and parsed["tags"]["sp"] == "reject" and parsed["tags"]["adkim"] == "r"
    assert parsed["tags"]["pct"] == 50 and any("pct=50" in w for w in parsed["warnings"])


@pytest.mark.parametrize(
    "record",
    [
        "v=DMARC1; p=block",
        "v=DMARC1",
        "v=DMARC1; p=none; adkim=x",
        "v=DMARC1; p=none; rua=d@example.org",
        "p=none; v=DMARC1",
    ],
)
def test_dmarc_errors(record: str) -> None:
    with pytest.raises(spfdmarc.RecordError):
        spfdmarc.parse_dmarc(record)


# DMARC identifier alignment as dns.dmarc judges it (RFC 7489 3.1): relaxed accepts the From
# domain and its subdomains, strict only the From domain itself; case and a trailing dot never matter.
@pytest.mark.parametrize(
    "domain, from_domain, mode, aligned",
    [
        ("thephenom.app", "thephenom.app", "r", True),
        ("thephenom.app", "thephenom.app", "s", True),
        ("mail.thephenom.app", "thephenom.app", "r", True),
        ("mail.thephenom.app", "thephenom.app", "s", False),
        ("Mail.ThePhenom.App.", "thephenom.app", "r", True),
        ("thephenom.app", "THEPHENOM.APP.", "s", True),
        ("evilthephenom.app", "thephenom.app", "r", False),  # a suffix, not a subdomain
        ("amazonses.com", "thephenom.app", "r", False),
        ("thephenom.app", "mail.thephenom.app", "r", False),  # the parent of the From domain is not aligned
    ],
)
def test_alignment_modes(domain: str, from_domain: str, mode: str, aligned: bool) -> None:
    from ses_runbook.checks.dns import _aligned

    assert _aligned(domain, from_domain, mode) is aligned
