"""DNS, SMTP, IAM and suppression checks against the sandbox: each failure scenario makes exactly
its own checks non-ok, tells the engineer the record to paste or the SMTP reply, and never lets a
secret into a report.

Only one sandbox runs per process: every test starts and stops its own (or reads a report that
was produced by one that is already stopped).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import ses_runbook.core.params
from conftest import closed_port
from ses_runbook.checks import Context, run
from ses_runbook.checks import dns as dns_checks
from ses_runbook.checks import iam as iam_checks
from ses_runbook.checks import smtp as smtp_checks
from ses_runbook.checks import suite as health
from ses_runbook.core.aws import Aws
from ses_runbook.core.results import Report, Status
from ses_runbook.core.smtpcred import derive_smtp_password
from ses_runbook.sandbox import scenario as scenario_mod
from ses_runbook.sandbox.server import Sandbox, restore_env

ROOT = Path(__file__).resolve().parents[1]
CLI = [
    sys.executable,
    "-m",
    "ses_runbook.frontends.cli",
]  # the interpreter running the tests, wherever its environment lives
AS_OF = "2026-03-02T12:00:00Z"
DOMAIN = "thephenom.app"
DNS_IDS = ["identity.mail_from", "dns.dkim", "dns.spf", "dns.dmarc"]


class Boxes:
    """One sandbox per scenario, at most one alive (moto is per process): reused while consecutive
    tests ask for the same scenario, stopped (and the environment restored) before the next starts."""

    def __init__(self) -> None:
        self.name: str | None = None
        self.box: Sandbox | None = None
        self._previous: dict[str, str | None] = {}
        self.reports: dict[str, tuple[Report, dict[str, str]]] = {}

    def get(self, name: str = "healthy") -> Sandbox:
        if self.name != name:
            self.close()
            box = Sandbox(name, as_of=AS_OF).start()
            self.box, self.name = box, name
            self._previous = box.apply_env()
        assert self.box is not None
        return self.box

    def params(self, name: str = "healthy", **overrides: Any) -> ses_runbook.core.params.Params:
        """Parameters pointing at the scenario's sandbox (validated like a user's)."""
        return ses_runbook.core.params.load(overrides={**self.get(name).params(), "as_of": AS_OF, **overrides})

    def report(self, name: str) -> tuple[Report, dict[str, str]]:
        """Every check of a scenario, run once, and the secrets that were in play."""
        if name not in self.reports:
            box = self.get(name)
            report = health.check_all(self.params(name))
            env = box.env()
            secrets = {
                "smtp_password": env.get("SES_SMTP_PASSWORD", ""),
                "smtp_username": env.get("SES_SMTP_USERNAME", ""),
                **{f"secret:{k}": v["secret"] for k, v in box.world.keys.items()},
                **{f"key:{k}": k for k in box.world.keys},
            }
            self.reports[name] = (report, secrets)
        return self.reports[name]

    def close(self) -> None:
        if self.box is not None:
            try:
                restore_env(self._previous)
            finally:
                self.box.stop()
                self.box, self.name, self._previous = None, None, {}


@pytest.fixture(scope="module")
def boxes() -> Iterator[Boxes]:
    manager = Boxes()
    try:
        yield manager
    finally:
        manager.close()


def run_checks(params: ses_runbook.core.params.Params, ids: list[str]) -> dict[str, Any]:
    return {r.id: r for r in run(Context(params, Aws(params)), ids=ids)}


# --------------------------------------------------------------------------- healthy


def test_healthy_passes_every_check(boxes: Boxes) -> None:
    report, _ = boxes.report("healthy")
    assert {c.id: c.status.value for c in report.checks if c.status is not Status.OK} == {}
    assert set(DNS_IDS + ["smtp.auth", "iam.smtp_users", "suppression.list"]) <= {c.id for c in report.checks}
    assert report.exit_code == 0


def test_healthy_details(boxes: Boxes) -> None:
    checks = boxes.report("healthy")[0].by_id()
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


def test_iam_asks_once_per_user_key_and_policy(boxes: Boxes) -> None:
    calls = boxes.report("healthy")[0].run["aws_calls"]["by_operation"]
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


def test_iam_rows_are_masked_and_serialisable(boxes: Boxes) -> None:
    result = boxes.report("healthy")[0].by_id()["iam.smtp_users"]
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


def test_missing_smtp_credentials_skip_naming_the_variable(boxes: Boxes) -> None:
    os.environ.pop("SES_RUNBOOK_TEST_UNSET_USERNAME", None)
    params = boxes.params(smtp_username_env="SES_RUNBOOK_TEST_UNSET_USERNAME")
    result = run_checks(params, ["smtp.auth"])["smtp.auth"]
    assert result.status is Status.SKIP
    assert "SES_RUNBOOK_TEST_UNSET_USERNAME" in result.summary
    assert "SES_SMTP_PASSWORD" not in result.summary  # that one is set


def test_smtp_tls_verification_failure_names_the_host(boxes: Boxes, tmp_path: Path) -> None:
    import trustme

    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    result = run_checks(boxes.params(smtp_tls_ca_file=str(other_ca)), ["smtp.auth"])["smtp.auth"]
    assert result.status is Status.FAIL
    assert "TLS certificate of 127.0.0.1 could not be verified" in result.summary


def test_smtp_temporary_failure_warns(boxes: Boxes) -> None:
    box = boxes.get("healthy")
    box.smtp.refuse_auth_with = (454, "Temporary authentication failure")
    try:
        result = run_checks(boxes.params(), ["smtp.auth"])["smtp.auth"]
    finally:
        box.smtp.refuse_auth_with = None
    assert result.status is Status.WARN
    assert result.details["code"] == 454 and "454 Temporary authentication failure" in result.summary


def test_smtp_connection_refused_and_timeout_are_errors(boxes: Boxes) -> None:
    params = boxes.params(connect_timeout_s=1.0)
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


def test_dns_server_that_never_answers_is_an_error_within_the_timeout(boxes: Boxes) -> None:
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
        params = boxes.params(dns_nameservers=[f"127.0.0.1:{port}"], dns_timeout_s=1.0)
        first = run_checks(params, ["dns.dkim"])["dns.dkim"]
        for_one = asked(mute)
        results = run_checks(params, DNS_IDS)
        for_four = asked(mute)
    assert first.status is Status.ERROR
    assert f"no answer from 127.0.0.1:{port} within 1 s" in first.summary
    assert {r.id: r.status for r in results.values()} == {i: Status.ERROR for i in DNS_IDS}
    assert 1 <= for_one and for_four == for_one  # one timeout for the run, not one per question


def test_key_age_and_disuse_warn_and_unknown_dependency_fails(boxes: Boxes) -> None:
    later = boxes.params(as_of="2026-05-01T12:00:00Z")  # 60 days on: keys aged and unused
    aged = run_checks(later, ["iam.smtp_users"])["iam.smtp_users"]
    assert aged.status is Status.WARN
    assert "older than 90 days" in aged.summary and "unused for 60 days" in aged.summary
    missing = run_checks(boxes.params(smtp_users=["ses-smtp-gone"]), ["iam.smtp_users"])["iam.smtp_users"]
    assert missing.status is Status.FAIL
    assert "IAM user ses-smtp-gone (smtp_users) does not exist" in missing.summary


def test_wrong_dkim_target_spf_over_ten_lookups_and_dmarc_p_none(boxes: Boxes, tmp_path: Path) -> None:
    includes = [f"spf{i}.example.net" for i in range(10)]
    spf = "v=spf1 " + " ".join(f"include:{n}" for n in includes) + " include:amazonses.com ~all"
    extra = "".join(f"    - {{name: {n}, type: TXT, value: 'v=spf1 -all'}}\n" for n in includes)
    path = tmp_path / "dns-drift.yaml"
    path.write_text(
        "extends: healthy\ndns:\n  dkim_wrong_target: [0]\n  dmarc: 'v=DMARC1; p=none'\n"
        f"  spf: '{spf}'\n  extra:\n{extra}"
    )
    report, _ = boxes.report(str(path))
    checks = report.by_id()
    assert {c.id: c.status.value for c in report.checks if c.status is not Status.OK} == {
        "dns.dkim": "fail",
        "dns.spf": "fail",
        "dns.dmarc": "warn",
    }  # >10 lookups: receivers get a permerror
    token = scenario_mod.load(str(path)).dkim_tokens(DOMAIN)[0]
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
    "suppression-growth": {"suppression.list": "warn"},
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_each_scenario_breaks_exactly_its_checks(boxes: Boxes, name: str) -> None:
    report, _ = boxes.report(name)
    assert {c.id: c.status.value for c in report.checks if c.status is not Status.OK} == EXPECTED[name]
    for check_id in EXPECTED[name]:
        assert report.by_id()[check_id].remediation, f"{check_id} names no remediation"


def test_dkim_cname_missing_prints_the_exact_record(boxes: Boxes) -> None:
    report, _ = boxes.report("dkim-cname-missing")
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


def test_spf_dmarc_and_mx_records_to_add(boxes: Boxes) -> None:
    spf = boxes.report("spf-missing")[0].by_id()["dns.spf"]
    assert spf.details["zone_lines"] == ['mail.thephenom.app. 300 IN TXT "v=spf1 include:amazonses.com ~all"']
    assert spf.details["name"] == "mail.thephenom.app"  # the MAIL FROM domain, not the apex
    assert spf.details["zone_lines"][0] in spf.summary
    dmarc = boxes.report("dmarc-missing")[0].by_id()["dns.dmarc"]
    assert dmarc.details["zone_lines"] == [
        '_dmarc.thephenom.app. 300 IN TXT "v=DMARC1; p=quarantine; adkim=r; aspf=r; rua=mailto:dmarc-reports@thephenom.app"'
    ]
    assert "NXDOMAIN" in dmarc.summary
    mx = boxes.report("mail-from-mx-missing")[0].by_id()["identity.mail_from"]
    assert mx.details["zone_lines"] == ["mail.thephenom.app. 300 IN MX 10 feedback-smtp.us-east-1.amazonses.com."]
    assert mx.details["records_to_add"] == [
        {"name": "mail.thephenom.app", "type": "MX", "value": "10 feedback-smtp.us-east-1.amazonses.com", "ttl": 300}
    ]
    assert mx.details["MailFromDomainStatus"] == "FAILED"
    assert "USE_DEFAULT_VALUE" in mx.summary


def test_rotated_credentials_report_535(boxes: Boxes) -> None:
    result = boxes.report("smtp-credentials-rotated")[0].by_id()["smtp.auth"]
    assert result.status is Status.FAIL
    assert result.details["code"] == 535
    assert result.details["reply"] == "Authentication Credentials Invalid"
    assert "535 Authentication Credentials Invalid" in result.summary
    assert smtp_checks.INVALID_TEXT in result.summary
    assert any("does not exist in this account" in h for h in result.details["diagnosis"])
    assert result.remediation == "smtp-auth-failure"


def test_inactive_key_is_named(boxes: Boxes) -> None:
    report, _ = boxes.report("smtp-key-inactive")
    assert any("is Inactive" in h for h in report.by_id()["smtp.auth"].details["diagnosis"])
    iam = report.by_id()["iam.smtp_users"]
    assert "ses-smtp-nest (used by the services via SES_SMTP_USERNAME) has no active access key" in iam.summary
    row = next(r for r in iam.details["users"] if r["user"] == "ses-smtp-nest")
    assert row["status"] == "Inactive" and row["depended_on"] == "SES_SMTP_USERNAME"


@pytest.mark.parametrize("name", ["healthy", "smtp-credentials-rotated", "smtp-key-inactive"])
def test_no_secret_in_the_report(boxes: Boxes, name: str) -> None:
    report, secrets = boxes.report(name)
    text = report.to_json()
    assert secrets["smtp_password"] and secrets["smtp_username"]
    for label, value in secrets.items():
        assert value not in text, f"{label} leaked into the report"


def test_suppression_growth_counts(boxes: Boxes) -> None:
    result = boxes.report("suppression-growth")[0].by_id()["suppression.list"]
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
    assert smtp_checks.password_shape(derive_smtp_password(secret, "us-east-1")) == "smtp-v4"
    assert smtp_checks.password_shape(secret) == "iam-secret"


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
    proc = subprocess.run(
        [*CLI, "check", f"--sandbox={scenario}", "--json"],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith("SES_")},
    )
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
