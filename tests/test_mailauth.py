"""Mail authentication (``sources.mailauth``) on a fake resolver, no network: the SPF audit and
``check_host()``, DMARC tags and policy discovery, alignment, and which identity covers a sender."""

from __future__ import annotations

import pytest
from publicsuffixlist import PublicSuffixList

from ses_runbook.core.errors import DnsError, RecordError
from ses_runbook.core.identities import covering_domain, covering_identity, covers
from ses_runbook.sources.mailauth import dmarc, spf
from ses_runbook.sources.mailauth.dns import Answer
from ses_runbook.sources.mailauth.domains import aligned, org_domain

SES_SPF = "v=spf1 ip4:199.255.192.0/22 ip4:54.240.0.0/18 -all"
SES_IP = "54.240.8.30"
TEN = [f"spf{i}.example.net" for i in range(10)]

ZONE = {
    ("example.org", "TXT"): ["v=spf1 include:_spf.example.net a mx ip4:192.0.2.0/24 ~all"],
    ("_spf.example.net", "TXT"): ["v=spf1 include:amazonses.com -all"],
    ("amazonses.com", "TXT"): [SES_SPF],
    ("example.org", "A"): ["192.0.2.1"],
    ("example.org", "MX"): ["10 mx.example.org"],
    ("mx.example.org", "A"): ["198.51.100.25"],
    ("redirected.example", "TXT"): ["v=spf1 redirect=example.org"],
    ("v6only.example", "AAAA"): ["2001:db8::25"],
    **{(name, "TXT"): ["v=spf1 -all"] for name in TEN},
    # nine includes and amazonses.com: exactly ten lookups; ten and amazonses.com: eleven
    ("ten.example", "TXT"): ["v=spf1 " + " ".join(f"include:{n}" for n in TEN[:9]) + " include:amazonses.com -all"],
    ("eleven.example", "TXT"): ["v=spf1 " + " ".join(f"include:{n}" for n in TEN) + " include:amazonses.com -all"],
    ("nested.example", "TXT"): ["v=spf1 include:_spf.example.net -all"],
    ("softly.example", "TXT"): ["v=spf1 ~include:amazonses.com -all"],
    ("macro.example", "TXT"): ["v=spf1 exists:%{i}._ip.%{d} -all"],
    ("54.240.8.30._ip.macro.example", "A"): ["127.0.0.2"],
    ("explained.example", "TXT"): ["v=spf1 ip4:192.0.2.1 exp=why.%{d} -all"],
    ("why.explained.example", "TXT"): ["%{i} may not send for %{d}"],
    ("ptr.example", "TXT"): ["v=spf1 ptr -all"],
    ("30.8.240.54.in-addr.arpa", "PTR"): ["a8-30.mail.ptr.example"],
    ("a8-30.mail.ptr.example", "A"): [SES_IP],
    ("mxsend.example", "TXT"): ["v=spf1 mx/24 -all"],
    ("mxsend.example", "MX"): ["10 out.mxsend.example"],
    ("out.mxsend.example", "A"): ["54.240.8.1"],
    # DMARC: a record for the organizational domain only, and one of a subdomain's own
    ("_dmarc.thephenom.app", "TXT"): ["v=DMARC1; p=none; sp=reject; rua=mailto:d@thephenom.app"],
    ("_dmarc.strict.thephenom.app", "TXT"): ["v=DMARC1; p=quarantine; adkim=s; aspf=s"],
    ("_dmarc.twice.example", "TXT"): ["v=DMARC1; p=reject", "v=DMARC1; p=none"],
    ("_dmarc.lenient.example", "TXT"): ["v=DMARC1; p=reject; foo=bar"],
}


class Zone:
    """A fake ``mailauth.dns.Lookup``: the answers above, NXDOMAIN for a name with no record at all."""

    label = "the test zone"

    def __init__(self, records: dict[tuple[str, str], list[str]] | None = None) -> None:
        self.records = ZONE if records is None else records
        self.asked: list[tuple[str, str]] = []

    def query(self, name: str, rtype: str) -> Answer:
        key = (name.lower().rstrip("."), rtype.upper())
        self.asked.append(key)
        exists = any(n == key[0] for n, _ in self.records)
        return Answer(key[0], key[1], list(self.records.get(key, [])), "NOERROR" if exists else "NXDOMAIN")


# -- SPF: the audit (dns.spf) ----------------------------------------------------------------------
def test_spf_counts_includes_a_and_mx_and_reads_all() -> None:
    graded = spf.audit(Zone(), "example.org")
    assert graded["dns_lookups"] == 4 and graded["all"] == "softfail"
    assert graded["void_dns_lookups"] == 0  # a: A answered although AAAA did not
    assert graded["permerror"] == []


def test_spf_redirect_counts_and_takes_the_target_all() -> None:
    graded = spf.audit(Zone(), "redirected.example")
    assert graded["dns_lookups"] == 5 and graded["all"] == "softfail"


def test_spf_void_lookups_and_plus_all() -> None:
    graded = spf.audit(Zone(), "example.org", "v=spf1 a:gone.example mx:gone.example exists:x.gone.example +all")
    assert graded["void_dns_lookups"] == 3 and graded["all"] == "pass"
    assert graded["permerror"] == ["3 void lookups (limit 2)"]


def test_spf_ten_lookups_are_within_the_limit_eleven_are_not() -> None:
    ten = spf.audit(Zone(), "ten.example")
    assert ten["dns_lookups"] == 10 and ten["permerror"] == []
    eleven = spf.audit(Zone(), "eleven.example")
    assert eleven["dns_lookups"] == 11 and eleven["permerror"] == ["11 DNS lookups (limit 10)"]
    # check_host() of a receiver agrees: the 10th lookup reaches amazonses.com, an 11th is a permerror
    assert spf.check_host(Zone(), SES_IP, "b@ten.example")["result"] == "pass"
    late = spf.check_host(Zone(), SES_IP, "b@eleven.example")
    assert late["result"] == "permerror" and "more than 10 DNS lookups" in late["explanation"]


def test_an_a_host_with_only_an_aaaa_record_is_not_a_void_lookup() -> None:
    record = "v=spf1 a:v6only.example a:gone1.example a:gone2.example include:amazonses.com -all"
    graded = spf.audit(Zone(), "example.org", record)
    assert graded["void_dns_lookups"] == 2 and graded["permerror"] == []  # gone1 and gone2 only
    third = spf.audit(Zone(), "example.org", record.replace("include:", "a:gone3.example include:"))
    assert third["void_dns_lookups"] == 3 and third["permerror"] == ["3 void lookups (limit 2)"]


def test_the_audit_names_the_includes_a_pass_goes_through() -> None:
    assert spf.audit(Zone(), "nested.example")["includes"] == ["_spf.example.net", "amazonses.com"]
    assert spf.audit(Zone(), "softly.example")["includes"] == []  # ~include: a match is a softfail, not a pass
    assert spf.includes_term("v=spf1 +include:AmazonSES.com. ~all") is True
    assert spf.includes_term("v=spf1 include:_spf.example.net ~all") is False


@pytest.mark.parametrize(
    "record,message",
    [
        ("v=spf1 include:missing.example -all", "has no SPF record"),
        ("v=spf1 foo:bar -all", "unknown mechanism"),
        ("v=spf1 ip4:300.1.1.1 -all", "invalid ip4"),
        ("v=spf1 include:192.0.2.1 -all", "is not a domain name"),
        ("v=spf1 a:%{q}.example -all", "macro"),
        ("v=spf1 redirect=a.example redirect=b.example", "more than one redirect"),
    ],
)
def test_spf_errors(record: str, message: str) -> None:
    with pytest.raises(RecordError, match=message):
        spf.audit(Zone(), "example.org", record)


# -- SPF: check_host() (message.spf) ---------------------------------------------------------------
@pytest.mark.parametrize(
    "ip, sender, result",
    [
        (SES_IP, "b@example.org", "pass"),  # through include:_spf.example.net -> include:amazonses.com
        ("192.0.2.1", "b@example.org", "pass"),  # a
        ("198.51.100.25", "b@example.org", "pass"),  # mx
        ("203.0.113.9", "b@example.org", "softfail"),
        ("203.0.113.9", "b@redirected.example", "softfail"),
        (SES_IP, "b@softly.example", "softfail"),
        (SES_IP, "b@macro.example", "pass"),  # exists:%{i}._ip.%{d}
        ("54.240.8.31", "b@macro.example", "fail"),
        (SES_IP, "b@ptr.example", "pass"),  # a PTR name under ptr.example that resolves back
        ("54.240.8.99", "b@mxsend.example", "pass"),  # mx/24
        (SES_IP, "b@nothing.example", "none"),
        ("::ffff:54.240.8.30", "b@example.org", "pass"),  # an IPv4-mapped address is checked as IPv4
    ],
)
def test_check_host(ip: str, sender: str, result: str) -> None:
    assert spf.check_host(Zone(), ip, sender)["result"] == result


def test_check_host_explains_a_fail_with_the_records_exp() -> None:
    failed = spf.check_host(Zone(), "203.0.113.9", "b@explained.example")
    assert failed["result"] == "fail" and failed["explanation"] == "203.0.113.9 may not send for explained.example"


def test_check_host_temperror_when_dns_cannot_answer() -> None:
    class Dead(Zone):
        def query(self, name: str, rtype: str) -> Answer:
            raise DnsError(f"DNS: no answer for {name} {rtype}")

    assert spf.check_host(Dead(), SES_IP, "b@example.org")["result"] == "temperror"


# -- DMARC -----------------------------------------------------------------------------------------
def test_dmarc_defaults_and_values() -> None:
    parsed = dmarc.parse_dmarc("v=DMARC1; p=Reject; pct=50; rua=mailto:d@example.org")
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
    with pytest.raises(RecordError):
        dmarc.parse_dmarc(record)


def test_dmarc_discovery_falls_back_to_the_organizational_domain_whose_sp_applies() -> None:
    zone = Zone()
    own = dmarc.discover(zone, "thephenom.app")
    assert own["location"] == "_dmarc.thephenom.app" and own["policy_tag"] == "p" and own["policy"] == "none"
    sub = dmarc.discover(zone, "news.thephenom.app")
    assert sub["found"] and sub["inherited"] and sub["location"] == "_dmarc.thephenom.app"
    assert sub["policy_tag"] == "sp" and sub["policy"] == "reject"
    assert [a["name"] for a in sub["asked"]] == ["_dmarc.news.thephenom.app", "_dmarc.thephenom.app"]
    # a subdomain's own record wins: no fallback, and its p= applies
    strict = dmarc.discover(zone, "strict.thephenom.app")
    assert strict["location"] == "_dmarc.strict.thephenom.app" and not strict["inherited"]
    assert (strict["policy"], strict["adkim"], strict["aspf"]) == ("quarantine", "s", "s")
    assert zone.asked.count(("_dmarc.thephenom.app", "TXT")) == 2  # only for the two that needed it


def test_dmarc_discovery_without_a_policy() -> None:
    none = dmarc.discover(Zone(), "mail.nodmarc.example")
    assert not none["found"] and none["error"] == "no DMARC record"
    assert none["location"] == "_dmarc.mail.nodmarc.example or _dmarc.nodmarc.example"
    twice = dmarc.discover(Zone(), "twice.example")  # two records: receivers apply none of them
    assert not twice["found"] and "2 DMARC records" in twice["error"]
    lenient = dmarc.discover(Zone(), "lenient.example")  # an unknown tag: reported, the policy still applies
    assert lenient["found"] and lenient["policy"] == "reject" and "unknown tag foo" in lenient["parse_error"]


def test_dmarc_verdict_by_organizational_domain() -> None:
    sub = dmarc.discover(Zone(), "news.thephenom.app")
    assert dmarc.evaluate(sub, ["thephenom.app"], None, False) == {
        "result": "pass",
        "dkim_aligned": ["thephenom.app"],
        "spf_aligned": False,
    }
    assert dmarc.evaluate(sub, ["amazonses.com"], "mail.thephenom.app", True)["result"] == "pass"
    assert dmarc.evaluate(sub, ["amazonses.com"], "mail.thephenom.app", False)["result"] == "fail"
    strict = dmarc.discover(Zone(), "strict.thephenom.app")
    assert dmarc.evaluate(strict, ["thephenom.app"], "mail.thephenom.app", True)["result"] == "fail"


# DMARC identifier alignment (RFC 7489 3.1): relaxed is the same organizational domain (public
# suffix list), whichever name is the parent; strict the same name; case and a trailing dot never matter.
@pytest.mark.parametrize(
    "domain, from_domain, mode, expected",
    [
        ("thephenom.app", "thephenom.app", "r", True),
        ("thephenom.app", "thephenom.app", "s", True),
        ("mail.thephenom.app", "thephenom.app", "r", True),
        ("mail.thephenom.app", "thephenom.app", "s", False),
        ("Mail.ThePhenom.App.", "thephenom.app", "r", True),
        ("thephenom.app", "THEPHENOM.APP.", "s", True),
        ("evilthephenom.app", "thephenom.app", "r", False),  # a suffix, not a subdomain
        ("amazonses.com", "thephenom.app", "r", False),
        ("thephenom.app", "mail.thephenom.app", "r", True),  # SES signs d=thephenom.app for a subdomain sender
        ("thephenom.app", "mail.thephenom.app", "s", False),
        ("a.mail.thephenom.app", "news.thephenom.app", "r", True),  # siblings under one organization
        ("a.github.io", "b.github.io", "r", False),  # github.io is a public suffix: two organizations
        ("mail.example.co.uk", "example.co.uk", "r", True),
        ("example.co.uk", "other.co.uk", "r", False),
    ],
)
def test_alignment_modes(domain: str, from_domain: str, mode: str, expected: bool) -> None:
    assert aligned(domain, from_domain, mode) is expected


def test_organizational_domain() -> None:
    assert org_domain("a.b.news.thephenom.app") == "thephenom.app"
    assert org_domain("x.example.co.uk.") == "example.co.uk"
    assert org_domain("a.github.io") == "a.github.io"


# -- identity coverage -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "identity, address, expected",
    [
        ("thephenom.app", "no-reply@thephenom.app", True),
        ("thephenom.app", "no-reply@mail.thephenom.app", True),  # a verified domain covers its subdomains
        ("thephenom.app", "no-reply@a.b.thephenom.app", True),
        ("ThePhenom.App", "no-reply@MAIL.thephenom.app", True),
        ("mail.thephenom.app", "no-reply@thephenom.app", False),  # not its parent
        ("thephenom.app", "no-reply@evilthephenom.app", False),
        ("no-reply@thephenom.app", "no-reply@thephenom.app", True),
        ("no-reply@thephenom.app", "other@thephenom.app", False),  # an address covers only itself
    ],
)
def test_identity_covers(identity: str, address: str, expected: bool) -> None:
    assert covers(identity, address) is expected


def test_the_most_specific_verified_identity_covers_the_sender() -> None:
    statuses = {"thephenom.app": "Success", "mail.thephenom.app": "Pending", "sanmarcsoft@applepublic.com": "Success"}
    assert covering_identity("no-reply@mail.thephenom.app", statuses) == "thephenom.app"
    assert covering_identity("no-reply@x.mail.thephenom.app", {**statuses, "mail.thephenom.app": "Success"}) == (
        "mail.thephenom.app"
    )
    assert covering_identity("sanmarcsoft@applepublic.com", statuses) == "sanmarcsoft@applepublic.com"
    assert covering_identity("other@applepublic.com", statuses) is None
    assert covering_identity("no-reply@thephenom.app", {"thephenom.app": "Pending"}) is None


def test_the_most_specific_verified_domain_signs_for_the_sender() -> None:
    statuses = {
        "thephenom.app": "Success",
        "news.thephenom.app": "Success",
        "no-reply@news.thephenom.app": "Success",  # an address identity signs with its domain's key
        "pending.thephenom.app": "Pending",
        "sanmarcsoft@applepublic.com": "Success",
    }
    assert covering_domain("no-reply@news.thephenom.app", statuses) == "news.thephenom.app"
    assert covering_domain("no-reply@eu.news.thephenom.app", statuses) == "news.thephenom.app"
    assert covering_domain("no-reply@pending.thephenom.app", statuses) == "thephenom.app"
    assert covering_domain("sanmarcsoft@applepublic.com", statuses) is None  # no domain: amazonses.com signs alone


@pytest.mark.parametrize(
    "name",
    [
        "a.b.thephenom.app",
        "x.github.io",
        "a.b.co.uk",
        "b.a.xn--p1ai",
        "y.x.xn--o1ach.xn--90a3ac",
        "z.org.xn--mgbaam7a8h",
    ],
)
def test_org_domain_of_a_punycode_name_is_the_whole_lists_answer(name: str) -> None:
    # the list is held without its xn-- spellings (a third of the parse); A-labels are looked up as Unicode
    full = PublicSuffixList()  # every rule in both spellings
    assert org_domain(name) == (full.privatesuffix(name) or name)
