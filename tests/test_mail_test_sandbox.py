"""The full sandbox round trip: probe sent through SES, stored in the receipt rule's S3 bucket, read
back and judged; each message-* scenario fails what it breaks."""

from __future__ import annotations

import json

import pytest

from ses_runbook.checks import mailtest
from ses_runbook.core.results import Status
from support import SCENARIOS, Running, statuses

SUBDOMAIN_SENDER = str(SCENARIOS / "subdomain-sender.yaml")
SUBDOMAIN_IDENTITY = str(SCENARIOS / "subdomain-identity.yaml")


def test_healthy_round_trip_all_ok_and_only_the_send_is_a_write(sandbox: Running) -> None:
    proc = sandbox.cli("mail-test", "-p", "send_test_email", "true", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert statuses(report) == {
        "message.probe": "ok",
        "message.dkim": "ok",
        "message.spf": "ok",
        "message.dmarc": "ok",
        "message.unsubscribe": "ok",
    }
    calls = report["run"]["aws_calls"]
    assert calls["writes"] == 1 and calls["by_operation"]["sesv2.SendEmail"] == 1
    assert "s3://thephenom-inbound-mail/mail-test/" in report["checks"][0]["summary"]


def test_without_send_test_email_nothing_is_sent_and_the_newest_stored_message_is_judged(sandbox: Running) -> None:
    proc = sandbox.cli("mail-test", "--json")
    report = json.loads(proc.stdout)
    assert proc.returncode == 0, proc.stderr
    assert statuses(report) == {
        "message.probe": "skip",
        "message.dkim": "ok",
        "message.spf": "ok",
        "message.dmarc": "ok",
        "message.unsubscribe": "ok",
    }
    assert "no probe sent (read-only run): judged the newest message stored at s3://" in report["checks"][0]["summary"]
    assert report["run"]["aws_calls"]["writes"] == 0
    assert sandbox.box.layer.writes() == {}


@pytest.mark.parametrize(
    "sandbox, kind, failing",
    [
        ("message-dkim-broken", "transactional", {"message.dkim"}),
        ("message-from-misaligned", "transactional", {"message.dmarc"}),
        ("message-missing-unsubscribe", "subscribed", {"message.unsubscribe"}),
        ("message-in-spam", "transactional", {"message.probe"}),
    ],
    indirect=["sandbox"],
)
def test_each_message_scenario_fails_what_it_breaks(sandbox: Running, kind: str, failing: set[str]) -> None:
    proc = sandbox.cli("mail-test", "-p", "send_test_email", "true", "-p", "message_kind", kind, "--json")
    assert proc.returncode == 1, proc.stderr
    found = statuses(json.loads(proc.stdout))
    assert {k for k, v in found.items() if v == "fail"} == failing, found


def test_subscribed_probe_through_a_contact_list_has_one_click(sandbox: Running) -> None:
    params = sandbox.params.model_copy(update={"send_test_email": True, "message_kind": "subscribed"})
    test = mailtest.mail_test(params)
    unsubscribe = {r.id: r for r in test.results}["message.unsubscribe"]
    assert (
        unsubscribe.status is Status.OK and unsubscribe.details["one_click"] and unsubscribe.details["signed_by_dkim"]
    )


def test_probe_that_never_arrives_is_a_bounded_fail_naming_bucket_and_prefix(sandbox: Running) -> None:
    sandbox.box.world.scenario.mail.deliver = False  # the receipt rule stores nothing
    params = sandbox.params.model_copy(update={"send_test_email": True, "inbound_timeout_s": 1.0})
    test = mailtest.mail_test(params)
    result = test.results[0]
    assert result.status is Status.FAIL and len(test.results) == 1
    assert "did not arrive in s3://thephenom-inbound-mail/mail-test/ within 1 s" in result.summary
    assert "receipt rule" in result.summary


@pytest.mark.parametrize(
    "sandbox, folder, status",
    [("healthy", "INBOX", Status.OK), ("message-in-spam", "Spam", Status.FAIL)],
    indirect=["sandbox"],
)
def test_imap_placement_inbox_vs_spam(sandbox: Running, folder: str, status: Status) -> None:
    params = sandbox.params.model_copy(update={"send_test_email": True})
    test = mailtest.mail_test(params)
    result = test.results[0]
    assert result.status is status and result.details["placement"]["folder"] == folder, result.summary
    assert f"landed in {folder} of imap://mail-test@thephenom.app@127.0.0.1:" in result.summary
    assert {r["mechanism"]: r["receiver"] for r in test.verdicts()}["placement"] == folder


def test_imap_login_refused_is_one_line_without_the_password(sandbox: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAIL_TEST_IMAP_PASSWORD", "wrong-password-canary")
    test = mailtest.mail_test(sandbox.params)
    result = test.results[0]
    assert result.status is Status.ERROR
    assert "IMAP login to 127.0.0.1:" in result.summary and "as mail-test@thephenom.app refused" in result.summary
    assert "wrong-password-canary" not in json.dumps(test.report().to_dict(), default=str)
    assert "\n" not in result.summary


@pytest.mark.parametrize("sandbox", ["message-missing-unsubscribe"], indirect=True)
def test_diagnosis_names_the_missing_one_click_unsubscribe_on_subscribed_mail(sandbox: Running) -> None:
    from ses_runbook.remediation import CONFIRMED, diagnose

    params = sandbox.params.model_copy(update={"message_kind": "subscribed"})
    diagnosis = diagnose(params, "emails-going-to-spam")
    verdicts = {f.cause.id: f for f in diagnosis.symptoms[0].findings}
    finding = verdicts["message-missing-unsubscribe"]
    assert finding.verdict == CONFIRMED and {f.cause.id for f in diagnosis.confirmed} == {"message-missing-unsubscribe"}
    assert any("List-Unsubscribe-Post: List-Unsubscribe=One-Click" in (s.command or "") for s in finding.steps)
    assert sandbox.box.layer.writes() == {}  # the diagnosis read the stored message; it sent nothing


@pytest.mark.parametrize(
    "sandbox, sender, dkim_domain",
    [
        # covered by the verified thephenom.app: sent, signed d=thephenom.app, the org domain's sp=reject governs
        (SUBDOMAIN_SENDER, "no-reply@news.thephenom.app", "thephenom.app"),
        # verified as its own identity: signed d=news.thephenom.app, which its strict record aligns with
        (SUBDOMAIN_IDENTITY, "no-reply@news.thephenom.app", "news.thephenom.app"),
    ],
    indirect=["sandbox"],
    ids=["covered-by-parent", "own-identity"],
)
def test_subdomain_sender_probe_is_sent_and_judged_as_the_dns_checks_predict(
    sandbox: Running, sender: str, dkim_domain: str
) -> None:
    checked = sandbox.cli("check", "-p", "sender", sender, "--json")
    predicted = {c["id"]: c for c in json.loads(checked.stdout)["checks"]}
    assert predicted["identity.verification"]["status"] == "ok", predicted["identity.verification"]["summary"]
    dns_dmarc = predicted["dns.dmarc"]
    alignment = dns_dmarc["details"]["alignment"]
    assert alignment["dkim_domain"] == dkim_domain, dns_dmarc["summary"]

    proc = sandbox.cli("mail-test", "-p", "send_test_email", "true", "-p", "sender", sender, "--json")
    measured = {c["id"]: c for c in json.loads(proc.stdout)["checks"]}
    assert measured["message.probe"]["status"] == "ok", measured["message.probe"]["summary"]
    dmarc = measured["message.dmarc"]
    passes = alignment["dkim_aligned"] or alignment["spf_aligned"]
    assert (dmarc["status"] == "ok") is passes is True, (dns_dmarc["summary"], dmarc["summary"])
    assert (dmarc["details"]["record"]["location"], dmarc["details"]["record"]["policy"]) == (
        dns_dmarc["details"]["name"],
        dns_dmarc["details"]["policy"],
    )
    assert bool(dmarc["details"]["dkim_aligned"]) is alignment["dkim_aligned"]
    assert dmarc["details"]["spf_aligned"] is alignment["spf_aligned"]
    signatures = measured["message.dkim"]["details"]["signatures"]
    assert {s["d"] for s in signatures if s["result"] == "pass"} == {dkim_domain, "amazonses.com"}
