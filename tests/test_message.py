"""mail-test on crafted messages: each verdict against keys and records this test publishes in a
loopback DNS server, the bad inputs, and the CLI on a saved message with no AWS at all."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ses_runbook.checks import message
from ses_runbook.core import params as params_mod
from ses_runbook.core.errors import MessageError
from ses_runbook.core.results import Status
from ses_runbook.sandbox import mail
from ses_runbook.sandbox.dns import DnsServer
from ses_runbook.sandbox.server import AMAZONSES_SPF
from ses_runbook.sources.mailauth.dns import Lookup
from ses_runbook.sources.message import parse, read_file
from support import run_cli

WHEN = datetime(2026, 11, 1, tzinfo=timezone.utc)
KEY, PUBLIC = mail.keypair("test-example")
OTHER_KEY, OTHER_PUBLIC = mail.keypair("test-other")
SES_KEY, SES_PUBLIC = mail.keypair("test-ses")
MANY = [f"spf{i}.example.net" for i in range(11)]
# RFC 8463 Ed25519: dkimpy's private key is the 32-byte seed in base64, DNS publishes the raw public key
ED_SEED = hashlib.sha256(b"test-ed25519").digest()
ED_KEY = base64.b64encode(ED_SEED)
ED_PUBLIC = "v=DKIM1; k=ed25519; p=" + base64.b64encode(
    Ed25519PrivateKey.from_private_bytes(ED_SEED)
    .public_key()
    .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
).decode("ascii")


def _records() -> list[dict]:
    return [
        {"name": "sel._domainkey.example.org", "type": "TXT", "value": PUBLIC},
        {"name": "rotated._domainkey.example.org", "type": "TXT", "value": OTHER_PUBLIC},  # not the key that signs
        {"name": f"{mail.SES_SELECTOR}._domainkey.amazonses.com", "type": "TXT", "value": SES_PUBLIC},
        {"name": "example.org", "type": "TXT", "value": "v=spf1 include:amazonses.com -all"},
        {"name": "bounce.example.org", "type": "TXT", "value": "v=spf1 include:amazonses.com -all"},
        {"name": "amazonses.com", "type": "TXT", "value": AMAZONSES_SPF},
        {"name": "us-east-1.amazonses.com", "type": "TXT", "value": "v=spf1 include:amazonses.com -all"},
        {"name": "_dmarc.example.org", "type": "TXT", "value": "v=DMARC1; p=reject; adkim=r; aspf=r"},
        {"name": "_dmarc.strict.example", "type": "TXT", "value": "v=DMARC1; p=reject; adkim=s; aspf=s"},
        {"name": "ed._domainkey.example.org", "type": "TXT", "value": ED_PUBLIC},
        # the organizational domain's record only: its sp= governs news.orgsp.example, its p= orgsp.example
        {"name": "_dmarc.orgsp.example", "type": "TXT", "value": "v=DMARC1; p=none; sp=reject"},
        {"name": "sel._domainkey.orgsp.example", "type": "TXT", "value": PUBLIC},
        # exactly 10 DNS lookups: nine includes, then amazonses.com
        {
            "name": "ten.example",
            "type": "TXT",
            "value": "v=spf1 " + " ".join(f"include:{n}" for n in MANY[:9]) + " include:amazonses.com -all",
        },
        {"name": "sel._domainkey.strict.example", "type": "TXT", "value": PUBLIC},
        {"name": "strict.example", "type": "TXT", "value": "v=spf1 include:amazonses.com -all"},
        # more than 10 DNS lookups: a permerror
        {
            "name": "toomany.example",
            "type": "TXT",
            "value": "v=spf1 " + " ".join(f"include:{n}" for n in MANY) + " -all",
        },
        *[{"name": n, "type": "TXT", "value": "v=spf1 -all"} for n in MANY],
        # more than 2 void lookups: a permerror
        {
            "name": "voids.example",
            "type": "TXT",
            "value": "v=spf1 a:gone1.example a:gone2.example a:gone3.example include:amazonses.com -all",
        },
    ]


@pytest.fixture(scope="module")
def dns() -> Iterator[DnsServer]:
    with DnsServer(_records()) as server:
        yield server


def _params(dns: DnsServer, **values) -> params_mod.Params:
    return params_mod.load(overrides={"dns_nameservers": [f"127.0.0.1:{dns.port}"], "dns_timeout_s": 2, **values})


def _message(
    sender: str = "no-reply@example.org",
    signing=(("example.org", "sel", KEY),),
    return_path: str = "bounce-1@bounce.example.org",
    headers: dict | None = None,
    text: str = "Hello.\n",
) -> bytes:
    raw = mail.compose(sender, "user@example.net", "Your receipt", text, "<1@example.org>", WHEN, headers)
    return mail.ses_deliver(
        raw, signing=list(signing), return_path=return_path, received_by="mx.example.net", when=WHEN
    )


def _judge(dns: DnsServer, raw: bytes, **values) -> dict:
    return message.judge(parse(raw, "test.eml"), _params(dns, **values)).by_id()


# -- DKIM ------------------------------------------------------------------------------------------
def test_valid_aligned_signature_passes_all_four(dns: DnsServer) -> None:
    checks = _judge(dns, _message(signing=(("amazonses.com", mail.SES_SELECTOR, SES_KEY), ("example.org", "sel", KEY))))
    assert {k: v.status for k, v in checks.items()} == {i: Status.OK for i in message.IDS}
    rows = checks["message.dkim"].details["signatures"]
    assert [(r["d"], r["result"], r["aligned"], r["key_bits"]) for r in rows] == [
        ("example.org", "pass", True, 2048),
        ("amazonses.com", "pass", False, 2048),
    ]
    assert "aligned" in checks["message.dkim"].summary
    assert "DKIM aligned (d=example.org)" in checks["message.dmarc"].summary


def test_body_altered_after_signing_fails_with_body_hash_mismatch(dns: DnsServer) -> None:
    raw = _message().replace(b"Hello.", b"Hello!")
    dkim = _judge(dns, raw)["message.dkim"]
    assert dkim.status is Status.FAIL
    assert "body hash mismatch" in dkim.summary and dkim.details["signatures"][0]["body_hash"] == "mismatch"


def test_signed_header_altered_fails(dns: DnsServer) -> None:
    raw = _message().replace(b"Subject: Your receipt", b"Subject: Your receipt!")
    dkim = _judge(dns, raw)["message.dkim"]
    assert (
        dkim.status is Status.FAIL
        and "does not verify with the key published at sel._domainkey.example.org" in dkim.summary
    )


def test_key_missing_from_dns_fails_naming_the_selector(dns: DnsServer) -> None:
    dkim = _judge(dns, _message(signing=(("example.org", "gone", KEY),)))["message.dkim"]
    assert dkim.status is Status.FAIL and "no public key in DNS" in dkim.summary and "s=gone" in dkim.summary


def test_key_mismatch_fails(dns: DnsServer) -> None:
    dkim = _judge(dns, _message(signing=(("example.org", "rotated", KEY),)))["message.dkim"]
    assert dkim.status is Status.FAIL and "the key in DNS is not the one that signed" in dkim.summary


def test_l_tag_passes_but_warns_that_appended_text_is_unsigned(dns: DnsServer) -> None:
    raw = mail.compose("no-reply@example.org", "user@example.net", "Hi", "Hello.\n", "<2@example.org>", WHEN)
    raw = mail.sign(raw, "example.org", "sel", KEY, length=True) + b"Appended by someone else.\r\n"
    raw = b"Return-Path: <b@example.org>\r\nReceived: from a8-30.smtp-out.amazonses.com ([54.240.8.30]) by mx\r\n" + raw
    dkim = _judge(dns, raw)["message.dkim"]
    assert dkim.status is Status.WARN and "(l=)" in dkim.summary and dkim.details["signatures"][0]["result"] == "pass"


def test_two_signatures_only_the_unaligned_one_passing_fails(dns: DnsServer) -> None:
    raw = _message(signing=(("amazonses.com", mail.SES_SELECTOR, SES_KEY), ("example.org", "rotated", KEY)))
    checks = _judge(dns, raw)
    assert checks["message.dkim"].status is Status.FAIL
    assert "no aligned DKIM signature verifies for example.org" in checks["message.dkim"].summary
    # SPF on bounce.example.org still aligns (relaxed): DMARC passes through SPF
    assert checks["message.dmarc"].status is Status.OK and "SPF aligned" in checks["message.dmarc"].summary


def _ed25519_signed(raw: bytes) -> bytes:
    """``raw`` with an ed25519-sha256 DKIM-Signature (d=example.org, s=ed) prepended."""
    headers = [b"from", b"to", b"subject", b"date", b"message-id"]
    signature = dkim.sign(
        raw,
        b"ed",
        b"example.org",
        ED_KEY,
        signature_algorithm=b"ed25519-sha256",
        include_headers=headers,
        canonicalize=(b"relaxed", b"relaxed"),
    )
    return signature + raw


def test_ed25519_signature_verifies_alone_and_beside_rsa(dns: DnsServer) -> None:
    raw = mail.compose("no-reply@example.org", "user@example.net", "Hi", "Hello.\n", "<3@example.org>", WHEN)
    alone = mail.ses_deliver(
        _ed25519_signed(raw), signing=[], return_path="b@amazonses.com", received_by="mx.example.net", when=WHEN
    )
    checks = _judge(dns, alone)
    dkim_result = checks["message.dkim"]
    assert dkim_result.status is Status.OK, dkim_result.summary
    assert [(r["a"], r["result"], r["key_bits"], r["aligned"]) for r in dkim_result.details["signatures"]] == [
        ("ed25519-sha256", "pass", 256, True)
    ]
    assert checks["message.dmarc"].status is Status.OK  # DKIM alone aligns: the envelope is amazonses.com
    # RFC 8463 senders sign twice, Ed25519 and RSA: both verify
    both = mail.ses_deliver(
        _ed25519_signed(raw),
        signing=[("example.org", "sel", KEY)],
        return_path="b@bounce.example.org",
        received_by="mx.example.net",
        when=WHEN,
    )
    rows = _judge(dns, both)["message.dkim"].details["signatures"]
    assert sorted((r["a"], r["result"]) for r in rows) == [("ed25519-sha256", "pass"), ("rsa-sha256", "pass")]


def test_no_dkim_signature_is_a_clear_fail(dns: DnsServer) -> None:
    dkim = _judge(dns, _message(signing=()))["message.dkim"]
    assert dkim.status is Status.FAIL and dkim.summary.startswith("no DKIM-Signature in the message")


# -- SPF -------------------------------------------------------------------------------------------
def test_spf_more_than_ten_lookups_is_a_permerror_fail(dns: DnsServer) -> None:
    spf = _judge(dns, _message(return_path="b@toomany.example"))["message.spf"]
    assert spf.status is Status.FAIL and spf.details["result"] == "permerror"
    assert "receivers treat a permerror as a failure" in spf.summary


def test_spf_more_than_two_void_lookups_is_a_permerror_fail(dns: DnsServer) -> None:
    spf = _judge(dns, _message(return_path="b@voids.example"))["message.spf"]
    assert spf.status is Status.FAIL and spf.details["result"] == "permerror" and "oid lookup" in spf.summary


def test_spf_at_exactly_ten_lookups_passes(dns: DnsServer) -> None:
    spf = _judge(dns, _message(return_path="b@ten.example"))["message.spf"]
    assert spf.status is Status.OK and spf.details["result"] == "pass" and spf.details["dns_lookups"] == 10


def test_spf_fails_for_an_ip_outside_the_record(dns: DnsServer) -> None:
    raw = _message().replace(b"[54.240.8.30]", b"[203.0.113.9]")
    spf = _judge(dns, raw)["message.spf"]
    assert spf.status is Status.FAIL and spf.details["result"] == "fail" and "203.0.113.9" in spf.summary


def test_received_chain_without_ip_is_an_error_with_its_reason(dns: DnsServer) -> None:
    raw = _message().replace(b" [54.240.8.30]", b"")
    spf = _judge(dns, raw)["message.spf"]
    assert spf.status is Status.ERROR and "no Received header names a public connecting IP" in spf.summary


# -- DMARC -----------------------------------------------------------------------------------------
def test_dmarc_relaxed_aligns_a_subdomain_strict_does_not(dns: DnsServer) -> None:
    relaxed = _judge(dns, _message(sender="no-reply@news.example.org"))["message.dmarc"]
    assert relaxed.status is Status.OK and "relaxed" in relaxed.summary
    raw = _message(
        sender="no-reply@news.strict.example", signing=(("strict.example", "sel", KEY),), return_path="b@strict.example"
    )
    strict = _judge(dns, raw)["message.dmarc"]
    assert strict.status is Status.FAIL and "strict" in strict.summary
    assert strict.details["record"]["location"] == "_dmarc.strict.example"  # the organizational domain's record


def test_dmarc_of_a_subdomain_is_the_organizational_domains_sp(dns: DnsServer) -> None:
    raw = _message(
        sender="no-reply@news.orgsp.example", signing=(("orgsp.example", "sel", KEY),), return_path="b@amazonses.com"
    )
    dmarc = _judge(dns, raw)["message.dmarc"]
    assert dmarc.status is Status.OK and "sp=reject of _dmarc.orgsp.example" in dmarc.summary
    record = dmarc.details["record"]
    assert (record["location"], record["policy"], record["policy_tag"]) == ("_dmarc.orgsp.example", "reject", "sp")
    own = _judge(dns, _message(sender="no-reply@orgsp.example", signing=(("orgsp.example", "sel", KEY),)))
    assert own["message.dmarc"].details["record"]["policy"] == "none"  # p= for the organizational domain itself


def test_dmarc_missing_record_fails(dns: DnsServer) -> None:
    raw = _message(sender="a@nodmarc.example", return_path="b@bounce.example.org")
    dmarc = _judge(dns, raw)["message.dmarc"]
    assert dmarc.status is Status.FAIL and "no DMARC record" in dmarc.summary


def test_one_lookup_per_run_counts_the_questions_it_sends(dns: DnsServer) -> None:
    lookup = Lookup(_params(dns))
    raw = _message()
    message.judge(parse(raw, "t.eml"), lookup.params, lookup)
    asked = lookup.asked
    assert asked == 4  # the DKIM key, the SPF of bounce.example.org and of amazonses.com, _dmarc.example.org
    message.judge(parse(raw, "t.eml"), lookup.params, lookup)
    assert lookup.asked == asked  # the second judgement is answered from the run's memo


# -- one-click unsubscribe -------------------------------------------------------------------------
ONE_CLICK = {
    "List-Unsubscribe": "<https://example.org/u/abc>, <mailto:u@example.org>",
    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
}


@pytest.mark.parametrize(
    "kind, headers, status",
    [
        ("transactional", None, Status.OK),
        ("subscribed", None, Status.FAIL),
        ("subscribed", {"List-Unsubscribe": "<mailto:u@example.org>"}, Status.FAIL),
        ("subscribed", {"List-Unsubscribe": "<https://example.org/u/abc>"}, Status.FAIL),
        ("subscribed", ONE_CLICK, Status.OK),
    ],
)
def test_one_click_rule_for_both_kinds(dns: DnsServer, kind: str, headers: dict | None, status: Status) -> None:
    raw = _message(headers=headers)
    result = _judge(dns, raw, message_kind=kind)["message.unsubscribe"]
    assert result.status is status, result.summary


# -- the receiver's verdicts -----------------------------------------------------------------------
def test_receiver_verdicts_are_shown_beside_ours_with_disagreement_explained(dns: DnsServer) -> None:
    raw = _message().replace(b"Hello.", b"Hello!")  # altered after the receiver checked it
    raw = (
        b"Authentication-Results: mx.google.com; dkim=pass header.i=@example.org header.s=sel; "
        b"spf=pass smtp.mailfrom=bounce.example.org; dmarc=pass header.from=example.org\r\n"
    ) + raw
    judgement = message.judge(parse(raw, "t.eml"), _params(dns))
    rows = {r["mechanism"]: r for r in message.verdict_rows(judgement)}
    assert rows["dkim"]["ours"] == "fail" and rows["dkim"]["receiver"] == "pass"
    assert "altered after the receiver checked it" in rows["dkim"]["note"]
    assert rows["spf"]["receiver"] == "pass" and rows["spf"]["note"] == ""
    assert rows["spam"]["receiver"] == "pass"


def test_requirements_checklist_states_each_line(dns: DnsServer) -> None:
    judgement = message.judge(parse(_message(), "t.eml"), _params(dns))
    rows = {r["requirement"]: r["state"] for r in message.requirements(judgement)}
    assert rows["SPF passes for the sending domain"] == "met"
    assert rows["One-click unsubscribe on subscribed mail (RFC 8058)"] == "met (transactional: exempt)"
    assert rows["Spam complaint rate under 0.3 % (Postmaster Tools)"] == "not measurable here"
    rated = {r["requirement"]: r["state"] for r in message.requirements(judgement, complaint_rate=0.004)}
    assert rated["Spam complaint rate under 0.3 % (Postmaster Tools)"].startswith("not met")


# -- bad input -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "content, reason",
    [
        (b"just some words, no headers at all\n", "does not start with a header line"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary"),
        (b"Subject: no sender\r\n\r\nbody\r\n", "no From header"),
        (b"", "empty"),
    ],
)
def test_not_a_message_is_one_clear_line(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "x.eml"
    path.write_bytes(content)
    with pytest.raises(MessageError, match=reason):
        read_file(path)


def test_truncated_and_8bit_mangled_bodies_fail_dkim_with_the_defect_named(dns: DnsServer) -> None:
    truncated = _message(text="Line one.\nLine two.\n" * 20)
    truncated = truncated[: len(truncated) - 40]
    assert "body hash mismatch" in _judge(dns, truncated)["message.dkim"].summary
    mangled = _message(text="Caf\u00e9 ol\u00e9\n")
    mangled = mangled.replace(b"=C3=A9", "\ufffd".encode()).replace(b"Caf\xc3\xa9", "Caf\ufffd".encode())
    dkim = _judge(dns, mangled)["message.dkim"]
    assert dkim.status is Status.FAIL and "body" in dkim.summary


def test_cli_on_a_saved_message_uses_dns_only_and_no_aws(dns: DnsServer, tmp_path: Path) -> None:
    path = tmp_path / "from-ticket.eml"
    path.write_bytes(_message())
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("AWS_", "SES_RUNBOOK_"))}
    env["AWS_ACCESS_KEY_ID"] = ""  # no credentials: any AWS call would fail
    proc = run_cli("mail-test", str(path), "-p", "dns_nameservers", f"127.0.0.1:{dns.port}", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert {c["id"]: c["status"] for c in report["checks"]} == {i: "ok" for i in message.IDS}
    assert report["run"]["aws_calls"]["total"] == 0 and report["run"]["message"]["source"] == str(path)
    bad = tmp_path / "notes.txt"
    bad.write_text("meeting notes, not a message\n")
    proc = run_cli("mail-test", str(bad), env=env)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "not a message" in proc.stderr
