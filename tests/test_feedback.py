"""Bounce and complaint feedback: the two checks per scenario, both notification formats, the queue read
without consuming, the mailbox simulator round trip, and addresses masked in what a run writes."""

from __future__ import annotations

import json
import random
import re
import stat
from datetime import datetime, timedelta, timezone

import pytest

from ses_runbook.checks import Context, run, suite
from ses_runbook.core.aws import Aws
from ses_runbook.core.errors import FeedbackError, ReadOnlyError
from ses_runbook.core.results import Status
from ses_runbook.remediation import diagnose
from ses_runbook.sandbox import notifications as sim
from ses_runbook.sources import feedback
from support import statuses

FEEDBACK_IDS = ["feedback.notifications", "feedback.alarms"]
WHEN = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
ADDRESS = re.compile(r"\b[a-z]+\.\d{5}@[a-z0-9.-]+\b")  # the sandbox's recipients, unmasked


# -- the checks, per scenario -------------------------------------------------------------------------
def test_healthy_has_feedback_flowing_and_alarms(sandbox) -> None:
    found = statuses(suite.check_all(sandbox.params))
    assert {k: v for k, v in found.items() if v != "ok"} == {}
    assert set(FEEDBACK_IDS) <= set(found)


@pytest.mark.parametrize(
    "sandbox,expected",
    [
        ("feedback-not-configured", {"feedback.notifications": "fail"}),
        ("feedback-topic-no-subscribers", {"feedback.notifications": "fail"}),
        ("no-reputation-alarms", {"feedback.alarms": "warn"}),
    ],
    indirect=["sandbox"],
)
def test_each_feedback_scenario_changes_only_its_check(sandbox, expected: dict[str, str]) -> None:
    report = suite.check_all(sandbox.params)
    assert {r.id: r.status.value for r in report.checks if r.status.value != "ok"} == expected
    summary = next(r.summary for r in report.checks if r.id in expected)
    assert {
        "feedback.notifications": "nowhere a machine reads",
        "feedback.alarms": "no alarm on Reputation.BounceRate",
    }[next(iter(expected))] in summary


def test_email_only_topic_warns(sandbox) -> None:
    sns = sandbox.box.client("sns")
    topic = sns.create_topic(Name="ses-feedback-mail")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="postmaster@thephenom.app")
    ses = sandbox.box.client("ses")
    for kind in ("Bounce", "Complaint"):
        ses.set_identity_notification_topic(Identity="thephenom.app", NotificationType=kind, SnsTopic=topic)
    result = next(r for r in suite.check_all(sandbox.params, ids=["feedback.notifications"]).checks)
    assert result.status.value == "warn" and "only forwards by email" in result.summary


# -- parsing both formats, every type ------------------------------------------------------------------
def _records() -> list[dict]:
    rng = random.Random(1)
    mail = sim.mail(
        WHEN,
        "0100-msg-1",
        "no-reply@thephenom.app",
        "api-mailer",
        ["jane.doe@example.com"],
        {"list": "import-1"},
        "us-east-1",
    )
    out = [
        sim.bounce(
            mail, WHEN, rng, "jane.doe@example.com", "Permanent", "NoEmail", "5.1.1", "smtp; 550 5.1.1 user unknown"
        ),
        sim.complaint(mail, WHEN, rng, "jane.doe@example.com", "abuse"),
        sim.delivery(mail, WHEN, "jane.doe@example.com"),
        {"notificationType": "Reject", "mail": mail, "reject": {"reason": "Bad content"}},
        {
            "notificationType": "DeliveryDelay",
            "mail": mail,
            "deliveryDelay": {
                "timestamp": "2026-11-01T12:05:00.000Z",
                "delayType": "MailboxFull",
                "delayedRecipients": [
                    {"emailAddress": "jane.doe@example.com", "status": "4.2.2", "diagnosticCode": "452 full"}
                ],
            },
        },
    ]
    return out


def _as_event(record: dict) -> dict:
    event = dict(record)
    kind = event.pop("notificationType")
    event["eventType"] = kind
    return event


@pytest.mark.parametrize("wrap", ["sns", "raw"])
@pytest.mark.parametrize("fmt", ["notification", "event"])
def test_parser_reads_both_formats_and_every_type(fmt: str, wrap: str) -> None:
    records = _records() if fmt == "notification" else [_as_event(r) for r in _records()]
    bodies = [
        sim.envelope(r, "arn:aws:sns:us-east-1:123456789012:ses-feedback", WHEN, random.Random(2))
        if wrap == "sns"
        else json.dumps(r)
        for r in records
    ]
    rows, counts = feedback.parse(
        bodies
        + ["not json {", json.dumps({"hello": "world"}), json.dumps({"Type": "Notification", "Message": "plain text"})]
    )
    assert counts == {"messages": 8, "notifications": 5, "unrelated": 2, "malformed": 1}
    by_type = {r["type"]: r for r in rows}
    assert set(by_type) == {"Bounce", "Complaint", "Delivery", "Reject", "DeliveryDelay"}
    assert (by_type["Bounce"]["bounce_type"], by_type["Bounce"]["bounce_subtype"]) == ("Permanent", "NoEmail")
    assert by_type["Bounce"]["diagnostic_code"] == "smtp; 550 5.1.1 user unknown"
    assert by_type["Complaint"]["complaint_type"] == "abuse"
    assert by_type["Reject"]["reject_reason"] == "Bad content"
    assert by_type["DeliveryDelay"]["delay_type"] == "MailboxFull"
    assert all(
        r["recipient_domain"] == "example.com" and r["caller"] == "api-mailer" and r["tags"] == "list=import-1"
        for r in rows
    )
    assert {r["format"] for r in rows} == {fmt}


def test_masking_keeps_domain_and_first_letter() -> None:
    assert feedback.mask("jane.doe@example.com") == "j***@example.com"
    assert feedback.mask(None) is None


# -- reading the queue without consuming it ----------------------------------------------------------
def test_default_run_reads_the_whole_queue_and_changes_nothing(sandbox) -> None:
    sqs = sandbox.box.client("sqs")
    url = sandbox.box.feedback_queue_url
    before = int(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
            "ApproximateNumberOfMessages"
        ]
    )
    sandbox.box.layer.reset_calls()
    aws = Aws(sandbox.params)
    first = feedback.load(aws, sandbox.params)
    assert first.notes["read_to_end"] and first.notes["messages_read"] == before > 100
    assert first.notes["made_visible_again"] == before and first.notes["deleted"] == 0
    with pytest.raises(ReadOnlyError, match="DeleteMessage is a write"):
        aws.call("sqs", "DeleteMessage", QueueUrl=url, ReceiptHandle="x")
    assert sandbox.box.layer.writes() == {}  # counted at the server: receives and visibility resets are reads
    again = feedback.load(Aws(sandbox.params), sandbox.params)  # the next reader sees every message at once
    assert again.notes["messages_read"] == before


def test_low_redrive_is_refused_unless_told(sandbox) -> None:
    sqs = sandbox.box.client("sqs")
    dlq = sqs.create_queue(QueueName="feedback-dlq")["QueueUrl"]
    url = sqs.create_queue(
        QueueName="feedback-low",
        Attributes={
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:feedback-dlq", "maxReceiveCount": 3}
            )
        },
    )["QueueUrl"]
    assert dlq
    params = sandbox.params.model_copy(update={"feedback_queue_url": url})
    with pytest.raises(FeedbackError, match="after 3 receives"):
        feedback.read_queue(Aws(params), params)
    told = params.model_copy(update={"feedback_low_redrive_ok": True})
    assert feedback.read_queue(Aws(told), told).notes["read_to_end"]


def test_missing_and_empty_queues_say_so_in_one_line(sandbox) -> None:
    params = sandbox.params.model_copy(
        update={"feedback_queue_url": sandbox.box.feedback_queue_url.replace("ses-feedback", "nope")}
    )
    fb = feedback.review(Aws(params), params)
    assert "no such queue" in feedback.notes_text(fb.notes) and "\n" not in feedback.notes_text(fb.notes)
    url = sandbox.box.client("sqs").create_queue(QueueName="empty")["QueueUrl"]
    params = sandbox.params.model_copy(update={"feedback_queue_url": url})
    assert "No notifications in the last" in feedback.empty_text(feedback.review(Aws(params), params))


# -- the spike's cause ---------------------------------------------------------------------------------
@pytest.mark.parametrize("sandbox", ["bounce-spike"], indirect=True)
def test_bounce_spike_names_the_domain_and_source(sandbox) -> None:
    fb = feedback.load(Aws(sandbox.params), sandbox.params)
    named = feedback.responsible(feedback.cause(fb, sandbox.params))
    assert named["recipient_domain"] == "mail.sunsetisp.example"
    assert named["caller"] == "api-mailer" and "list=import-2026-11-reactivation" in named["tags"]


@pytest.mark.parametrize("sandbox", ["complaint-spike"], indirect=True)
def test_complaint_spike_names_the_campaign(sandbox) -> None:
    fb = feedback.load(Aws(sandbox.params), sandbox.params)
    cause = feedback.cause(fb, sandbox.params)
    assert cause["kind"] == "complaints"  # what rose, although permanent bounces outnumber them
    assert "campaign=we-miss-you-2026-11" in feedback.responsible(cause)["tags"]


def _read_notifications_step(diagnosis) -> str:
    """What the bounce-spike cause's first step expects: the spike's cause as read from the queue."""
    finding = next(f for f in diagnosis.confirmed if f.cause.id == "bounce-spike")
    return finding.steps[0].expect or ""


@pytest.mark.parametrize("sandbox", ["bounce-spike"], indirect=True)
def test_each_diagnosis_reads_the_queue_anew_with_its_own_clients(sandbox) -> None:
    symptom = "bounces-or-complaints-spike"
    first = diagnose(sandbox.params, symptom)
    assert "mail.sunsetisp.example" in _read_notifications_step(first)
    counted = first.to_dict()["run"]["aws_calls"]["by_operation"]
    assert counted.get("sqs.ReceiveMessage", 0) >= 1 and counted.get("sqs.GetQueueAttributes") == 1

    # The queue changes while the process stays up (a JupyterLab kernel): same parameters, new answers.
    sqs, url = sandbox.box.client("sqs"), sandbox.box.feedback_queue_url
    sqs.purge_queue(QueueUrl=url)
    as_of = sandbox.params.as_of_datetime()
    rng = random.Random(3)
    for n in range(20):
        when = as_of - timedelta(hours=2, minutes=n)
        mail = sim.mail(
            when,
            f"0100-new-{n}",
            "news@thephenom.app",
            "newsletter-job",
            [f"gone.{n}@isp-two.example"],
            {},
            "us-east-1",
        )
        record = sim.bounce(
            mail,
            when,
            rng,
            f"gone.{n}@isp-two.example",
            "Permanent",
            "General",
            "5.1.1",
            "smtp; 550 5.1.1 no such user",
        )
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(record))

    second = diagnose(sandbox.params, symptom)
    expect = _read_notifications_step(second)
    assert "mail.sunsetisp.example" not in expect, "the first run's cause was served again"
    assert "isp-two.example" in expect and second.facts.feedback_cause["count"] == 20
    counted = second.to_dict()["run"]["aws_calls"]["by_operation"]
    assert counted.get("sqs.ReceiveMessage", 0) >= 1 and counted.get("sqs.GetQueueAttributes") == 1


def test_healthy_names_no_cause(sandbox) -> None:
    fb = feedback.load(Aws(sandbox.params), sandbox.params)
    cause = feedback.cause(fb, sandbox.params)
    assert feedback.responsible(cause) == {} and "the usual mix" in feedback.cause_text(cause)


# -- the mailbox simulator round trip ------------------------------------------------------------------
def test_simulator_round_trip_sees_all_four_outcomes(sandbox) -> None:
    from ses_runbook.checks.sending import send_test_email

    params = sandbox.params.model_copy(update={"send_test_email": True, "feedback_wait_s": 30})
    result = send_test_email(Aws(params), params)
    assert result.status.value == "ok", result.summary
    arrived = {r["recipient"].split("@")[0]: r["arrived"] for r in result.details["round_trip"]}
    assert arrived == {
        "success": "Delivery",
        "bounce": "Bounce Permanent/General",
        "complaint": "Complaint",
        "suppressionlist": "Bounce Permanent/OnAccountSuppressionList",
    }
    assert all(r["delay_s"] is not None for r in result.details["round_trip"])
    assert sandbox.box.layer.writes() == {"ses.SendEmail": 4}


def test_simulator_round_trip_names_what_never_came(sandbox) -> None:
    from ses_runbook.checks.sending import send_test_email

    sandbox.box.client("ses").set_identity_notification_topic(Identity="thephenom.app", NotificationType="Delivery")
    params = sandbox.params.model_copy(update={"send_test_email": True, "feedback_wait_s": 4})
    result = send_test_email(Aws(params), params)
    assert result.status.value == "fail"
    assert "success@simulator.amazonses.com (no Delivery notification)" in result.summary
    assert "bounce@ -> Bounce Permanent/General" in result.summary


def test_check_only_send_test_email_runs_the_round_trip(sandbox) -> None:
    done = sandbox.cli(
        "check", "--json", "--only", "send.test_email", "-p", "send_test_email", "true", "-p", "feedback_wait_s", "30"
    )
    assert done.returncode == 0, done.stderr
    checks = json.loads(done.stdout)["checks"]
    assert [c["id"] for c in checks] == ["send.test_email"] and len(checks[0]["details"]["round_trip"]) == 4


# -- customer data stays home --------------------------------------------------------------------------
@pytest.mark.parametrize("sandbox", ["bounce-spike"], indirect=True)
def test_a_default_run_masks_addresses_in_every_artifact(sandbox, tmp_path) -> None:
    from ses_runbook.runs import runner

    export = tmp_path / "private" / "remove.csv"
    params = sandbox.params.model_copy(update={"feedback_export_file": str(export)})
    out = tmp_path / "report"
    ran = runner.run_suite(
        params, [p for p in runner.available() if p.stem == "09_feedback"], out=out, jobs=1, quiet=True
    )
    assert all(n["error"] is None for n in ran.summary["notebooks"]), ran.summary["notebooks"]
    texts = {p.name: p.read_text(errors="replace") for p in out.rglob("*") if p.is_file() and p.suffix != ".png"}
    assert "mail.sunsetisp.example" in texts["09_feedback.html"] and "api-mailer" in texts["09_feedback.html"]
    assert {name: ADDRESS.findall(text)[:3] for name, text in texts.items() if ADDRESS.search(text)} == {}
    assert stat.S_IMODE(export.stat().st_mode) == 0o600
    rows = export.read_text().splitlines()
    assert rows[0].startswith("address,reason") and ADDRESS.search(rows[1])
    shown = tmp_path / "shown"
    params = params.model_copy(update={"show_addresses": True, "feedback_export_file": None})
    runner.run_suite(params, [p for p in runner.available() if p.stem == "09_feedback"], out=shown, jobs=1, quiet=True)
    assert ADDRESS.search((shown / "09_feedback.html").read_text())


# -- acting on it: opt-in fixes, each re-checked ---------------------------------------------------------
def _diagnose(sandbox, **extra):
    return diagnose(sandbox.load(**extra), "bounces-or-complaints-spike")


@pytest.mark.parametrize("sandbox", ["feedback-not-configured"], indirect=True)
def test_feedback_pipeline_fix_is_planned_then_made_and_rechecked(sandbox) -> None:
    planned = next(f for f in _diagnose(sandbox).fixes if f.id == "feedback-pipeline")
    assert not planned.applied and any("set-identity-notification-topic" in c for c in planned.commands)
    assert sandbox.box.layer.writes() == {}
    made = next(f for f in _diagnose(sandbox, allow_writes=True).fixes if f.id == "feedback-pipeline")
    assert made.applied and made.ok, made.message
    assert made.recheck.id == "feedback.notifications" and made.recheck.status.value == "ok"


@pytest.mark.parametrize("sandbox", ["no-reputation-alarms"], indirect=True)
def test_alarm_fix_notifies_the_oncall_topic_and_rechecks(sandbox) -> None:
    sns = sandbox.box.client("sns")
    oncall = sns.create_topic(Name="oncall")["TopicArn"]
    sns.subscribe(TopicArn=oncall, Protocol="email", Endpoint="oncall@thephenom.app")
    sandbox.box.layer.reset_calls()
    planned = next(f for f in _diagnose(sandbox, alarm_topic_arn=oncall).fixes if f.id == "reputation-alarms")
    assert not planned.applied and sum("put-metric-alarm" in c for c in planned.commands) == 2
    made = next(
        f for f in _diagnose(sandbox, alarm_topic_arn=oncall, allow_writes=True).fixes if f.id == "reputation-alarms"
    )
    assert made.ok and made.recheck.status.value == "ok", made.message
    assert sandbox.box.layer.writes() == {"cloudwatch.PutMetricAlarm": 2}


@pytest.mark.parametrize("sandbox", ["bounce-spike"], indirect=True)
def test_exported_addresses_go_on_the_suppression_list(sandbox, tmp_path) -> None:
    fb = feedback.load(Aws(sandbox.params), sandbox.params)
    removals = feedback.removals(fb.frame)
    path = feedback.export(removals.head(25), tmp_path / "remove.csv")
    planned = next(f for f in _diagnose(sandbox, feedback_export_file=str(path)).fixes if f.id == "suppress-exported")
    assert not planned.applied and str(path) in planned.commands[0] and sandbox.box.layer.writes() == {}
    made = next(
        f
        for f in _diagnose(sandbox, feedback_export_file=str(path), allow_writes=True).fixes
        if f.id == "suppress-exported"
    )
    assert made.applied and made.ok and made.message.startswith("25 of 25"), made.message
    assert sandbox.box.layer.writes() == {"sesv2.PutSuppressedDestination": 25}
    listed = {
        d["EmailAddress"]
        for d in sandbox.box.client("sesv2").list_suppressed_destinations()["SuppressedDestinationSummaries"]
    }
    assert set(removals.head(25)["address"]) <= listed


# -- behaviours at their edges ------------------------------------------------------------------------
class ShortBatchQueue:
    """A queue as real SQS serves it: ``ReceiveMessage`` hands back short batches in the middle of a
    queue (here 10, 4, 10 and 3 messages), and an empty one only once every message is hidden. The
    sandbox always fills a batch, so only this shows whether a short batch is taken for the end."""

    def __init__(self, sizes: list[int]) -> None:
        rng = random.Random(3)
        self.batches: list[list[dict]] = []
        n = 0
        for size in sizes:
            batch = []
            for _ in range(size):
                n += 1
                address = f"user.{n:05d}@example.com"
                mail = sim.mail(
                    WHEN, f"0100-msg-{n}", "no-reply@thephenom.app", "api-mailer", [address], {}, "us-east-1"
                )
                record = sim.bounce(mail, WHEN, rng, address, "Permanent", "General", "5.1.1", "smtp; 550 5.1.1")
                batch.append({"MessageId": f"m-{n}", "ReceiptHandle": f"h-{n}", "Body": json.dumps(record)})
            self.batches.append(batch)
        self.receives: list[dict] = []
        self.released: list[str] = []

    def once(self, key: tuple, derive):  # Aws.once: nothing kept here, each read is a pass
        return derive()

    def call(self, service: str, operation: str, **kwargs) -> dict:
        assert service == "sqs"
        if operation == "GetQueueAttributes":
            return {"Attributes": {"ApproximateNumberOfMessages": str(sum(len(b) for b in self.batches))}}
        if operation == "ReceiveMessage":
            self.receives.append(kwargs)
            return {"Messages": self.batches.pop(0) if self.batches else []}
        if operation == "ChangeMessageVisibilityBatch":
            self.released += [e["ReceiptHandle"] for e in kwargs["Entries"] if e["VisibilityTimeout"] == 0]
            return {}
        raise AssertionError(f"unexpected call sqs.{operation}")


def _queue_params(**overrides):
    from ses_runbook.core import params as params_mod

    return params_mod.load(
        overrides={
            "feedback_queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/ses-feedback",
            "as_of": "2026-11-01T13:00:00Z",
            **overrides,
        },
        environ={},
    )


def test_short_batches_mid_queue_are_read_to_the_end() -> None:
    queue = ShortBatchQueue([10, 4, 10, 3])
    fb = feedback.load(queue, _queue_params())
    assert fb.notes["messages_read"] == 27 and fb.notes["read_to_end"]
    assert len(fb.frame) == 27 and fb.notes["made_visible_again"] == 27
    assert sorted(queue.released) == sorted(f"h-{n}" for n in range(1, 28))  # every message visible again
    assert feedback.notes_text(fb.notes).startswith("Read 27 message(s) from queue ses-feedback to its end, in 5 ")


@pytest.mark.parametrize(("max_receive_count", "read"), [(9, False), (10, True)])
def test_redrive_of_ten_receives_is_read_and_nine_is_refused(sandbox, max_receive_count: int, read: bool) -> None:
    sqs = sandbox.box.client("sqs")
    sqs.create_queue(QueueName=f"feedback-dlq-{max_receive_count}")
    url = sqs.create_queue(
        QueueName=f"feedback-{max_receive_count}",
        Attributes={
            "RedrivePolicy": json.dumps(
                {
                    "deadLetterTargetArn": f"arn:aws:sqs:us-east-1:123456789012:feedback-dlq-{max_receive_count}",
                    "maxReceiveCount": max_receive_count,
                }
            )
        },
    )["QueueUrl"]
    params = sandbox.params.model_copy(update={"feedback_queue_url": url})
    fb = feedback.review(Aws(params), params)
    if read:
        assert "error" not in fb.notes and fb.notes["max_receive_count"] == 10 and fb.notes["read_to_end"]
    else:
        assert f"after {max_receive_count} receives" in fb.notes["error"]
        assert "feedback_low_redrive_ok" in feedback.notes_text(fb.notes)


def test_a_recipient_domain_counts_whatever_its_case() -> None:
    rng = random.Random(4)
    bodies = []
    for n, address in enumerate(["Jane@Example.COM", "bob@example.com", "ann@EXAMPLE.com", "joe@other.example"]):
        mail = sim.mail(WHEN, f"0100-msg-{n}", "no-reply@thephenom.app", "api-mailer", [address], {}, "us-east-1")
        bodies.append(json.dumps(sim.bounce(mail, WHEN, rng, address, "Permanent", "General", "5.1.1", "550")))
    rows, _ = feedback.parse(bodies)
    table = feedback.by(feedback.frame(rows), "recipient_domain")
    assert dict(zip(table["recipient_domain"], table["permanent_bounces"], strict=True)) == {
        "example.com": 3,
        "other.example": 1,
    }


@pytest.mark.parametrize("sandbox", ["bounce-spike"], indirect=True)
def test_bounce_spike_names_the_from_address_it_was_sent_from(sandbox) -> None:
    fb = feedback.load(Aws(sandbox.params), sandbox.params)
    cause = feedback.cause(fb, sandbox.params)
    assert cause["source"]["value"] == "no-reply@thephenom.app"  # mail.source, the From; not the identity's ARN
    assert "no-reply@thephenom.app" in feedback.cause_text(cause)


def test_read_only_refusals_reach_nothing_at_the_sandbox(sandbox) -> None:
    """Credentials minted, messages hidden for hours, another queue's messages, a delete: each refused
    in one line naming it, and the sandbox's server sees none of them (zero writes counted there)."""
    sqs = sandbox.box.client("sqs")
    other = sqs.create_queue(QueueName="someone-elses")["QueueUrl"]
    url = sandbox.box.feedback_queue_url
    [message] = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=0)["Messages"]
    sandbox.box.layer.reset_calls()
    aws = Aws(sandbox.params)
    attempts = {
        "sts.GetSessionToken": {},
        "sts.GetFederationToken": {"Name": "runbook"},
        "sqs.ReceiveMessage": {"QueueUrl": url, "VisibilityTimeout": 43200},
        "sqs.ChangeMessageVisibility": {
            "QueueUrl": other,
            "ReceiptHandle": message["ReceiptHandle"],
            "VisibilityTimeout": 0,
        },
        "sqs.DeleteMessageBatch": {
            "QueueUrl": url,
            "Entries": [{"Id": "1", "ReceiptHandle": message["ReceiptHandle"]}],
        },
    }
    for key, kwargs in attempts.items():
        with pytest.raises(ReadOnlyError) as refused:
            aws.call(*key.split("."), **kwargs)
        assert str(refused.value).startswith(f"{key} is ") and "\n" not in str(refused.value)
    assert sandbox.box.layer.calls == {} and sandbox.box.layer.writes() == {}
    assert aws.stats()["total"] == 0
    fb = feedback.load(aws, sandbox.params)  # the runbook's own read still goes through
    assert fb.notes["read_to_end"] and fb.notes["deleted"] == 0 and sandbox.box.layer.writes() == {}


def test_masked_frames_hide_addresses_unless_asked() -> None:
    frame = feedback.frame(feedback.parse([json.dumps(_records()[0])])[0]).assign(address="bob.smith@example.org")
    params = _queue_params()
    shown = feedback.masked(frame, params)
    assert list(shown["recipient"]) == ["j***@example.com"] and list(shown["address"]) == ["b***@example.org"]
    assert list(shown["source"]) == ["no-reply@thephenom.app"]  # only the columns named are customer data
    assert list(frame["recipient"]) == ["jane.doe@example.com"]  # the frame itself is left as it was
    assert list(feedback.masked(frame, params, columns=["source"])["source"]) == ["n***@thephenom.app"]
    told = feedback.masked(frame, params.model_copy(update={"show_addresses": True}))
    assert list(told["recipient"]) == ["jane.doe@example.com"]
    assert [feedback.mask(v) for v in ("no-at-sign", 7, "@example.com")] == ["no-at-sign", 7, "***@example.com"]


@pytest.mark.parametrize(
    ("policy", "ok", "expected"),
    [
        (None, False, None),
        ({"maxReceiveCount": 10}, False, 10),
        ({"maxReceiveCount": "25"}, False, 25),
        ({"maxReceiveCount": 9}, False, "after 9 receives"),
        ({}, False, "after 0 receives"),
        ({"maxReceiveCount": 9}, True, 9),
    ],
)
def test_redrive_policy_edges(policy, ok: bool, expected) -> None:
    attributes = {} if policy is None else {"RedrivePolicy": json.dumps(policy)}
    params = _queue_params(feedback_low_redrive_ok=ok)
    if isinstance(expected, str):
        with pytest.raises(
            FeedbackError, match=f"ses-feedback: its redrive policy .* {expected}, .*set feedback_low_redrive_ok=true"
        ):
            feedback.refuse_low_redrive(attributes, params, params.feedback_queue_url)
    else:
        assert feedback.refuse_low_redrive(attributes, params, params.feedback_queue_url) == expected


def test_one_run_reads_the_queue_once_whoever_asks_and_again_after_a_write(sandbox) -> None:
    """09_feedback's review and its feedback.delays check (and 08's causes) look at the same queue:
    one pass of the run serves them all (each pass ends in a long poll); a write drops it, so a
    re-check after a fix reads the queue again."""
    params = sandbox.params.model_copy(update={"allow_writes": True})
    aws = Aws(params)
    first = feedback.review(aws, params)
    receives = aws.stats()["by_operation"]["sqs.ReceiveMessage"]
    [delays] = run(Context(params, aws), ids=["feedback.delays"])
    assert delays.status is Status.OK and aws.stats()["by_operation"]["sqs.ReceiveMessage"] == receives
    assert feedback.review(aws, params).notes == first.notes
    aws.call("sesv2", "PutSuppressedDestination", EmailAddress="gone@example.com", Reason="BOUNCE")
    feedback.review(aws, params)
    assert aws.stats()["by_operation"]["sqs.ReceiveMessage"] == 2 * receives
