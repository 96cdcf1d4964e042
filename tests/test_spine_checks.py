"""Every account/identity check against every spine scenario: exactly the staged check is not ok."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta

import pytest

from ses_runbook.checks import suite
from ses_runbook.core.aws import Aws
from ses_runbook.core.errors import ReadOnlyError
from support import SPINE

EXPECTED = {
    "healthy": {},
    "sandbox-account": {"account.production_access": ("fail", "emails-not-delivered")},
    "sending-disabled": {"account.sending_enabled": ("fail", "sending-paused")},
    "bounce-spike": {"reputation.bounce_rate": ("fail", "bounces-or-complaints-spike")},
    "complaint-spike": {"reputation.complaint_rate": ("fail", "bounces-or-complaints-spike")},
    "quota-nearly-exhausted": {"quota.headroom": ("warn", "sending-quota-hit")},
    "domain-unverified": {"identity.verification": ("fail", "domain-not-verified")},
    "dkim-failed": {"identity.dkim": ("fail", "dkim-verification-failed")},
}


@pytest.mark.parametrize("sandbox", list(EXPECTED), indirect=True)
def test_scenario_statuses(sandbox) -> None:
    report = suite.check_all(sandbox.params, ids=SPINE)
    scenario = sandbox.box.scenario.name
    got = {r.id: r for r in report.checks}
    assert list(got) == SPINE
    for check_id in SPINE:
        want = EXPECTED[scenario].get(check_id)
        result = got[check_id]
        if want is None:
            assert result.status.value == "ok", (check_id, result.summary)
            assert result.remediation is None
        else:
            assert (result.status.value, result.remediation) == want, (check_id, result.summary)
    # the run block a reader needs, and no write made
    assert report.run["account"] == "123456789012"
    assert report.run["aws_calls"]["writes"] == 0
    assert sandbox.box.layer.writes() == {}


@pytest.mark.parametrize("sandbox", ["bounce-spike"], indirect=True)
def test_bounce_summary_names_the_rate_and_level(sandbox) -> None:
    result = suite.check_all(sandbox.params, ids=["reputation.bounce_rate"]).checks[0]
    # the rate is the scenario's: the average of what was published in the last period (CloudWatch's Average)
    at = datetime.fromisoformat(result.details["latest_at"])
    period = timedelta(seconds=result.details["period_s"])
    published = [p.bounce_rate for p in sandbox.box.world.points if at <= p.timestamp < at + period]
    assert published and at + period >= sandbox.box.world.as_of
    rate = sum(published) / len(published)
    assert result.details["latest"] == pytest.approx(rate, abs=1e-6) and rate >= 0.10
    assert (
        f"bounce rate {rate:.2%} for {at:%Y-%m-%d %H:%M}-" in result.summary
        and "the latest whole period" in result.summary
    )
    assert "10.00%" in result.summary and "pause" in result.summary
    assert result.status.value == "fail"
    assert result.cli.startswith(
        "aws cloudwatch get-metric-statistics --namespace AWS/SES --metric-name Reputation.BounceRate"
    )


def test_no_call_repeated_and_one_metric_call(sandbox) -> None:
    report = suite.check_all(sandbox.params)
    by_op = report.run["aws_calls"]["by_operation"]
    # IAM has no batch read: one call per user, key or policy (each still asked once; see test_checks_dns_smtp_iam)
    per_resource = {
        "iam.ListUserPolicies",
        "iam.ListAttachedUserPolicies",
        "iam.GetUserPolicy",
        "iam.GetPolicy",
        "iam.GetPolicyVersion",
        "iam.ListAccessKeys",
        "iam.GetAccessKeyLastUsed",
        "iam.GetCredentialReport",  # asked again while IAM is still building the report
        "cloudwatch.DescribeAlarmsForMetric",
        "sns.ListSubscriptionsByTopic",
        "cloudwatch.GetMetricData",
    }  # one per reputation metric / topic
    assert all(n == 1 for op, n in by_op.items() if op not in per_resource), by_op
    # one for every metric over the lookback, one for the last day's 1-minute Send sums (quota.send_rate)
    assert by_op["cloudwatch.GetMetricData"] == 2
    # the server saw the same number of calls the client counted (nothing hidden, nothing extra)
    server = {k: v for k, v in sandbox.box.layer.calls.items()}
    assert sum(server.values()) == report.run["aws_calls"]["total"]


def test_read_only_guard_refuses_before_sending(sandbox) -> None:
    aws = Aws(sandbox.params)
    before = dict(sandbox.box.layer.calls)
    with pytest.raises(ReadOnlyError, match="allow_writes"):
        aws.call("sesv2", "PutAccountSendingAttributes", SendingEnabled=True)
    with pytest.raises(ReadOnlyError, match="send_test_email"):
        aws.call(
            "ses",
            "SendEmail",
            Source="no-reply@thephenom.app",
            Destination={"ToAddresses": ["a@b.co"]},
            Message={"Subject": {"Data": "x"}, "Body": {"Text": {"Data": "x"}}},
        )
    assert dict(sandbox.box.layer.calls) == before  # nothing reached the server


def test_writes_pass_when_allowed(sandbox) -> None:
    params = sandbox.params.model_copy(update={"allow_writes": True})
    aws = Aws(params)
    aws.call("sesv2", "PutAccountSendingAttributes", SendingEnabled=False)
    assert sandbox.box.layer.writes() == {"sesv2.PutAccountSendingAttributes": 1}
    assert suite.check_all(params, ids=["account.sending_enabled"]).checks[0].status.value == "fail"


def test_one_failing_service_does_not_hide_the_others(sandbox) -> None:
    params = sandbox.params
    sandbox.box.layer.fault = lambda service, op: _deny if service == "cloudwatch" else None
    report = suite.check_all(params, ids=SPINE)
    statuses = {r.id: r.status.value for r in report.checks}
    assert statuses["reputation.bounce_rate"] == "error"
    assert "cloudwatch:GetMetricData" in report.by_id()["reputation.bounce_rate"].summary
    assert all(v == "ok" for k, v in statuses.items() if not k.startswith("reputation."))
    assert report.exit_code == 2


def _deny(environ, start_response):
    body = b"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User is not authorized to perform cloudwatch:GetMetricData</Message></Error></ErrorResponse>"
    start_response("403 Forbidden", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
    return [body]


def test_checks_come_in_the_runbooks_order_whichever_module_was_imported_first() -> None:
    # a notebook imports the DNS checks early (through the remediation catalogue); the table keeps the page's order
    code = (
        "import ses_runbook.checks.dns, ses_runbook.checks.feedback\n"
        "from ses_runbook.checks import all_checks\n"
        "print(' '.join(c.id for c in all_checks()))"
    )
    ids = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert ids == [
        "account.sending_enabled", "account.production_access", "account.enforcement", "quota.headroom",
        "quota.send_rate", "reputation.bounce_rate", "reputation.complaint_rate", "reputation.blocklists",
        "identity.verification", "identity.dkim",
        "identity.mail_from", "dns.dkim", "dns.spf", "dns.dmarc", "smtp.auth", "iam.smtp_users",
        "suppression.list", "feedback.notifications", "feedback.alarms", "feedback.event_destinations",
    ]  # fmt: skip
