"""The README's least-privilege policy is enough for a full default run, and a missing action is named."""

from __future__ import annotations

import json
import re

import pytest

from ses_runbook import remediation
from ses_runbook.checks import suite
from ses_runbook.runs import runner
from support import ROOT

POLICY = json.loads(re.findall(r"```json\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)[0])


def _as_user(sandbox, policy: dict) -> None:
    key_id, secret = sandbox.box.create_role_user("runbook-oncall", policy)
    sandbox.box.enforce_iam(True)
    import os

    os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"] = key_id, secret


def test_readme_policy_is_enough_for_a_full_default_run(sandbox, tmp_path) -> None:
    _as_user(sandbox, POLICY)
    report = suite.check_all(sandbox.params)
    assert {r.id: r.status.value for r in report.checks if r.status.value != "ok"} == {}
    assert remediation.diagnose(sandbox.params, "auto").exit_code == 0
    ran = runner.run_suite(sandbox.params, runner.available(), out=tmp_path / "r", jobs=2, quiet=True)
    bad = {c["id"]: c["summary"] for c in ran.summary["checks"] if c["status"] not in ("ok", "skip")}
    assert bad == {} and all(n["error"] is None for n in ran.summary["notebooks"]), (bad, ran.summary["notebooks"])
    assert "AccessDenied" not in "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "r").glob("*.ipynb"))


@pytest.mark.parametrize(
    "missing,check_ids",
    [
        ("cloudwatch:GetMetricData", {"quota.send_rate", "reputation.bounce_rate", "reputation.complaint_rate"}),
        (
            "ses:GetAccount",
            {
                "account.sending_enabled",
                "account.production_access",
                "account.enforcement",
                "quota.headroom",
                "quota.send_rate",
            },
        ),
        ("iam:GetCredentialReport", {"iam.smtp_users"}),
        ("ses:GetIdentityNotificationAttributes", {"feedback.notifications"}),
        ("sns:ListSubscriptionsByTopic", {"feedback.notifications", "feedback.alarms"}),
        ("cloudwatch:DescribeAlarmsForMetric", {"feedback.alarms"}),
    ],
)
def test_a_missing_action_errors_only_its_checks_and_is_named(sandbox, missing: str, check_ids: set[str]) -> None:
    statement = dict(POLICY["Statement"][0], Action=[a for a in POLICY["Statement"][0]["Action"] if a != missing])
    _as_user(sandbox, {"Version": "2012-10-17", "Statement": [statement]})
    report = suite.check_all(sandbox.params)
    errors = {r.id: r.summary for r in report.checks if r.status.value == "error"}
    assert set(errors) == check_ids, errors
    assert all(missing in summary for summary in errors.values()), errors
    assert report.exit_code == 2


def test_iam_finds_senders_through_managed_policies(sandbox) -> None:
    """A user allowed to send only through an attached policy (the account's own, or AWS's) is listed."""
    from ses_runbook.checks import Context, run
    from ses_runbook.core.aws import Aws

    iam = sandbox.box.client("iam")
    doc = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ses:Send*","Resource":"*"}]}'
    arn = iam.create_policy(PolicyName="mailer-send", PolicyDocument=doc)["Policy"]["Arn"]
    iam.create_user(UserName="billing-mailer")
    iam.attach_user_policy(UserName="billing-mailer", PolicyArn=arn)
    iam.create_user(UserName="notifier")
    iam.attach_user_policy(UserName="notifier", PolicyArn="arn:aws:iam::aws:policy/AmazonSESFullAccess")
    aws = Aws(sandbox.params)
    result = run(Context(sandbox.params, aws), ids=["iam.smtp_users"])[0]
    users = {row["user"]: row for row in result.details["users"]}
    assert users["billing-mailer"]["can_send"] and users["billing-mailer"]["send_policies"] == "mailer-send"
    assert users["notifier"]["can_send"] and users["notifier"]["send_policies"] == "AmazonSESFullAccess"
    assert aws.calls["iam.GetAccountAuthorizationDetails"] == 1
    assert aws.calls["iam.GetPolicy"] == 1  # only the AWS-managed policy is read on its own


@pytest.mark.parametrize("missing", ["sqs:ReceiveMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"])
def test_a_missing_queue_action_is_named_and_nothing_is_lost(sandbox, missing: str) -> None:
    """Without an SQS action the queue read says which one, in one line; every message stays on the queue."""
    from ses_runbook.core.aws import Aws
    from ses_runbook.sources import feedback

    statement = dict(POLICY["Statement"][0], Action=[a for a in POLICY["Statement"][0]["Action"] if a != missing])
    _as_user(sandbox, {"Version": "2012-10-17", "Statement": [statement]})
    fb = feedback.review(Aws(sandbox.params), sandbox.params)
    text = feedback.notes_text(fb.notes)
    if missing == "sqs:ChangeMessageVisibility":  # read, but the messages reappear only after their short timeout
        assert fb.notes["made_visible_again"] == 0 and fb.notes["messages_read"] > 0
    else:
        assert missing in text and "not read" in text, text
    assert sandbox.box.layer.writes() == {}


@pytest.mark.parametrize("sandbox", ["smtp-password-other-region"], indirect=True)
def test_a_denied_policy_simulation_names_the_missing_action(sandbox) -> None:
    missing = "iam:SimulatePrincipalPolicy"
    statement = dict(POLICY["Statement"][0], Action=[a for a in POLICY["Statement"][0]["Action"] if a != missing])
    _as_user(sandbox, {"Version": "2012-10-17", "Statement": [statement]})
    auth = suite.check_all(sandbox.params, ids=["smtp.auth"]).by_id()["smtp.auth"]
    assert any(f"needs {missing}" in hint for hint in auth.details["diagnosis"]), auth.details["diagnosis"]
    assert auth.details["may_send"] is None
    finding = next(
        f
        for f in remediation.diagnose(sandbox.params, "smtp-auth-failure").symptoms[0].findings
        if f.cause.id == "smtp-password-other-region"
    )
    assert finding.verdict == "could not tell"
