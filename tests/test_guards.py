"""What the runbook's guards promise, each at its edges: the reputation levels exactly on and just
under each line, the read-only guard over every operation of every service the runbook uses,
every page of a paged answer, certificate host names, and access key ids masked in error messages.

No sandbox here: AWS answers come from botocore's Stubber, the SMTP server is the sandbox's own
class on a free port, and nothing is sent anywhere.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import botocore.handlers
import botocore.model
import pytest
from botocore.stub import ANY, Stubber

from ses_runbook.checks import Context, run
from ses_runbook.core import endpoints
from ses_runbook.core import params as params_mod
from ses_runbook.core.aws import (
    NEVER_OPERATIONS,
    READ_OPERATIONS,
    READ_PATH_OPERATIONS,
    RECEIVE_VISIBILITY_S,
    WRITE_OPERATIONS,
    Aws,
    botocore_session,
    describe_error,
    is_read,
    parse_timestamp,
)
from ses_runbook.core.endpoints import ENDPOINT_PREFIXES
from ses_runbook.core.errors import ReadOnlyError
from ses_runbook.core.redact import mask_key_id, mask_key_ids
from ses_runbook.core.results import Status
from ses_runbook.sources import metrics, ses

SERVICES = (
    "ses",
    "sesv2",
    "cloudwatch",
    "iam",
    "sts",
    "sqs",
    "sns",
    "s3",
)  # every service the runbook makes a client for
GUARDED = (*SERVICES, "athena", "firehose")  # the event store's engines and its Firehose destination
AS_OF = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
KEY_ID = "AKIAIOSFODNN7EXAMPLE"


def _params(**overrides: Any) -> params_mod.Params:
    # an endpoint where nothing listens: a request that got past a guard could not reach AWS either
    return params_mod.load(
        overrides={
            "endpoint_url": "http://127.0.0.1:9",
            "as_of": "2026-11-01T00:00:00Z",
            "max_attempts": 1,
            **overrides,
        },
        environ={},
    )


def _aws(**overrides: Any) -> Aws:
    session = boto3.Session(
        aws_access_key_id="AKIATESTKEYNOTREAL00", aws_secret_access_key="not-a-secret", region_name="us-east-1"
    )
    return Aws(_params(**overrides), session=session)


# -- reputation: on each level and just under it, for both checks -----------------------------------
RATES = {
    "reputation.bounce_rate": ("bounce_rate", "bounce_rate_warn", "bounce_rate_fail"),
    "reputation.complaint_rate": ("complaint_rate", "complaint_rate_warn", "complaint_rate_fail"),
}


def _rate_status(monkeypatch, check_id: str, value: float, **levels: float) -> Status:
    qid = RATES[check_id][0]
    series = {q: [] for q in metrics.METRICS}
    series[qid] = [(AS_OF - dt.timedelta(hours=2), 0.0), (AS_OF - dt.timedelta(hours=1), value)]
    answer = {
        "period": 3600,
        "start": AS_OF - dt.timedelta(days=14),
        "end": AS_OF,
        "notes": [],
        "series": series,
        "configuration_sets": {},
    }
    monkeypatch.setattr(metrics, "metric_series", lambda aws, params: answer)
    params = _params(**levels)
    [result] = run(Context(params, Aws(params)), ids=[check_id])
    assert result.details["latest"] == pytest.approx(value, abs=1e-6)
    return result.status


@pytest.mark.parametrize("check_id", list(RATES))
@pytest.mark.parametrize("levels", [{}, {"warn": 0.02, "fail": 0.04}], ids=["aws-levels", "own-levels"])
def test_reputation_status_on_and_just_under_each_level(monkeypatch, check_id: str, levels: dict) -> None:
    _, warn_name, fail_name = RATES[check_id]
    field = params_mod.Params.model_fields
    warn = levels.get("warn", field[warn_name].default)
    fail = levels.get("fail", field[fail_name].default)
    chosen = {warn_name: warn, fail_name: fail}
    under = 1e-5  # a rate 0.001 percentage points below a level is still below it
    expected = [
        (0.0, Status.OK),
        (warn - under, Status.OK),
        (warn, Status.WARN),
        ((warn + fail) / 2, Status.WARN),
        (fail - under, Status.WARN),
        (fail, Status.FAIL),
        (min(1.0, fail * 3), Status.FAIL),
    ]
    got = [(value, _rate_status(monkeypatch, check_id, value, **chosen)) for value, _ in expected]
    assert got == expected


def test_reputation_summary_states_rate_and_level(monkeypatch) -> None:
    monkeypatch.setattr(
        metrics,
        "metric_series",
        lambda aws, params: {
            "period": 3600,
            "notes": [],
            "configuration_sets": {},
            "series": {**{q: [] for q in metrics.METRICS}, "bounce_rate": [(AS_OF, 0.0731)]},
        },
    )
    params = _params()
    [result] = run(Context(params, Aws(params)), ids=["reputation.bounce_rate"])
    assert result.status is Status.WARN
    assert "bounce rate 7.31%" in result.summary and "at or above 5.00%" in result.summary


@pytest.mark.parametrize(
    ("value", "status", "tail"),
    [
        (0.0112345678, Status.OK, ""),
        (0.1, Status.FAIL, ": at or above 10.00%, the level at which AWS may pause sending"),
    ],
)
def test_reputation_details_name_the_period_the_peak_and_the_partial_hour(monkeypatch, value, status, tail) -> None:
    """What a report shows of the judged period: the latest whole hour (the running one left out), the
    peak of the lookback, the levels; figures rounded to six places."""
    hours = [AS_OF - dt.timedelta(hours=n) for n in (3, 2, 1, 0)]
    partial = AS_OF - dt.timedelta(minutes=30)
    monkeypatch.setattr(
        metrics,
        "metric_series",
        lambda aws, params: {
            "period": 3600,
            "notes": [],
            "configuration_sets": {},
            "partial_from": partial,
            "series": {
                **{q: [] for q in metrics.METRICS},
                "bounce_rate": list(zip(hours, [0.02, 0.0412345678, value, 0.5], strict=True)),
            },
        },
    )
    params = _params()
    [result] = run(Context(params, Aws(params)), ids=["reputation.bounce_rate"])
    assert result.status is status
    assert result.details == {
        "latest": round(value, 6),
        "latest_at": "2026-10-31T23:00:00+00:00",
        "period": "2026-10-31 23:00-24:00 UTC",
        "peak": 0.1 if value == 0.1 else 0.041235,
        "peak_at": ("2026-10-31T23:00:00+00:00" if value == 0.1 else "2026-10-31T22:00:00+00:00"),
        "warn_at": 0.05,
        "fail_at": 0.1,
        "period_s": 3600,
        "partial_left_out": "2026-10-31T23:30:00+00:00",
    }
    peak = "10.00%" if value == 0.1 else "4.12%"
    assert result.summary == (
        f"bounce rate {value:.2%} for 2026-10-31 23:00-24:00 UTC, the latest whole period "
        f"(peak {peak} in {params.lookback_days} days){tail}"
    )


@pytest.mark.parametrize(
    "check_id, label", [("reputation.bounce_rate", "bounce"), ("reputation.complaint_rate", "complaint")]
)
def test_reputation_without_a_whole_period_is_ok_and_says_why(monkeypatch, check_id: str, label: str) -> None:
    """A new or idle account publishes no rate: ok, saying so, with the data notes kept (not a crash, not a fail)."""
    note = "no datapoints for Reputation.BounceRate"
    monkeypatch.setattr(
        metrics,
        "metric_series",
        lambda aws, params: {
            "period": 3600,
            "notes": [note],
            "configuration_sets": {},
            "series": {q: [] for q in metrics.METRICS},
        },
    )
    params = _params()
    [result] = run(Context(params, Aws(params)), ids=[check_id])
    assert result.status is Status.OK
    assert result.summary == f"no {label} rate published for a whole period yet (no sending, or a new account)"
    assert result.details == {"notes": [note]}


# -- the read-only guard, over botocore's own list of operations --------------------------------------
def _sample(shape: Any) -> Any:
    """The smallest valid value of a botocore shape: required members only, min lengths and ranges kept,
    one member of a tagged union; so parameter validation passes and the guard is what answers."""
    meta = shape.metadata
    kind = shape.type_name
    if kind == "structure":
        if getattr(shape, "is_tagged_union", False):
            name = next(iter(shape.members))
            return {name: _sample(shape.members[name])}
        return {name: _sample(shape.members[name]) for name in shape.required_members}
    if kind == "list":
        return [_sample(shape.member) for _ in range(max(1, meta.get("min", 1)))]
    if kind == "map":
        return {"k" * max(1, shape.key.metadata.get("min", 1)): _sample(shape.value)}
    if kind == "string":
        return shape.enum[0] if shape.enum else "a" * max(1, int(meta.get("min", 1)))
    if kind in ("integer", "long"):
        return max(1, int(meta.get("min", 1)))
    if kind in ("float", "double"):
        return float(max(1, meta.get("min", 1)))
    if kind == "boolean":
        return False
    if kind == "timestamp":
        return AS_OF
    if kind == "blob":
        return b"a" * max(1, int(meta.get("min", 1)))
    raise TypeError(f"no sample for a {kind} shape")


def _operations() -> list[tuple[str, str]]:
    session = boto3.Session(region_name="us-east-1")
    return [(service, op) for service in GUARDED for op in session._session.get_service_model(service).operation_names]


class Sent(Exception):
    """Raised where the request would go on the wire: the guard let it through."""


@pytest.fixture(scope="module")
def wired() -> Iterator[dict[str, Aws]]:
    """Clients whose requests stop just before the wire, for each combination of the two switches."""
    out = {}
    for name, switches in {
        "read-only": {},
        "allow_writes": {"allow_writes": True},
        "send_test_email": {"send_test_email": True},
    }.items():
        aws = _aws(**switches)
        for service in GUARDED:
            aws.client(service).meta.events.register("before-send.*.*", _refuse_to_send)
        out[name] = aws
    yield out


def _refuse_to_send(request: Any, **_: Any) -> None:
    raise Sent(request.context.get("operation_name", "?"))


def _attempt(aws: Aws, service: str, operation: str) -> str:
    """'refused' (ReadOnlyError before sending) or 'sent' (reached the wire)."""
    client = aws.client(service)
    method = {api: py for py, api in client.meta.method_to_api_mapping.items()}[operation]
    model = client.meta.service_model.operation_model(operation)
    try:
        getattr(client, method)(**(_sample(model.input_shape) if model.input_shape else {}))
    except ReadOnlyError:
        return "refused"
    except Sent:
        return "sent"
    raise AssertionError(f"{service}.{operation} neither refused nor sent")


OPERATIONS = _operations()


@pytest.mark.parametrize("service", GUARDED)
def test_guard_refuses_every_operation_off_the_read_path_before_sending(wired: dict[str, Aws], service: str) -> None:
    ops = [op for s, op in OPERATIONS if s == service]
    assert len(ops) > 10  # botocore's model, not a hand-made list
    aws = wired["read-only"]
    outcome = {op: _attempt(aws, service, op) for op in ops}
    # only the listed reads go out; the queue's read-path calls do only with their own values (below)
    wrong = {
        op: got for op, got in outcome.items() if got != ("sent" if f"{service}.{op}" in READ_OPERATIONS else "refused")
    }
    assert wrong == {}, wrong
    assert sum(aws.writes.values()) == 0


def test_every_listed_operation_is_in_botocores_model() -> None:
    session = boto3.Session(region_name="us-east-1")._session
    listed = set(READ_OPERATIONS) | set(WRITE_OPERATIONS) | set(READ_PATH_OPERATIONS) | set(NEVER_OPERATIONS)
    missing = [
        key
        for key in sorted(listed)
        if key.split(".")[1] not in session.get_service_model(key.split(".")[0]).operation_names
    ]
    assert missing == []
    assert {key.split(".")[0] for key in READ_OPERATIONS} == set(GUARDED)  # reads of every guarded service
    # a read is named as one, but for the three whose names do not say so (IAM builds a report of what
    # it holds, simulates a policy; Athena runs a query); nothing that mints or reveals is a read
    unnamed = {k for k in READ_OPERATIONS if not k.split(".")[1].startswith(("Get", "List", "Describe"))}
    assert unnamed == {"iam.GenerateCredentialReport", "iam.SimulatePrincipalPolicy", "athena.StartQueryExecution"}
    assert not READ_OPERATIONS & (set(NEVER_OPERATIONS) | set(WRITE_OPERATIONS) | set(READ_PATH_OPERATIONS))


@pytest.mark.parametrize(
    ("service", "operation", "kwargs", "why"),
    [
        ("sts", "GetSessionToken", {}, "mints credentials"),
        ("sts", "GetFederationToken", {"Name": "x"}, "mints credentials"),
        ("sts", "AssumeRole", {"RoleArn": "arn:aws:iam::123456789012:role/x", "RoleSessionName": "x"}, "mints"),
        ("secretsmanager", "GetSecretValue", {"SecretId": "prod/db"}, "reads a secret"),
        ("sso", "GetRoleCredentials", {"roleName": "x", "accountId": "123456789012", "accessToken": "t"}, "mints"),
    ],
)
@pytest.mark.parametrize("switches", [{}, {"allow_writes": True}])
def test_credentials_and_secrets_are_refused_whatever_the_switches(service, operation, kwargs, why, switches) -> None:
    aws = _aws(**switches)
    with pytest.raises(ReadOnlyError) as refused:
        aws.call(service, operation, **kwargs)
    message = str(refused.value)
    assert message.startswith(f"{service}.{operation} is refused: it {why}") and "\n" not in message
    assert aws.stats()["total"] == 0


QUEUE = "http://127.0.0.1:9/123456789012/ses-feedback"
HIDES = "it hides the messages it reads for {}, not the runbook's 60 s"
OTHER_THAN_0 = "it sets a visibility timeout other than 0"
OTHER_QUEUE = "its queue is not the parameters' feedback_queue_url"


@pytest.mark.parametrize(
    ("operation", "kwargs", "read_only"),
    [
        ("ReceiveMessage", {"QueueUrl": QUEUE, "VisibilityTimeout": RECEIVE_VISIBILITY_S}, "sent"),
        ("ReceiveMessage", {"QueueUrl": QUEUE + "-other", "VisibilityTimeout": RECEIVE_VISIBILITY_S}, "sent"),
        ("ReceiveMessage", {"QueueUrl": QUEUE, "VisibilityTimeout": 43200}, HIDES.format("43200 s")),
        ("ReceiveMessage", {"QueueUrl": QUEUE}, HIDES.format("the queue's default")),
        ("ChangeMessageVisibility", {"QueueUrl": QUEUE, "ReceiptHandle": "h", "VisibilityTimeout": 0}, "sent"),
        (
            "ChangeMessageVisibility",
            {"QueueUrl": QUEUE, "ReceiptHandle": "h", "VisibilityTimeout": 600},
            OTHER_THAN_0,
        ),
        (
            "ChangeMessageVisibility",
            {"QueueUrl": QUEUE + "-other", "ReceiptHandle": "h", "VisibilityTimeout": 0},
            OTHER_QUEUE,
        ),
        (
            "ChangeMessageVisibilityBatch",
            {"QueueUrl": QUEUE, "Entries": [{"Id": "1", "ReceiptHandle": "h", "VisibilityTimeout": 0}]},
            "sent",
        ),
        (
            "ChangeMessageVisibilityBatch",
            {
                "QueueUrl": QUEUE,
                "Entries": [
                    {"Id": "1", "ReceiptHandle": "h", "VisibilityTimeout": 0},
                    {"Id": "2", "ReceiptHandle": "h", "VisibilityTimeout": 43200},
                ],
            },
            OTHER_THAN_0,
        ),
        (
            "ChangeMessageVisibilityBatch",
            {"QueueUrl": QUEUE + "-other", "Entries": [{"Id": "1", "ReceiptHandle": "h", "VisibilityTimeout": 0}]},
            OTHER_QUEUE,
        ),
        (
            "DeleteMessageBatch",
            {"QueueUrl": QUEUE, "Entries": [{"Id": "1", "ReceiptHandle": "h"}]},
            "it is not on the runbook's read path",
        ),
    ],
)
def test_queue_reads_go_out_only_with_the_runbooks_own_values(operation: str, kwargs: dict, read_only: str) -> None:
    """A receive hides messages only for the runbook's own minute; visibility only goes back to 0, and
    only on the named queue; with allow_writes anything else goes out, counted as a write."""
    for switches in ({}, {"allow_writes": True}):
        aws = _aws(feedback_queue_url=QUEUE, **switches)
        aws.client("sqs").meta.events.register("before-send.*.*", _refuse_to_send)
        for _ in range(2):
            try:
                aws.call("sqs", operation, **kwargs)
                got = "unreachable"
            except ReadOnlyError as exc:
                got = str(exc)
            except Sent:
                got = "sent"
        if read_only == "sent" or switches:
            assert got == "sent", (switches, got)
            assert aws.stats()["writes"] == (0 if read_only == "sent" else 2)  # each write counted
        else:
            assert (
                got
                == f"sqs.{operation} is a write and the run is read-only ({read_only}); set allow_writes=true to allow it"
            )
            assert aws.stats()["total"] == 0


@pytest.mark.parametrize("switch", ["allow_writes", "send_test_email"])
def test_each_switch_lets_through_only_its_own_writes(wired: dict[str, Aws], switch: str) -> None:
    aws = wired[switch]
    for key, needed in WRITE_OPERATIONS.items():
        service, operation = key.split(".")
        assert _attempt(aws, service, operation) == ("sent" if needed == switch else "refused"), key
    # an operation the runbook never makes needs allow_writes, and send_test_email alone does not open it
    assert _attempt(aws, "iam", "DeleteUser") == ("sent" if switch == "allow_writes" else "refused")
    assert _attempt(aws, "sesv2", "DeleteEmailIdentity") == ("sent" if switch == "allow_writes" else "refused")


def test_a_grant_opens_its_one_write_for_its_own_client_and_counts_it() -> None:
    """``--notify sns:`` grants ``sns.Publish`` to the notification's client alone: that write goes out
    (and is counted as one) in a read-only run; every other write of that client, and the same write
    from a client without the grant, is refused."""
    granted = Aws(_params(), session=_aws().session, grants={"sns.Publish"})
    plain = _aws()
    for aws in (granted, plain):
        for service in ("sns", "iam"):
            aws.client(service).meta.events.register("before-send.*.*", _refuse_to_send)
    assert _attempt(granted, "sns", "Publish") == "sent" and granted.writes["sns.Publish"] == 1
    assert _attempt(granted, "sns", "DeleteTopic") == "refused" and _attempt(granted, "iam", "DeleteUser") == "refused"
    assert _attempt(plain, "sns", "Publish") == "refused" and plain.writes["sns.Publish"] == 0


def test_named_writes_and_the_read_rule() -> None:
    assert {
        "iam.CreateAccessKey",
        "sesv2.DeleteSuppressedDestination",
        "sesv2.PutAccountSendingAttributes",
        "ses.SendEmail",
    } <= set(WRITE_OPERATIONS)
    assert not any(is_read(*key.split(".")) for key in WRITE_OPERATIONS)
    assert (
        is_read("cloudwatch", "GetMetricData")
        and is_read("ses", "ListIdentities")
        and is_read("cloudwatch", "DescribeAlarmsForMetric")
    )
    assert not is_read("iam", "CreateAccessKey") and not is_read("ses", "VerifyDomainIdentity")


def test_refused_message_names_the_switch() -> None:
    aws = _aws()
    with pytest.raises(ReadOnlyError, match=r"iam\.CreateAccessKey is a write .* set allow_writes=true"):
        aws.call("iam", "CreateAccessKey", UserName="ses-smtp-nest")
    with pytest.raises(ReadOnlyError, match=r"sesv2\.SendEmail .* set send_test_email=true"):
        aws.call(
            "sesv2",
            "SendEmail",
            FromEmailAddress="a@thephenom.app",
            Destination={"ToAddresses": ["b@example.com"]},
            Content={"Simple": {"Subject": {"Data": "x"}, "Body": {"Text": {"Data": "x"}}}},
        )
    assert aws.stats()["writes"] == 0


# -- every page of a paged answer -------------------------------------------------------------------
@pytest.fixture
def stubbed() -> Iterator[tuple[Aws, dict[str, Stubber]]]:
    aws = _aws()
    stubs = {service: Stubber(aws.client(service)) for service in SERVICES}
    for stub in stubs.values():
        stub.activate()
    yield aws, stubs
    for stub in stubs.values():
        stub.assert_no_pending_responses()
        stub.deactivate()


def test_get_metric_data_and_configuration_sets_follow_next_token(stubbed) -> None:
    aws, stubs = stubbed
    params = aws.params
    stubs["sesv2"].add_response(
        "list_configuration_sets", {"ConfigurationSets": ["alpha"], "NextToken": "sets-2"}, {"PageSize": ANY}
    )
    stubs["sesv2"].add_response(
        "list_configuration_sets", {"ConfigurationSets": ["beta"]}, {"PageSize": ANY, "NextToken": "sets-2"}
    )
    hours = [AS_OF - dt.timedelta(hours=h) for h in (3, 2, 1)]
    stubs["cloudwatch"].add_response(
        "get_metric_data",
        {
            "MetricDataResults": [
                {"Id": "bounce_rate", "Timestamps": hours[:2], "Values": [0.01, 0.02], "StatusCode": "PartialData"},
                {"Id": "send", "Timestamps": hours[:2], "Values": [100.0, 110.0], "StatusCode": "PartialData"},
            ],
            "NextToken": "metrics-2",
        },
        {"MetricDataQueries": ANY, "StartTime": ANY, "EndTime": ANY, "ScanBy": ANY},
    )
    stubs["cloudwatch"].add_response(
        "get_metric_data",
        {
            "MetricDataResults": [
                {"Id": "bounce_rate", "Timestamps": hours[2:], "Values": [0.12], "StatusCode": "Complete"},
                {"Id": "send", "Timestamps": hours[2:], "Values": [120.0], "StatusCode": "Complete"},
                {"Id": "cs1_send", "Timestamps": hours[2:], "Values": [7.0], "StatusCode": "Complete"},
            ]
        },
        {"MetricDataQueries": ANY, "StartTime": ANY, "EndTime": ANY, "ScanBy": ANY, "NextToken": "metrics-2"},
    )
    data = metrics.metric_series(aws, params)
    assert list(data["configuration_sets"]) == ["alpha", "beta"]
    assert data["series"]["bounce_rate"] == list(zip(hours, [0.01, 0.02, 0.12], strict=False))
    assert [v for _, v in data["series"]["send"]] == [100.0, 110.0, 120.0]
    assert data["configuration_sets"]["beta"]["send"] == [(hours[2], 7.0)]
    assert aws.stats()["by_operation"] == {"cloudwatch.GetMetricData": 2, "sesv2.ListConfigurationSets": 2}
    # the check judges the last point, which only the second page holds
    [result] = run(Context(params, aws), ids=["reputation.bounce_rate"])
    assert result.status is Status.FAIL and result.details["latest"] == 0.12


def test_identity_listings_follow_next_token(stubbed) -> None:
    aws, stubs = stubbed
    stubs["ses"].add_response(
        "list_identities", {"Identities": ["a.example", "b.example"], "NextToken": "ids-2"}, {"MaxItems": ANY}
    )
    stubs["ses"].add_response(
        "list_identities", {"Identities": ["c@example.org"]}, {"MaxItems": ANY, "NextToken": "ids-2"}
    )
    assert ses.identities(aws) == ["a.example", "b.example", "c@example.org"]
    stubs["sesv2"].add_response(
        "list_email_identities",
        {
            "EmailIdentities": [
                {
                    "IdentityName": "a.example",
                    "IdentityType": "DOMAIN",
                    "VerificationStatus": "SUCCESS",
                    "SendingEnabled": True,
                }
            ],
            "NextToken": "v2-2",
        },
        {"PageSize": ANY},
    )
    stubs["sesv2"].add_response(
        "list_email_identities",
        {
            "EmailIdentities": [
                {
                    "IdentityName": "b.example",
                    "IdentityType": "DOMAIN",
                    "VerificationStatus": "FAILED",
                    "SendingEnabled": False,
                }
            ]
        },
        {"PageSize": ANY, "NextToken": "v2-2"},
    )
    found = ses.email_identities(aws)
    assert {k: v["verification"] for k, v in found.items()} == {"a.example": "Success", "b.example": "Failed"}


def test_suppression_list_follows_next_token(stubbed) -> None:
    aws, stubs = stubbed
    first = [{"EmailAddress": f"a{i}@example.net", "Reason": "BOUNCE", "LastUpdateTime": AS_OF} for i in range(3)]
    stubs["sesv2"].add_response(
        "list_suppressed_destinations", {"SuppressedDestinationSummaries": first, "NextToken": "s-2"}, {"PageSize": ANY}
    )
    stubs["sesv2"].add_response(
        "list_suppressed_destinations",
        {
            "SuppressedDestinationSummaries": [
                {"EmailAddress": "z@example.net", "Reason": "COMPLAINT", "LastUpdateTime": AS_OF}
            ]
        },
        {"PageSize": ANY, "NextToken": "s-2"},
    )
    assert [s["EmailAddress"] for s in ses.suppressed_destinations(aws)] == [
        "a0@example.net",
        "a1@example.net",
        "a2@example.net",
        "z@example.net",
    ]


def test_iam_authorization_details_follow_the_marker(stubbed) -> None:
    aws, stubs = stubbed
    allow = (
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ses:SendRawEmail", "Resource": "*"}]}'
    )

    def user(name):
        return {
            "UserName": name,
            "UserId": "AIDA" + name.upper().ljust(17, "X"),
            "Arn": f"arn:aws:iam::123456789012:user/{name}",
            "Path": "/",
            "CreateDate": AS_OF,
            "UserPolicyList": [{"PolicyName": "send", "PolicyDocument": allow}],
        }

    stubs["iam"].add_response(
        "get_account_authorization_details",
        {"UserDetailList": [user("one")], "Policies": [], "IsTruncated": True, "Marker": "m-2"},
        {"Filter": ANY},
    )
    # the last page leaves out a list it has nothing for (IAM does): that is an empty list, not an error
    stubs["iam"].add_response(
        "get_account_authorization_details",
        {"UserDetailList": [user("two")], "IsTruncated": False},
        {"Filter": ANY, "Marker": "m-2"},
    )
    found = ses.user_policies(aws)
    assert sorted(found) == ["one", "two"] and found["two"]["send"]["Statement"][0]["Action"] == "ses:SendRawEmail"


# -- access key ids never leave in an error message ----------------------------------------------------
def test_mask_key_ids_in_free_text() -> None:
    text = f"The Access Key ID {KEY_ID} does not exist; temporary ASIAABCDEFGHIJKLMNOP too; AIDAABCDEFGHIJKLMNOPQ user"
    masked = mask_key_ids(text)
    assert masked == "The Access Key ID ****MPLE does not exist; temporary ****MNOP too; ****NOPQ user"
    assert mask_key_ids("no key here: AKIA1 is too short") == "no key here: AKIA1 is too short"
    assert mask_key_id(KEY_ID) == "****MPLE" and mask_key_id(None) == ""


def test_error_messages_mask_key_ids() -> None:
    error = botocore.exceptions.ClientError(
        {
            "Error": {"Code": "InvalidClientTokenId", "Message": f"The security token {KEY_ID} is invalid."},
            "ResponseMetadata": {"HTTPStatusCode": 403},
        },
        "GetAccount",
    )
    error.ses_runbook_call = ("sesv2", "GetAccount")
    said = describe_error(error, _params())
    assert KEY_ID not in said and "****MPLE" in said and "InvalidClientTokenId" in said
    other = describe_error(RuntimeError(f"signing failed for {KEY_ID}"), _params())
    assert KEY_ID not in other and other == "RuntimeError: signing failed for ****MPLE"


def test_a_check_error_quoting_a_key_id_is_masked(stubbed) -> None:
    aws, stubs = stubbed
    stubs["sesv2"].add_client_error(
        "get_account",
        "UnrecognizedClientException",
        f"The security token included in the request is invalid: {KEY_ID}",
        403,
    )
    [result] = run(Context(aws.params, aws), ids=["account.sending_enabled"])
    assert result.status is Status.ERROR
    assert KEY_ID not in result.summary and "****MPLE" in result.summary


# -- SMTP: the certificate must be valid for the host connected to ------------------------------------
class _OtherNameServer:
    """The sandbox's SMTP server with a certificate from the trusted CA, issued for some other host name."""

    @staticmethod
    def start(tmp_path: Path, names: tuple[str, ...]):
        import ssl

        import trustme

        from ses_runbook.sandbox.smtp import SmtpServer

        class Server(SmtpServer):
            def _tls_context(self) -> ssl.SSLContext:
                ca = trustme.CA(organization_name="elsewhere")
                context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                ca.issue_cert(*names).configure_cert(context)
                self.cert_dir.mkdir(parents=True, exist_ok=True)
                ca.cert_pem.write_to_path(str(self.ca_file))
                return context

        return Server({KEY_ID: "password"}, tmp_path / names[0]).start()


@pytest.mark.parametrize(
    "names,verified", [(("smtp.elsewhere.example",), False), (("127.0.0.1",), True)], ids=["other-name", "right-name"]
)
def test_smtp_certificate_for_another_name_fails(tmp_path, monkeypatch, names, verified) -> None:
    server = _OtherNameServer.start(tmp_path, names)
    try:
        monkeypatch.setenv("GUARD_SMTP_USER", KEY_ID)
        monkeypatch.setenv("GUARD_SMTP_PASSWORD", "password")
        params = _params(
            smtp_host="127.0.0.1",
            smtp_port=server.port,
            smtp_tls_ca_file=str(server.ca_file),
            smtp_username_env="GUARD_SMTP_USER",
            smtp_password_env="GUARD_SMTP_PASSWORD",
        )
        [result] = run(Context(params, Aws(params)), ids=["smtp.auth"])
    finally:
        server.stop()
    if verified:  # same CA, the right name: the login goes through, so only the name made the difference
        assert result.status is Status.OK and result.details["code"] == 235, result.summary
    else:
        assert result.status is Status.FAIL, result.summary
        assert "could not be verified" in result.summary and "mismatch" in result.summary.lower()
        assert result.details["code"] is None  # no AUTH was attempted over an unverified channel


# -- parameter validation, in this process (the CLI tests see the same through a subprocess) ---------
REFUSED = [
    ("region", "us-east-9"),
    ("region", "12"),
    ("sender", "not-an-address"),
    ("test_recipient", "x@"),
    ("lookback_days", "lots"),
    ("lookback_days", "0"),
    ("lookback_days", "456"),
    ("metrics_period_s", "59"),
    ("bounce_rate_warn", "2"),
    ("bounce_rate_warn", "0.11"),
    ("complaint_rate_warn", "0.006"),
    ("quota_warn", "1.01"),
    ("dns_nameservers", "127.0.0.1:99999"),
    ("dns_nameservers", "127.0.0.1:0"),
    ("dns_nameservers", "127.0.0.1:x"),
    ("smtp_port", "0"),
    ("smtp_port", "65536"),
    ("as_of", "yesterday"),
    ("send_test_email", "maybe"),
    ("endpoint_url", "not a url"),
    ("endpoint_url", "ftp://127.0.0.1"),
    ("smtp_password_env", "hunter2 secret"),
    ("domain", ""),
    ("domain", "no_dots"),
    ("smtp_tls_ca_file", "/nonexistent/ca.pem"),
    ("unsuppress", "a@b.co,nope"),
    ("no_such_parameter", "1"),
]
ACCEPTED = [
    ("lookback_days", "1", 1),
    ("lookback_days", "455", 455),
    ("metrics_period_s", "60", 60),
    ("bounce_rate_warn", "0.10", 0.10),
    ("complaint_rate_warn", "0.005", 0.005),
    ("quota_warn", "1.0", 1.0),
    ("dns_nameservers", "127.0.0.1:65535, 10.0.0.2", ["127.0.0.1:65535", "10.0.0.2"]),
    ("smtp_port", "65535", 65535),
    ("as_of", "2026-11-01T02:00:00+02:00", "2026-11-01T00:00:00Z"),
    ("as_of", "2026-11-01T00:00:00", "2026-11-01T00:00:00Z"),
    ("endpoint_url", "http://127.0.0.1:5050", "http://127.0.0.1:5050"),
    ("endpoint_url", "", None),
    ("domain", "Mail.Example.ORG.", "mail.example.org"),
    ("sender", " a@thephenom.app ", "a@thephenom.app"),
    ("send_test_email", "true", True),
    ("smtp_password_env", "MY_SMTP_PASSWORD_2", "MY_SMTP_PASSWORD_2"),
    ("unsuppress", "a@b.co, c@d.org", ["a@b.co", "c@d.org"]),
    ("region", "eu-west-1", "eu-west-1"),
]


@pytest.mark.parametrize("name,value", REFUSED, ids=[f"{n}={v}" for n, v in REFUSED])
def test_bad_parameter_is_refused_naming_it(name: str, value: str) -> None:
    with pytest.raises(params_mod.ParameterError) as refused:
        params_mod.load(raw_overrides=[(name, value)], environ={})
    assert name in str(refused.value)


@pytest.mark.parametrize("name,value,expected", ACCEPTED, ids=[f"{n}={v}" for n, v, _ in ACCEPTED])
def test_parameter_edges_are_accepted(name: str, value: str, expected: Any) -> None:
    assert getattr(params_mod.load(raw_overrides=[(name, value)], environ={}), name) == expected


def test_environment_fills_only_unset_parameters() -> None:
    environ = {"SES_RUNBOOK_ENDPOINT_URL": "http://127.0.0.1:5050", "SES_RUNBOOK_REGION": "eu-west-1"}
    p = params_mod.load(environ=environ)
    assert p.endpoint_url == "http://127.0.0.1:5050" and p.region == "us-east-1"  # region has a default: not taken
    assert (
        params_mod.load(overrides={"endpoint_url": "http://127.0.0.1:6000"}, environ=environ).endpoint_url
        == "http://127.0.0.1:6000"
    )


# -- endpoint data ------------------------------------------------------------------------------
# The runbook's sessions share a resolver over its own services' entries of endpoints.json. A
# service whose entry was dropped would still get a client, at a made-up host: compare each
# service and region with botocore's own resolver over the whole file.
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2", "cn-north-1", "us-gov-west-1", "us-iso-east-1")


@pytest.mark.parametrize("service", sorted(ENDPOINT_PREFIXES))
def test_clients_resolve_as_with_the_whole_endpoint_file(service: str) -> None:
    import botocore.session

    ours, whole = botocore_session(), botocore.session.Session()
    for session in (ours, whole):
        session.set_credentials("AKIATESTKEYNOTREAL00", "not-a-secret")
    for region in REGIONS:
        mine, theirs = (s.create_client(service, region_name=region) for s in (ours, whole))
        assert (mine.meta.endpoint_url, mine.meta.region_name) == (theirs.meta.endpoint_url, theirs.meta.region_name), (
            region
        )
        assert mine.meta.partition == theirs.meta.partition
    assert ours.get_available_regions(service) == whole.get_available_regions(service)


@pytest.mark.parametrize(
    "value",
    [
        1761955200,
        1761955200.25,
        "1761955200",
        "2026-11-01T00:00:00Z",
        "2026-11-01T00:00:00.123Z",
        "2026-11-01T01:30:00+01:30",
        "Sat, 01 Nov 2026 00:00:00 GMT",
        "2026-11-01T00:00:00",
    ],
)
def test_timestamps_read_as_botocore_reads_them(value) -> None:
    import botocore.utils

    ours, theirs = parse_timestamp(value), botocore.utils.parse_timestamp(value)
    assert ours == theirs and (ours.tzinfo is None) == (theirs.tzinfo is None)
    assert ours.utcoffset() == theirs.utcoffset() or isinstance(value, (int, float))  # epochs: UTC, not the local zone


def test_ses_regions_are_those_a_whole_session_lists() -> None:
    import botocore.session

    whole = botocore.session.Session()
    expected = {
        region
        for partition in whole.get_available_partitions()
        for service in ("ses", "sesv2")
        for region in whole.get_available_regions(service, partition_name=partition)
    }
    assert endpoints.ses_regions() == expected and {"us-east-1", "eu-west-1"} <= expected


def _as_called(service: str, model: Any) -> Any:
    """A model as after every operation was called once: botocore's S3 handler edits an operation's
    model in place at its first call (the bucket leaves the request path), and the loader keeps one
    copy per process, so what an earlier test called would otherwise decide this comparison."""
    if service != "s3" or "operations" not in model:
        return model
    model = copy.deepcopy(model)
    service_model = botocore.model.ServiceModel(model, service)
    for name in model["operations"]:
        botocore.handlers.remove_bucket_from_url_paths_from_model({}, service_model.operation_model(name), {})
    return model


@pytest.mark.parametrize("service", sorted(ENDPOINT_PREFIXES))
def test_models_load_as_botocore_loads_them(service: str) -> None:
    import botocore.loaders
    import botocore.session

    ours, theirs = botocore_session(), botocore.session.Session()
    for type_name in ("service-2", "paginators-1", "endpoint-rule-set-1"):
        assert _as_called(service, ours.get_component("data_loader").load_service_model(service, type_name)) == (
            _as_called(service, theirs.get_component("data_loader").load_service_model(service, type_name))
        ), type_name
    assert type(ours.get_component("data_loader").load_data("endpoints")) is dict  # the faster plain dicts


def test_the_loader_knows_the_services_botocore_knows() -> None:
    import botocore.exceptions
    import botocore.session

    ours = botocore_session().get_component("data_loader")
    theirs = botocore.session.Session().get_component("data_loader")
    for type_name in ("service-2", "paginators-1", "waiters-2"):
        known = theirs.list_available_services(type_name)
        listed = ours.list_available_services(type_name)
        assert list(listed) == known and len(listed) == len(known)
        assert all(name in listed for name in known[::25]) and "ses" in listed
        assert not any(name in listed for name in ("no-such-service", "", "..", "../ses", "ses/2010-12-01"))
    with pytest.raises(botocore.exceptions.UnknownServiceError, match="Unknown service: 'no-such-service'"):
        botocore_session().create_client("no-such-service", region_name="us-east-1")


def test_sessions_hold_only_the_runbook_services_endpoints() -> None:
    resolver = botocore_session()._get_internal_component("endpoint_resolver")
    held = {name for partition in resolver._endpoint_data["partitions"] for name in partition["services"]}
    assert held == set(ENDPOINT_PREFIXES.values())
    assert all(service in ENDPOINT_PREFIXES for service in SERVICES)  # every service the guard covers resolves
