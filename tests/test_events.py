"""The event store (Firehose's prefix in S3) as the feedback source: the same frame as the queue's,
whichever engine reads it, and every bad input counted or refused in one line."""

from __future__ import annotations

import gzip
import json
import os
import urllib.request

import pandas as pd
import pytest

from ses_runbook.checks import Context
from ses_runbook.checks.feedback import firehose_destination
from ses_runbook.core import params as params_mod
from ses_runbook.core.aws import Aws, iam_action
from ses_runbook.core.errors import ParameterError
from ses_runbook.core.iampolicy import allows, event_store_policy
from ses_runbook.sandbox import notifications
from ses_runbook.sources import events, feedback
from support import ROOT, closed_port

SPIKE = "bounce-spike"


def _comparable(df: pd.DataFrame) -> pd.DataFrame:
    """The frame without the column saying which format a row came in (the queue holds identity
    notifications, the store event records), missing values alike."""
    out = df.drop(columns="format").astype(object)
    return out.where(out.notna(), None)


@pytest.mark.parametrize("sandbox", [SPIKE], indirect=True)
def test_queue_and_store_give_equal_tables(sandbox) -> None:
    queue = feedback.review(Aws(sandbox.params), sandbox.params)
    params = sandbox.load(events_s3=sandbox.box.events_s3)
    aws = Aws(params)
    store = events.review(aws, params)
    assert store.notes.get("error") is None and len(store.frame) == len(queue.frame) > 600
    pd.testing.assert_frame_equal(_comparable(store.frame), _comparable(queue.frame))
    for view in (feedback.counts_by_type, feedback.by_source, feedback.top_diagnostics, feedback.removals):
        pd.testing.assert_frame_equal(view(store.frame), view(queue.frame))
    pd.testing.assert_frame_equal(
        feedback.by(store.frame, "recipient_domain"), feedback.by(queue.frame, "recipient_domain")
    )
    cause = feedback.responsible(feedback.cause(store, params))
    assert cause["recipient_domain"] == "mail.sunsetisp.example"
    assert cause == feedback.responsible(feedback.cause(queue, sandbox.params))
    assert events.cause_for(aws, params) == feedback.cause(queue, sandbox.params)
    # only the window's prefixes were listed: whole days once, the edge days hour by hour
    assert aws.calls["s3.ListObjectsV2"] == len(events.prefixes(events.window_hours(params))) < 60
    assert "sqs.ReceiveMessage" not in aws.calls
    assert f"with DuckDB: {len(queue.frame)} record(s)" in events.notes_text(store.notes)


def _write(folder, key: str, data: bytes) -> None:
    path = folder / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@pytest.mark.parametrize("sandbox", [SPIKE], indirect=True)
def test_a_local_store_counts_and_skips_bad_objects_and_records_of_another_schema(sandbox, tmp_path) -> None:
    items = notifications.queue_notifications(sandbox.box.scenario, sandbox.box.world.points, sandbox.box.world.as_of)
    for key, data in notifications.firehose_objects(items, prefix="").items():
        _write(tmp_path, key, data)
    hour = sorted(p.parent for p in tmp_path.rglob("*.gz"))[-1].relative_to(tmp_path).as_posix()
    _write(tmp_path, f"{hour}/not-gzip.gz", b"\x1f\x8b this is no gzip stream")
    _write(tmp_path, f"{hour}/not-json", b"hello\nworld\n")
    _write(tmp_path, f"{hour}/other.gz", gzip.compress(b'{"detail-type": "EC2 Instance State-change"}\n{"foo": 1}\n'))
    _write(tmp_path, "2001/01/01/00/old.gz", gzip.compress(b"outside the window: never read\n"))
    params = sandbox.load(events_path=str(tmp_path))
    store = events.review(Aws(params), params)
    queue = feedback.review(Aws(sandbox.params), sandbox.params)
    pd.testing.assert_frame_equal(_comparable(store.frame), _comparable(queue.frame))
    assert store.notes["bad_objects"] == 2 and store.notes["other_schema"] == 2
    text = events.notes_text(store.notes)
    assert "2 object(s) not gzip or not JSON lines counted and skipped" in text
    assert "2 record(s) of another schema (not SES events) counted and skipped" in text


@pytest.mark.parametrize("sandbox", [SPIKE], indirect=True)
def test_an_empty_window_says_what_it_may_mean(sandbox) -> None:
    params = sandbox.load(events_s3="s3://ses-events/elsewhere/")
    store = events.review(Aws(params), params)
    assert store.frame.empty and store.notes.get("error") is None
    text = events.empty_text(store) or ""
    assert text.startswith(
        "No events in the lookback: s3://ses-events/elsewhere/ holds no SES event of the last 14 days"
    )
    assert "Firehose stream's S3 destination prefix" in text


def test_a_window_past_events_max_mib_is_refused_before_anything_is_fetched(sandbox) -> None:
    """The listing's sizes bound the fetch: a window holding more than ``events_max_mib`` is one line
    saying how much and what to do, and no object is downloaded."""
    params = sandbox.load(events_s3="s3://ses-events/big/", events_max_mib=1)
    hour = events.window_hours(params)[-1]
    body = os.urandom(2 * 2**20 + 1)
    sandbox.box.client("s3").put_object(Bucket="ses-events", Key=f"big/{hour:%Y/%m/%d/%H}/part-0.gz", Body=body)
    aws = Aws(params)
    store = events.review(aws, params)
    assert store.frame.empty and "holds 2 MiB in 1 object(s), more than events_max_mib=1" in store.notes["error"]
    assert "s3.GetObject" not in aws.stats()["by_operation"]


def _deny(action: str):
    def answer(environ, start_response):
        body = f"<Error><Code>AccessDenied</Code><Message>not authorized to perform {action}</Message></Error>".encode()
        start_response("403 Forbidden", [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
        return [body]

    return answer


@pytest.mark.parametrize("sandbox", [SPIKE], indirect=True)
@pytest.mark.parametrize("operation,action", [("ListObjectsV2", "s3:ListBucket"), ("GetObject", "s3:GetObject")])
def test_access_denied_on_the_store_names_the_action(sandbox, operation: str, action: str) -> None:
    sandbox.box.layer.fault = lambda service, op: _deny(action) if (service, op) == ("s3", operation) else None
    params = sandbox.load(events_s3=sandbox.box.events_s3)
    store = events.review(Aws(params), params)
    assert store.frame.empty
    assert store.notes["error"] == (
        f"event store {sandbox.box.events_s3}: AccessDenied: the role needs IAM action {action}"
    )
    assert events.notes_text(store.notes).startswith("The event store was not read: event store s3://")


def test_the_dialect_prelude_gives_trino_answers_on_duckdb(tmp_path) -> None:
    con = events.connect(tmp_path)
    assert con.execute("SELECT element_at([1, 2], 3), element_at(MAP {'a': [1]}, 'b'), sequence(1, 3)").fetchone() == (
        None,
        None,
        [1, 2, 3],
    )
    assert con.execute(
        "SELECT array_join(transform(filter(array_sort(['b', 'ses:x', 'a']), k -> NOT k LIKE 'ses:%'), k -> k || '!'), '; ')"
    ).fetchone() == ("a!; b!",)


def test_a_reject_and_a_bounce_without_recipients_give_the_queue_parsers_rows(tmp_path) -> None:
    mail = {
        "timestamp": "2026-11-30T10:00:00.000Z",
        "messageId": "m1",
        "source": "a@thephenom.app",
        "destination": ["x@one.example", "y@Two.Example"],
        "tags": {"ses:caller-identity": ["api"], "team": ["a"]},
    }
    records = [
        {"eventType": "Reject", "mail": mail, "reject": {"reason": "Bad content"}},
        {
            "eventType": "Bounce",
            "mail": mail,
            "bounce": {"bounceType": "Permanent", "timestamp": "2026-11-30T10:00:01.000Z"},
        },
        {"eventType": "Send", "mail": mail, "send": {}},
        {"eventType": "Open", "mail": mail, "open": {"timestamp": "2026-11-30T11:00:00.000Z"}},
    ]
    _write(tmp_path, "2026/11/30/10/a", "\n".join(json.dumps(r) for r in records).encode())
    params = params_mod.load(overrides={"events_path": str(tmp_path), "as_of": "2026-12-01T00:00:00Z"})
    store = events.load(None, params)  # type: ignore[arg-type]  # a local store needs no AWS
    rows = [row for r in records for row in feedback.parse_notification(r, "event")]
    expected = feedback.frame(rows)
    order = ["time", "type", "recipient"]
    pd.testing.assert_frame_equal(
        _comparable(store.frame.sort_values(order, ignore_index=True)),
        _comparable(expected.sort_values(order, ignore_index=True)),
    )


@pytest.mark.parametrize(
    "name,value",
    [
        ("events_s3", "https://bucket/prefix"),
        ("events_engine", "spark"),
        ("athena_output_s3", "s3://"),
        ("athena_table", "db.table; DROP"),
        ("events_path", "/no/such/folder"),
    ],
)
def test_bad_store_parameters_are_refused_in_one_line(name: str, value: str) -> None:
    with pytest.raises(ParameterError) as info:
        params_mod.validate({name: value})
    assert name in str(info.value) and "\n" not in str(info.value)


# -- Athena: the plumbing, against the sandbox's (moto's) Athena -----------------------------------
def _stage(sandbox, rows: list[list[str | None]]) -> None:
    """Hand moto the result rows its next query returns (moto runs no SQL)."""
    data = [{"Data": [{} if v is None else {"VarCharValue": v} for v in row]} for row in rows]
    body = {"account_id": "123456789012", "region": sandbox.box.scenario.region, "results": [{"rows": data}]}
    request = urllib.request.Request(
        f"{sandbox.box.endpoint_url}/moto-api/static/athena/query-results",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 201


@pytest.mark.parametrize("sandbox", [SPIKE], indirect=True)
def test_athena_pages_its_results_into_the_same_frame(sandbox, tmp_path) -> None:
    queue = feedback.review(Aws(sandbox.params), sandbox.params)
    # what the analysis text gives on the store, as Athena would hand it back: text, header first
    local = events.review(
        Aws(sandbox.load(events_s3=sandbox.box.events_s3)), sandbox.load(events_s3=sandbox.box.events_s3)
    )
    text = local.frame.assign(
        time=local.frame["time"].dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3] + "Z",
        mail_time=local.frame["mail_time"].dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3] + "Z",
    ).astype(object)
    rows = [list(feedback.COLUMNS)] + text.where(text.notna(), None).values.tolist()
    _stage(sandbox, rows)
    params = sandbox.load(events_engine="athena", athena_output_s3="s3://athena-results/ses-runbook/")
    aws = Aws(params)
    store = events.review(aws, params)
    assert store.notes.get("error") is None
    pd.testing.assert_frame_equal(_comparable(store.frame), _comparable(queue.frame))
    assert aws.calls["athena.StartQueryExecution"] == 1 and aws.calls["athena.GetQueryExecution"] >= 1

    assert aws.calls["athena.GetQueryResults"] == -(-len(rows) // 1000)
    assert aws.writes == {}  # a query writes only its result, to the workgroup's output location


def _query_state(state: str, reason: str = ""):
    def answer(environ, start_response):
        body = json.dumps(
            {"QueryExecution": {"QueryExecutionId": "q-1", "Status": {"State": state, "StateChangeReason": reason}}}
        ).encode()
        start_response("200 OK", [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(body)))])
        return [body]

    return answer


@pytest.mark.parametrize("sandbox", [SPIKE], indirect=True)
def test_a_failed_or_slow_athena_query_is_one_line_with_its_id(sandbox) -> None:
    params = sandbox.load(events_engine="athena", athena_timeout_s=0.5)
    fault = _query_state(
        "FAILED", "TABLE_NOT_FOUND: line 7:8: Table 'awsdatacatalog.default.ses_events'\ndoes not exist"
    )
    sandbox.box.layer.fault = lambda service, op: fault if op == "GetQueryExecution" else None
    error = events.review(Aws(params), params).notes["error"]
    assert error.startswith("Athena query ") and " failed: TABLE_NOT_FOUND" in error and "\n" not in error
    slow = _query_state("RUNNING")
    sandbox.box.layer.fault = lambda service, op: slow if op == "GetQueryExecution" else None
    error = events.review(Aws(params), params).notes["error"]
    assert error.startswith("Athena query ") and "did not finish within athena_timeout_s=0.5 s (state RUNNING)" in error


# -- feedback.notifications: a Firehose event destination counts when its stream and bucket exist ----
@pytest.mark.parametrize("sandbox", [SPIKE], indirect=True)
def test_a_firehose_destination_needs_its_stream_and_its_bucket(sandbox) -> None:
    firehose = sandbox.box.client("firehose")

    def stream(name: str, bucket: str) -> str:
        return firehose.create_delivery_stream(
            DeliveryStreamName=name,
            ExtendedS3DestinationConfiguration={
                "RoleARN": "arn:aws:iam::123456789012:role/firehose",
                "BucketARN": f"arn:aws:s3:::{bucket}",
                "Prefix": notifications.EVENTS_PREFIX,
            },
        )["DeliveryStreamARN"]

    ctx = Context(params=sandbox.params, aws=Aws(sandbox.params))
    good = firehose_destination(ctx, stream("ses-events", notifications.EVENTS_BUCKET))
    assert good == {"kind": "Firehose", "target": "ses-events", "level": "ok", "readers": [sandbox.box.events_s3]}
    gone = firehose_destination(ctx, stream("ses-events-old", "no-such-bucket"))
    assert gone["level"] == "fail" and gone["why"] == (
        "Firehose stream ses-events-old delivers to bucket no-such-bucket, which does not exist"
    )
    missing = firehose_destination(ctx, "arn:aws:firehose:us-east-1:123456789012:deliverystream/nope")
    assert missing["why"] == "Firehose stream nope does not exist"
    assert ctx.aws.calls["firehose.DescribeDeliveryStream"] == 3


def test_the_readme_shows_the_glue_table_and_the_policy_the_code_builds() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert events.glue_ddl("s3://ses-events-ACCOUNT/ses-events/") in readme
    policy = event_store_policy("s3://ses-events-ACCOUNT/ses-events/", "s3://athena-results-ACCOUNT/ses-runbook/")
    assert json.dumps(policy, indent=2) in readme
    assert "aws sesv2 create-configuration-set-event-destination" in readme
    for service, operation in (
        ("s3", "ListObjectsV2"),
        ("s3", "GetObject"),
        ("firehose", "DescribeDeliveryStream"),
        ("athena", "StartQueryExecution"),
        ("athena", "GetQueryExecution"),
        ("athena", "GetQueryResults"),
    ):
        assert allows(policy, iam_action(service, operation)), (service, operation)
    assert "athena:StartQueryExecution" not in json.dumps(event_store_policy("s3://b/p/"))


@pytest.mark.parametrize("sandbox", [SPIKE], indirect=True)
def test_09_feedback_from_the_store_names_what_the_queue_names(sandbox, tmp_path) -> None:
    out = tmp_path / "r"
    sandbox.cli("run", "09_feedback", "--out", str(out), "--jobs", "1", "-p", "events_s3", sandbox.box.events_s3)
    shown = json.dumps(json.loads((out / "09_feedback.ipynb").read_text(encoding="utf-8"))["cells"])
    queue = feedback.review(Aws(sandbox.params), sandbox.params)
    named = feedback.cause_text(feedback.cause(queue, sandbox.params))
    assert "responsible: recipient domain mail.sunsetisp.example" in named
    assert json.dumps(named) in shown  # the same sentence: the same domain, From, caller and tags
    assert f"of {sandbox.box.events_s3} under" in shown and "from queue" not in shown


def test_an_unreachable_store_is_one_line_naming_the_call(monkeypatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    with closed_port() as port:
        params = params_mod.load(
            overrides={
                "endpoint_url": f"http://127.0.0.1:{port}",
                "events_s3": "s3://ses-events/ses-events/",
                "max_attempts": 1,
                "as_of": "2026-11-01T00:00:00Z",
            },
        )
        error = events.review(Aws(params), params).notes["error"]
    assert error.startswith("event store s3://ses-events/ses-events/: 127.0.0.1:") and "s3.ListObjectsV2" in error
    assert "\n" not in error
