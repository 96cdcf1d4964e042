"""DNS, SMTP, IAM and suppression checks against the sandbox: each failure scenario makes exactly
its own checks non-ok, tells the engineer the record to paste or the SMTP reply, and never lets a
secret into a report.

Each test gets the sandbox of its scenario from the ``sandbox`` fixture, at this file's as_of.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import socket
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

import ses_runbook.core.params
from ses_runbook.checks import Context, message, run, suite
from ses_runbook.checks import dns as dns_checks
from ses_runbook.checks import iam as iam_checks
from ses_runbook.checks import reputation as reputation_checks
from ses_runbook.checks import smtp as smtp_checks
from ses_runbook.core.aws import Aws
from ses_runbook.core.errors import DnsError
from ses_runbook.core.results import CheckResult, Report, Status
from ses_runbook.core.smtpcred import derive_sigv2_password, derive_smtp_password, password_kind
from ses_runbook.remediation import CAUSES, CONFIRMED, Facts, diagnose
from ses_runbook.runs import views
from ses_runbook.sandbox import mail
from ses_runbook.sandbox import scenario as scenario_mod
from ses_runbook.sources.mailauth.dns import Answer, dig_command
from ses_runbook.sources.message import parse
from support import SCENARIOS, Running, closed_port, run_cli

AS_OF = "2026-03-02T12:00:00Z"  # the IAM keys' ages and last uses below are counted from it
DOMAIN = "thephenom.app"
DNS_IDS = ["identity.mail_from", "dns.dkim", "dns.spf", "dns.dmarc"]
DNS_DRIFT = str(SCENARIOS / "dns-drift.yaml")
SUBDOMAIN_SENDER = str(SCENARIOS / "subdomain-sender.yaml")
SUBDOMAIN_IDENTITY = str(SCENARIOS / "subdomain-identity.yaml")


def on(*scenarios: str):
    """The test runs once on the sandbox of each scenario, at AS_OF."""
    return pytest.mark.parametrize(
        "sandbox", [(s, AS_OF) for s in scenarios], indirect=True, ids=[Path(s).stem for s in scenarios]
    )


def report_and_secrets(sandbox: Running) -> tuple[Report, dict[str, str]]:
    """Every check of the sandbox's scenario, and the secrets that were in play."""
    report = suite.check_all(sandbox.params)
    env = sandbox.box.env()
    secrets = {
        "smtp_password": env.get("SES_SMTP_PASSWORD", ""),
        "smtp_username": env.get("SES_SMTP_USERNAME", ""),
        **{f"secret:{k}": v["secret"] for k, v in sandbox.box.world.keys.items()},
        **{f"key:{k}": k for k in sandbox.box.world.keys},
    }
    return report, secrets


def run_checks(params: ses_runbook.core.params.Params, ids: list[str]) -> dict[str, Any]:
    return {r.id: r for r in run(Context(params, Aws(params)), ids=ids)}


# --------------------------------------------------------------------------- healthy


@on("healthy")
def test_healthy_passes_every_check(sandbox: Running) -> None:
    report, _ = report_and_secrets(sandbox)
    assert {c.id: c.status.value for c in report.checks if c.status is not Status.OK} == {}
    assert set(DNS_IDS + ["smtp.auth", "iam.smtp_users", "suppression.list"]) <= {c.id for c in report.checks}
    assert report.exit_code == 0


@on("healthy")
def test_healthy_details(sandbox: Running) -> None:
    checks = suite.check_all(sandbox.params).by_id()
    assert checks["dns.spf"].details["name"] == "mail.thephenom.app"
    assert checks["dns.spf"].details["dns_lookups"] == 1
    assert checks["dns.dmarc"].details["policy"] == "quarantine"
    assert checks["dns.dmarc"].details["alignment"]["dkim_aligned"] is True
    assert checks["dns.dmarc"].details["alignment"]["spf_aligned"] is True
    assert checks["identity.mail_from"].details["mx"] == ["10 feedback-smtp.us-east-1.amazonses.com"]
    assert [r["state"] for r in checks["dns.dkim"].details["records"]] == ["ok", "ok", "ok"]
    assert "records_to_add" not in checks["dns.dkim"].details
    assert checks["smtp.auth"].details["code"] == 235 and checks["smtp.auth"].details["tls"].startswith("TLS")
    assert checks["suppression.list"].details["total"] == 1


@on("healthy")
def test_iam_asks_once_per_user_key_and_policy(sandbox: Running) -> None:
    calls = suite.check_all(sandbox.params).run["aws_calls"]["by_operation"]
    iam = {op: n for op, n in calls.items() if op.startswith("iam.")}
    # users and their policies in one paged call; every user's keys from the credential report;
    # the services' key looked up by id for its owner
    assert iam == {
        "iam.GetAccountAuthorizationDetails": 1,
        "iam.GenerateCredentialReport": 1,
        "iam.GetCredentialReport": 1,
        "iam.GetAccessKeyLastUsed": 1,
    }
    assert "sts.GetCallerIdentity" not in calls  # the credential report names the account
    assert calls["sesv2.GetEmailIdentity"] == 1  # shared by identity.mail_from and the three DNS checks


@on("healthy")
def test_iam_rows_are_masked_and_serialisable(sandbox: Running) -> None:
    result = suite.check_all(sandbox.params).by_id()["iam.smtp_users"]
    rows = result.details["users"]
    assert [r["user"] for r in rows] == ["ses-smtp-nest", "ses-smtp-webmail", "api-mailer"]  # ci-deploy cannot send
    assert {r["age_days"] for r in rows} == {41, 12, 63}
    assert [r["key"] for r in rows] == [result.details["service_key"]["key"], "key 1", "key 1"]  # the report has no ids
    assert rows[0]["key"].startswith("****") and len(rows[0]["key"]) == 8
    assert result.details["credential_report_generated"].endswith("Z") and "up to 4 h old" in result.summary
    for row in rows:
        assert row["created"].endswith("Z") and row["last_used_service"] == "ses" and row["status"] == "Active"
    assert (
        json.loads(json.dumps(result.details)) == result.details
    )  # strings and numbers only: JSON keeps them as they are
    assert result.details["service_key"]["user"] == "ses-smtp-nest"


@on("healthy")
def test_missing_smtp_credentials_skip_naming_the_variable(sandbox: Running) -> None:
    os.environ.pop("SES_RUNBOOK_TEST_UNSET_USERNAME", None)
    params = sandbox.load(smtp_username_env="SES_RUNBOOK_TEST_UNSET_USERNAME")
    result = run_checks(params, ["smtp.auth"])["smtp.auth"]
    assert result.status is Status.SKIP
    assert "SES_RUNBOOK_TEST_UNSET_USERNAME" in result.summary
    assert "SES_SMTP_PASSWORD" not in result.summary  # that one is set


@on("healthy")
def test_smtp_tls_verification_failure_names_the_host(sandbox: Running, tmp_path: Path) -> None:
    import trustme

    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    result = run_checks(sandbox.load(smtp_tls_ca_file=str(other_ca)), ["smtp.auth"])["smtp.auth"]
    assert result.status is Status.FAIL
    assert "TLS certificate of 127.0.0.1 could not be verified" in result.summary


@on("healthy")
def test_smtp_temporary_failure_warns(sandbox: Running) -> None:
    sandbox.box.smtp.refuse_auth_with = (454, "Temporary authentication failure")
    result = run_checks(sandbox.params, ["smtp.auth"])["smtp.auth"]
    assert result.status is Status.WARN
    assert result.details["code"] == 454 and "454 Temporary authentication failure" in result.summary


@on("healthy")
def test_smtp_connection_refused_and_timeout_are_errors(sandbox: Running) -> None:
    params = sandbox.load(connect_timeout_s=1.0)
    with closed_port() as refusing, socket.socket() as silent:  # accepts connections (backlog) but never says hello
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        silent_port = silent.getsockname()[1]
        refused = run_checks(params.model_copy(update={"smtp_port": refusing}), ["smtp.auth"])["smtp.auth"]
        started = time.monotonic()
        hung = run_checks(params.model_copy(update={"smtp_port": silent_port}), ["smtp.auth"])["smtp.auth"]
        elapsed = time.monotonic() - started
    assert refused.status is Status.ERROR
    assert f"cannot connect to 127.0.0.1:{refusing}: connection refused" == refused.summary
    assert hung.status is Status.ERROR
    assert f"127.0.0.1:{silent_port} did not answer within 1 s" in hung.summary
    assert elapsed < 5


@on("healthy")
def test_dns_server_that_never_answers_is_an_error_within_the_timeout(sandbox: Running) -> None:
    def asked(sock: socket.socket) -> int:
        """Queries that reached the silent server since the last look (counted, not timed: load cannot change it)."""
        sock.setblocking(False)
        count = 0
        while True:
            try:
                sock.recvfrom(4096)
            except BlockingIOError:
                return count
            count += 1

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as mute:
        mute.bind(("127.0.0.1", 0))  # bound, never answering: queries wait in its buffer
        port = mute.getsockname()[1]
        params = sandbox.load(dns_nameservers=[f"127.0.0.1:{port}"], dns_timeout_s=1.0)
        first = run_checks(params, ["dns.dkim"])["dns.dkim"]
        for_one = asked(mute)
        results = run_checks(params, DNS_IDS)
        for_four = asked(mute)
    assert first.status is Status.ERROR
    assert f"no answer from 127.0.0.1:{port} within 1 s" in first.summary
    assert {r.id: r.status for r in results.values()} == {i: Status.ERROR for i in DNS_IDS}
    assert 1 <= for_one and for_four == for_one  # one timeout for the run, not one per question


@on("healthy")
def test_key_age_and_disuse_warn_and_unknown_dependency_fails(sandbox: Running) -> None:
    later = sandbox.load(as_of="2026-05-01T12:00:00Z")  # 60 days on: keys aged and unused
    aged = run_checks(later, ["iam.smtp_users"])["iam.smtp_users"]
    assert aged.status is Status.WARN
    assert "older than 90 days" in aged.summary and "unused for 60 days" in aged.summary
    missing = run_checks(sandbox.load(smtp_users=["ses-smtp-gone"]), ["iam.smtp_users"])["iam.smtp_users"]
    assert missing.status is Status.FAIL
    assert "IAM user ses-smtp-gone (smtp_users) does not exist" in missing.summary


@on(DNS_DRIFT)
def test_wrong_dkim_target_spf_over_ten_lookups_and_dmarc_p_none(sandbox: Running) -> None:
    report = suite.check_all(sandbox.params)
    checks = report.by_id()
    assert {c.id: c.status.value for c in report.checks if c.status is not Status.OK} == {
        "dns.dkim": "fail",
        "dns.spf": "fail",
        "dns.dmarc": "warn",
    }  # >10 lookups: receivers get a permerror
    token = scenario_mod.load(DNS_DRIFT).dkim_tokens(DOMAIN)[0]
    assert f"point elsewhere ({token}._domainkey.{DOMAIN} -> {token}.dkim.example.net)" in checks["dns.dkim"].summary
    assert checks["dns.dkim"].details["zone_lines"] == [
        f"{token}._domainkey.{DOMAIN}. 300 IN CNAME {token}.dkim.amazonses.com."
    ]
    assert "11 DNS lookups (limit 10)" in checks["dns.spf"].summary and "permerror" in checks["dns.spf"].summary
    assert (
        checks["dns.dmarc"].details["policy"] == "none" and "p=quarantine" in checks["dns.dmarc"].details["suggested"]
    )


# --------------------------------------------------------------------------- failure scenarios

EXPECTED = {
    "dkim-cname-missing": {"dns.dkim": "fail"},
    "spf-missing": {"dns.spf": "fail"},
    "dmarc-missing": {"dns.dmarc": "fail"},
    "mail-from-mx-missing": {"identity.mail_from": "fail"},
    "smtp-credentials-rotated": {"smtp.auth": "fail"},
    "smtp-key-inactive": {"smtp.auth": "fail", "iam.smtp_users": "fail"},
    "smtp-password-is-iam-secret": {"smtp.auth": "fail"},
    "smtp-password-sigv2": {"smtp.auth": "fail"},
    "smtp-password-other-region": {"smtp.auth": "fail"},
    "smtp-user-may-not-send": {"smtp.auth": "fail", "iam.smtp_users": "fail"},
    "suppression-growth": {"suppression.list": "warn"},
    "send-rate-throttled": {"quota.send_rate": "fail"},
    "config-set-destination-disabled": {"feedback.event_destinations": "fail"},
    "alarm-on-bounce-count": {"feedback.alarms": "warn"},
    "domain-blocklisted": {"reputation.blocklists": "fail"},
}


@on("domain-blocklisted")
def test_blocklists_listed_refused_and_a_silent_list(sandbox: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    result = suite.check_all(sandbox.params, ids=["reputation.blocklists"]).by_id()["reputation.blocklists"]
    states = {(r["zone"], r["item"]): r["state"] for r in result.details["results"]}
    assert states[("dbl.spamhaus.org", "thephenom.app")] == "listed"
    assert states[("bl.spamcop.net", "198.51.100.23")] == "listed"
    assert states[("zen.spamhaus.org", "198.51.100.23")] == "refused"  # 127.255.255.254: never a listing
    assert states[("multi.surbl.org", "mail.thephenom.app")] == "not listed"
    assert result.status is Status.FAIL and "not a listing" in result.summary
    assert "198.51.100.23 on zen.spamhaus.org" not in result.summary
    # a list that does not answer is that list's error; the others still answer
    real = reputation_checks.Lookup.query

    def silent(self, name: str, rtype: str):
        if name.endswith("bl.spamcop.net"):
            raise DnsError(f"DNS: no answer within 3 s for {name} {rtype}")
        return real(self, name, rtype)

    monkeypatch.setattr(reputation_checks.Lookup, "query", silent)
    again = suite.check_all(sandbox.params, ids=["reputation.blocklists"]).by_id()["reputation.blocklists"]
    states = {(r["zone"], r["item"]): r["state"] for r in again.details["results"]}
    assert states[("bl.spamcop.net", "198.51.100.23")] == "error"
    assert states[("dbl.spamhaus.org", "thephenom.app")] == "listed"
    assert states[("b.barracudacentral.org", "198.51.100.23")] == "not listed"
    assert "no answer from bl.spamcop.net" in again.summary


@on("alarm-on-bounce-count")
def test_alarm_lint_names_the_count_alarm_and_the_percent_threshold(sandbox: Running) -> None:
    result = suite.check_all(sandbox.params, ids=["feedback.alarms"]).by_id()["feedback.alarms"]
    problems = {r["alarm"]: r["problem"] for r in result.details["alarms"]}
    assert "is on the Bounce count, not Reputation.BounceRate" in problems["ses-bounce-rate"]
    assert "threshold 5 is 500%" in problems["ses-complaint-rate"]
    assert result.status is Status.WARN


@on(*EXPECTED)
def test_each_scenario_breaks_exactly_its_checks(sandbox: Running) -> None:
    report = suite.check_all(sandbox.params)
    expected = EXPECTED[sandbox.scenario]
    assert {c.id: c.status.value for c in report.checks if c.status is not Status.OK} == expected
    for check_id in expected:
        assert report.by_id()[check_id].remediation, f"{check_id} names no remediation"


@on("dkim-cname-missing")
def test_dkim_cname_missing_prints_the_exact_record(sandbox: Running) -> None:
    report = suite.check_all(sandbox.params)
    token = scenario_mod.load("dkim-cname-missing").dkim_tokens(DOMAIN)[1]
    result = report.by_id()["dns.dkim"]
    line = f"{token}._domainkey.{DOMAIN}. 300 IN CNAME {token}.dkim.amazonses.com."
    assert result.details["zone_lines"] == [line]
    assert result.details["records_to_add"] == [
        {"name": f"{token}._domainkey.{DOMAIN}", "type": "CNAME", "value": f"{token}.dkim.amazonses.com", "ttl": 300}
    ]
    assert line in result.summary
    assert "1 of 3 DKIM CNAMEs missing" in result.summary
    assert [r["state"] for r in result.details["records"]] == ["ok", "missing", "ok"]
    assert report.by_id()["identity.dkim"].status is Status.OK  # the API has not noticed yet


@on("spf-missing")
def test_spf_record_to_add(sandbox: Running) -> None:
    spf = suite.check_all(sandbox.params).by_id()["dns.spf"]
    assert spf.details["zone_lines"] == ['mail.thephenom.app. 300 IN TXT "v=spf1 include:amazonses.com ~all"']
    assert spf.details["name"] == "mail.thephenom.app"  # the MAIL FROM domain, not the apex
    assert spf.details["zone_lines"][0] in spf.summary


@on("dmarc-missing")
def test_dmarc_record_to_add(sandbox: Running) -> None:
    dmarc = suite.check_all(sandbox.params).by_id()["dns.dmarc"]
    assert dmarc.details["zone_lines"] == [
        '_dmarc.thephenom.app. 300 IN TXT "v=DMARC1; p=quarantine; adkim=r; aspf=r; rua=mailto:dmarc-reports@thephenom.app"'
    ]
    assert "NXDOMAIN" in dmarc.summary


@on("mail-from-mx-missing")
def test_mail_from_mx_record_to_add(sandbox: Running) -> None:
    mx = suite.check_all(sandbox.params).by_id()["identity.mail_from"]
    assert mx.details["zone_lines"] == ["mail.thephenom.app. 300 IN MX 10 feedback-smtp.us-east-1.amazonses.com."]
    assert mx.details["records_to_add"] == [
        {"name": "mail.thephenom.app", "type": "MX", "value": "10 feedback-smtp.us-east-1.amazonses.com", "ttl": 300}
    ]
    assert mx.details["MailFromDomainStatus"] == "FAILED"
    assert "USE_DEFAULT_VALUE" in mx.summary


@on("smtp-credentials-rotated")
def test_rotated_credentials_report_535(sandbox: Running) -> None:
    result = suite.check_all(sandbox.params).by_id()["smtp.auth"]
    assert result.status is Status.FAIL
    assert result.details["code"] == 535
    assert result.details["reply"] == "Authentication Credentials Invalid"
    assert "535 Authentication Credentials Invalid" in result.summary
    assert smtp_checks.INVALID_TEXT in result.summary
    assert any("does not exist in this account" in h for h in result.details["diagnosis"])
    assert result.remediation == "smtp-auth-failure"


@on("smtp-key-inactive")
def test_inactive_key_is_named(sandbox: Running) -> None:
    report = suite.check_all(sandbox.params)
    assert any("is Inactive" in h for h in report.by_id()["smtp.auth"].details["diagnosis"])
    iam = report.by_id()["iam.smtp_users"]
    assert "ses-smtp-nest (used by the services via SES_SMTP_USERNAME) has no active access key" in iam.summary
    row = next(r for r in iam.details["users"] if r["user"] == "ses-smtp-nest")
    assert row["status"] == "Inactive" and row["depended_on"] == "SES_SMTP_USERNAME"


@on("healthy", "smtp-credentials-rotated", "smtp-key-inactive", "smtp-password-is-iam-secret")
def test_no_secret_in_the_report(sandbox: Running) -> None:
    report, secrets = report_and_secrets(sandbox)
    text = report.to_json()
    assert secrets["smtp_password"] and secrets["smtp_username"]
    for label, value in secrets.items():
        assert value not in text, f"{label} leaked into the report"


@on("suppression-growth")
def test_suppression_growth_counts(sandbox: Running) -> None:
    result = suite.check_all(sandbox.params).by_id()["suppression.list"]
    assert result.details["total"] == 41
    assert result.details["added_last_7_days"] == 40
    assert result.details["by_reason"] == {"BOUNCE": 37, "COMPLAINT": 4}
    assert len(result.details["newest"]) == 10 and result.details["newest"][0]["email"] == "imported-00@example.net"
    assert result.remediation == "suppression-list-growth"


# --------------------------------------------------------------------------- units


def _aws_smtp_password(secret: str, region: str) -> str:
    """AWS's documented steps, written out again here on purpose (not imported)."""

    def sign(key: bytes, msg: str) -> bytes:
        return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()

    k_date = sign(("AWS4" + secret).encode("utf-8"), "11111111")
    k_region = sign(k_date, region)
    k_service = sign(k_region, "ses")
    k_terminal = sign(k_service, "aws4_request")
    k_message = sign(k_terminal, "SendRawEmail")
    return base64.b64encode(bytes([0x04]) + k_message).decode("utf-8")


def test_smtp_password_derivation_matches_aws_algorithm() -> None:
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    # Computed with openssl's HMAC (not Python) from the same documented steps.
    assert _aws_smtp_password(secret, "us-east-1") == "BLBM/9hSUELfq8Gw+rU1YcBjkOxGbhT2XG763xVLGWL9"
    for region in ("us-east-1", "eu-west-1", "ap-southeast-2"):
        assert derive_smtp_password(secret, region) == _aws_smtp_password(secret, region)
    assert derive_smtp_password(secret, "us-east-1") != derive_smtp_password(secret, "eu-west-1")
    assert password_kind(derive_smtp_password(secret, "us-east-1")) == "smtp-v4"
    assert password_kind(secret) == "iam-secret"
    assert password_kind(derive_sigv2_password(secret)) == "smtp-v2"
    assert password_kind("hunter2") == "unknown"


# scenario -> the password's form smtp.auth reports after the 535, the key's state, and the hint naming it
PASSWORD_FORMS = {
    "smtp-password-is-iam-secret": ("iam-secret", "Active", "never valid for SMTP"),
    "smtp-password-sigv2": ("smtp-v2", "Active", "retired SigV2 form"),
    "smtp-password-other-region": ("smtp-v4", "Active", "derived for another region than us-east-1"),
    "smtp-credentials-rotated": ("smtp-v4", "missing", "does not exist in this account"),
    "smtp-user-may-not-send": ("smtp-v4", "Active", "may not call ses:SendRawEmail on the sending identity"),
}


@on(*PASSWORD_FORMS)
def test_535_names_the_password_form_without_revealing_it(sandbox: Running) -> None:
    report, secrets = report_and_secrets(sandbox)
    auth = report.by_id()["smtp.auth"]
    kind, key_status, hint = PASSWORD_FORMS[sandbox.scenario]
    assert (auth.status, auth.details["code"]) == (Status.FAIL, 535)
    assert (auth.details["password_kind"], auth.details["key_status"]) == (kind, key_status)
    assert hint in auth.summary
    password = secrets["smtp_password"]
    text = report.to_json()
    # not the password, nor any 8 characters of it
    assert not [password[i : i + 8] for i in range(len(password) - 7) if password[i : i + 8] in text]


def test_policy_documents_url_encoded_wildcards_and_deny() -> None:
    from ses_runbook.sources import ses

    encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22ses%3A*%22%2C%22Resource%22%3A%22*%22%7D%5D%7D"
    assert iam_checks.allows(ses.policy_document(encoded))
    assert iam_checks.allows({"Statement": {"Effect": "Allow", "Action": ["ses:SendRawEmail"], "Resource": "*"}})
    assert iam_checks.allows({"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]})
    assert not iam_checks.allows({"Statement": [{"Effect": "Allow", "Action": "ses:Get*", "Resource": "*"}]})
    assert not iam_checks.allows(
        {
            "Statement": [
                {"Effect": "Allow", "Action": "*", "Resource": "*"},
                {"Effect": "Deny", "Action": "ses:Send*", "Resource": "*"},
            ]
        }
    )


def test_zone_lines_and_dkim_targets() -> None:
    long_value = "v=spf1 " + " ".join(f"ip4:192.0.2.{i}" for i in range(40)) + " include:amazonses.com ~all"
    line = dns_checks.zone_line(dns_checks.record("example.org", "TXT", long_value))
    assert line.startswith('example.org. 300 IN TXT "v=spf1 ') and line.count('" "') == len(long_value) // 255
    assert (
        dns_checks.zone_line(dns_checks.record("_dmarc.example.org", "TXT", 'a"b'))
        == '_dmarc.example.org. 300 IN TXT "a\\"b"'
    )
    assert dns_checks.dkim_target("Abc", "amazonses.com") == "abc.dkim.amazonses.com"
    assert dns_checks.dkim_target("abc", "dkim.amazonses.com") == "abc.dkim.amazonses.com"
    assert dns_checks.dkim_target("abc", "dkim.ap-south-2.amazonses.com.") == "abc.dkim.ap-south-2.amazonses.com"
    assert (
        dns_checks._with_ses_include("v=spf1 include:_spf.google.com ~all")
        == "v=spf1 include:_spf.google.com include:amazonses.com ~all"
    )


# --------------------------------------------------------------------------- CLI end to end


def _cli(scenario: str) -> tuple[int, dict[str, Any]]:
    proc = run_cli("check", f"--sandbox={scenario}", "--json", timeout=180)
    return proc.returncode, json.loads(proc.stdout)


def test_cli_dkim_cname_missing() -> None:
    code, data = _cli("dkim-cname-missing")
    token = scenario_mod.load("dkim-cname-missing").dkim_tokens(DOMAIN)[1]
    checks = {c["id"]: c for c in data["checks"]}
    assert code == 1 and data["worst"] == "fail"
    assert checks["dns.dkim"]["status"] == "fail"
    assert f"{token}._domainkey.{DOMAIN}" in checks["dns.dkim"]["summary"]
    assert checks["dns.dkim"]["details"]["zone_lines"] == [
        f"{token}._domainkey.{DOMAIN}. 300 IN CNAME {token}.dkim.amazonses.com."
    ]


def test_cli_smtp_credentials_rotated() -> None:
    code, data = _cli("smtp-credentials-rotated")
    checks = {c["id"]: c for c in data["checks"]}
    assert code == 1
    assert checks["smtp.auth"]["status"] == "fail" and checks["smtp.auth"]["details"]["code"] == 535
    assert "535" in checks["smtp.auth"]["summary"]


# --------------------------------------------------------------------------- the DNS checks and mail-test agree


def _as_ses_sends(sandbox: Running, sender: str) -> bytes:
    """The message SES builds for ``sender`` under the verified thephenom.app, as a mailbox receives it:
    signed d=thephenom.app (Easy DKIM, the sandbox's published key) and d=amazonses.com, Return-Path
    on the custom MAIL FROM domain, delivered from an address inside amazonses.com's SPF."""
    key = mail.keypair("sandbox")[0]
    token = sandbox.box.scenario.dkim_tokens(DOMAIN)[0]
    when = datetime(2026, 3, 2, tzinfo=timezone.utc)
    raw = mail.compose(sender, "user@example.net", "Your receipt", "Hello.\n", "<1@email.amazonses.com>", when)
    return mail.ses_deliver(
        raw,
        signing=[("amazonses.com", mail.SES_SELECTOR, key), (DOMAIN, token, key)],
        return_path="0100-1@mail.thephenom.app",
        received_by="mx.example.net",
        when=when,
    )


@on(SUBDOMAIN_SENDER)
@pytest.mark.parametrize(
    "sender, location, tag, policy, verdict",
    [
        # no record of its own: the organizational domain's sp=reject, not its p=none; relaxed: aligned
        ("no-reply@news.thephenom.app", "_dmarc.thephenom.app", "sp", "reject", "pass"),
        # its own strict record: d=thephenom.app and MAIL FROM mail.thephenom.app are not the same name
        ("no-reply@strict.thephenom.app", "_dmarc.strict.thephenom.app", "p", "reject", "fail"),
    ],
)
def test_subdomain_sender_is_covered_and_dns_dmarc_and_mail_test_agree(
    sandbox: Running, sender: str, location: str, tag: str, policy: str, verdict: str
) -> None:
    params = sandbox.load(sender=sender)
    checks = run_checks(params, ["identity.verification", "dns.dmarc"])
    covered = checks["identity.verification"]
    assert covered.status is Status.OK, covered.summary
    assert f"{sender} verified through the domain thephenom.app" in covered.summary
    predicted = checks["dns.dmarc"]
    # an enforcing policy governs the sender: it passes, or every message of it is rejected
    assert predicted.status is (Status.OK if verdict == "pass" else Status.FAIL), predicted.summary
    if verdict == "fail":
        assert predicted.remediation == "emails-going-to-spam"
        assert predicted.summary.endswith(f"mail from {sender} fails DMARC, and receivers reject it")
    assert (predicted.details["name"], predicted.details["policy"]) == (location, policy)
    assert f"{tag}={policy}" in predicted.summary
    alignment = predicted.details["alignment"]
    assert alignment["from_domain"] == sender.partition("@")[2]
    assert (alignment["dkim_aligned"] or alignment["spf_aligned"]) is (verdict == "pass")

    judged = message.judge(parse(_as_ses_sends(sandbox, sender), "ses.eml"), params).by_id()
    measured = judged["message.dmarc"]
    assert (measured.details["record"]["location"], measured.details["record"]["policy"]) == (location, policy)
    assert f"{tag}={policy}" in measured.summary
    assert measured.status is (Status.OK if verdict == "pass" else Status.FAIL), measured.summary
    assert bool(measured.details["dkim_aligned"]) is alignment["dkim_aligned"]
    assert measured.details["spf_aligned"] is alignment["spf_aligned"]
    assert judged["message.dkim"].details["signatures"][0]["result"] == "pass"
    spf = judged["message.spf"]
    assert spf.details["result"] == "pass" and spf.details["dns_lookups"] == 10  # the limit, not over it


@on(SUBDOMAIN_SENDER)
def test_spf_at_exactly_ten_lookups_is_ok(sandbox: Running) -> None:
    result = run_checks(sandbox.params, ["dns.spf"])["dns.spf"]
    assert result.status is Status.OK, result.summary
    assert result.details["dns_lookups"] == 10 and "10/10 DNS lookups" in result.summary


class _Zone:
    """A fake of the run's ``Lookup`` for the DNS checks without a sandbox: fixed answers, NXDOMAIN else."""

    label = "the test zone"

    def __init__(self, records: dict[tuple[str, str], list[str]]) -> None:
        self.records = records

    def query(self, name: str, rtype: str) -> Answer:
        key = (name.lower().rstrip("."), rtype.upper())
        exists = any(n == key[0] for n, _ in self.records)
        return Answer(key[0], key[1], list(self.records.get(key, [])), "NOERROR" if exists else "NXDOMAIN")


def test_spf_authorises_ses_through_a_nested_include() -> None:
    ctx = Context(ses_runbook.core.params.load(overrides={}), None)  # type: ignore[arg-type]  # no AWS asked
    ctx.cache["domain_identity"] = {
        "MailFromAttributes": {"MailFromDomain": "mail.thephenom.app", "MailFromDomainStatus": "SUCCESS"}
    }
    ctx.cache["dns"] = _Zone(
        {
            ("mail.thephenom.app", "TXT"): ["v=spf1 include:_spf.thephenom.app ~all"],
            ("_spf.thephenom.app", "TXT"): ["v=spf1 include:amazonses.com -all"],
            ("amazonses.com", "TXT"): ["v=spf1 ip4:54.240.0.0/18 -all"],
            ("mail.thephenom.app", "MX"): ["10 feedback-smtp.us-east-1.amazonses.com"],
        }
    )
    result = dns_checks.spf(ctx)
    assert result.status is Status.OK, result.summary
    assert result.details["dns_lookups"] == 2 and result.details["ses_included_via"] == ["_spf.thephenom.app"]
    assert "SPF includes amazonses.com" in dns_checks.mail_from(ctx).summary


class _NoIdentity:
    """An account where the domain is no SES identity: GetEmailIdentity answers NotFoundException."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    def call(self, service: str, operation: str, **kwargs: Any) -> dict[str, Any]:
        self.asked.append((service, operation))
        raise ClientError({"Error": {"Code": "NotFoundException", "Message": "no such identity"}}, operation)


def test_whether_the_domain_is_an_identity_is_asked_once_for_the_identity_and_dns_checks() -> None:
    aws = _NoIdentity()
    ctx = Context(ses_runbook.core.params.load(overrides={}), aws)  # type: ignore[arg-type]  # answers one call
    results = {r.id: r for r in run(ctx, ["identity.dkim", "identity.mail_from", "dns.dkim"])}
    assert aws.asked == [("sesv2", "GetEmailIdentity")]
    assert {r.status for r in results.values()} == {Status.FAIL}, results
    assert "is not an SES identity, so nothing is DKIM-signed" in results["identity.dkim"].summary
    assert "is not an SES identity in us-east-1" in results["dns.dkim"].summary


@on(SUBDOMAIN_IDENTITY)
def test_dns_dmarc_predicts_the_signature_of_the_identity_that_covers_the_sender(sandbox: Running) -> None:
    # news.thephenom.app is verified as an identity of its own: SES signs its mail d=news.thephenom.app
    # (which its strict record accepts) and, without a custom MAIL FROM of its own, bounces via amazonses.com
    own = run_checks(sandbox.load(sender="no-reply@news.thephenom.app"), ["dns.dmarc"])["dns.dmarc"]
    assert own.status is Status.OK and (own.details["name"], own.details["adkim"]) == ("_dmarc.news.thephenom.app", "s")
    assert own.details["alignment"] == {
        "from_domain": "news.thephenom.app",
        "signing_identity": "news.thephenom.app",
        "dkim_domain": "news.thephenom.app",
        "dkim_aligned": True,
        "mail_from": "amazonses.com",
        "spf_aligned": False,
    }
    assert "DKIM aligned (d=news.thephenom.app), SPF not aligned (MAIL FROM amazonses.com)" in own.summary
    # a level further down the subdomain identity still signs, and strict alignment wants the very name
    deeper = run_checks(sandbox.load(sender="no-reply@eu.news.thephenom.app"), ["dns.dmarc"])["dns.dmarc"]
    assert deeper.details["alignment"]["dkim_domain"] == "news.thephenom.app"
    assert "DKIM NOT aligned (d=news.thephenom.app)" in deeper.summary
    # the parent's own sender: its own key and its custom MAIL FROM, as before
    parent = run_checks(sandbox.params, ["dns.dmarc"])["dns.dmarc"].details["alignment"]
    assert (parent["dkim_domain"], parent["dkim_aligned"], parent["mail_from"]) == (
        "thephenom.app",
        True,
        "mail.thephenom.app",
    )


@on(SUBDOMAIN_SENDER)
def test_dmarc_p_none_is_fixed_by_replacing_the_record_not_by_adding_a_second(sandbox: Running) -> None:
    # thephenom.app's own record is p=none; sp=reject: the fix edits that record (a second record at
    # the name would leave no policy at all, RFC 7489 6.6.3) and keeps its sp=
    params = sandbox.params
    warned = run_checks(params, ["dns.dmarc"])["dns.dmarc"]
    assert warned.status is Status.WARN and "zone_lines" not in warned.details
    findings = {f.cause.id: f for f in diagnose(params, "emails-going-to-spam").symptoms[0].findings}
    dmarc = findings["dmarc-missing"]
    assert dmarc.verdict == CONFIRMED
    replace = dmarc.steps[0]
    assert replace.action.startswith("Replace the DMARC record at _dmarc.thephenom.app (v=DMARC1; p=none; sp=reject;")
    assert replace.command == warned.details["suggested"]
    assert replace.command.startswith('_dmarc.thephenom.app. 300 IN TXT "v=DMARC1; p=quarantine; sp=reject;')
    assert not any(step.action.startswith("Add") for step in dmarc.steps)
    digs = {c for step in dmarc.steps for c in (step.command, step.verify) if c and c.startswith("dig ")}
    assert digs == {dig_command(params, "TXT", "_dmarc.thephenom.app")} and "@127.0.0.1 -p " in digs.pop()


def test_catalogue_digs_ask_the_runs_nameservers_and_dkim_targets_follow_the_signing_zone() -> None:
    params = ses_runbook.core.params.load(overrides={"dns_nameservers": ["192.0.2.53:5353"]})
    zone = "dkim.ap-south-2.amazonses.com"
    details = {"identity": DOMAIN, "DkimTokens": ["abc"], "SigningHostedZone": zone}
    dkim = CheckResult("identity.dkim", "DKIM", Status.FAIL, "", details)
    digs = []
    for cause in CAUSES.values():
        for step in cause.steps(params, {"identity.dkim": dkim}, Facts()):
            text = " ".join(t for t in (step.action, step.command, step.expect, step.verify) if t)
            assert "1.1.1.1" not in text and "dkim.amazonses.com" not in text, (cause.id, text)
            digs += [c for c in (step.command, step.verify) if c and c.startswith("dig ")]
    public = [c for c in digs if c.endswith("@8.8.8.8")]  # the one step that asks what public resolvers see
    assert len(public) == 1 and len(digs) > 8
    assert all(c.endswith(" @192.0.2.53 -p 5353") for c in digs if c not in public), digs
    assert views.dkim_token_rows(dkim) == [
        {"token": "abc", "type": "CNAME", "name": f"abc._domainkey.{DOMAIN}", "value": f"abc.{zone}"}
    ]
