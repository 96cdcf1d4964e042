"""AWS clients built from the parameters, with the guards a runbook needs.

- adaptive retries and connect/read timeouts, so a throttled or slow API slows the run
  down instead of failing it, and an unreachable one fails within a known time;
- a per-operation counter of calls and HTTP attempts (it goes into every report);
- a memo so no call is repeated within one run, whichever checks ask for it;
- the read-only guard: an operation that is not a read raises *before* anything is sent,
  unless the parameters allow writes.

Clients come from botocore directly (boto3's import also loads s3transfer, which no check
uses), and every session of the process shares one data loader, so a service model or the
endpoint data is read from disk once. The counters and the memo are safe to use from several
threads: two checks asking the same question at once make one call (the second waits for it).
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import botocore.exceptions
import botocore.loaders
import botocore.session
import botocore.utils
from botocore.config import Config

from ses_runbook.core.endpoints import endpoint_resolver, loader
from ses_runbook.core.errors import CredentialsError, ReadOnlyError
from ses_runbook.core.redact import mask_key_ids

if TYPE_CHECKING:
    from ses_runbook.core.params import Params

T = TypeVar("T")

# How long a message the runbook receives stays hidden from the queue's other readers: the one
# visibility timeout a read-only run may receive with (sources.feedback reads with it).
RECEIVE_VISIBILITY_S = 60

# The read path: the operations a read-only run lets through, each one that the runbook calls. Listed, not matched by name: a ``Get*`` can mint credentials
# (STS ``GetSessionToken``) or read a secret (Secrets Manager ``GetSecretValue``).
# tests/test_guards.py checks each against botocore's model, and that everything else is refused.
READ_OPERATIONS = frozenset(
    {
        "ses.GetIdentityDkimAttributes",
        "ses.GetIdentityNotificationAttributes",
        "ses.GetIdentityVerificationAttributes",
        "ses.GetSendStatistics",
        "ses.ListIdentities",
        "sesv2.GetAccount",
        "sesv2.GetConfigurationSetEventDestinations",
        "sesv2.GetDedicatedIps",
        "sesv2.GetEmailIdentity",
        "sesv2.GetMessageInsights",
        "sesv2.GetSuppressedDestination",
        "sesv2.ListConfigurationSets",
        "sesv2.ListEmailIdentities",
        "sesv2.ListRecommendations",
        "sesv2.ListSuppressedDestinations",
        "cloudwatch.DescribeAlarmsForMetric",
        "cloudwatch.GetMetricData",
        "iam.GenerateCredentialReport",  # IAM builds a report of what it already holds: nothing changes
        "iam.GetAccessKeyLastUsed",
        "iam.GetAccountAuthorizationDetails",
        "iam.GetCredentialReport",
        "iam.GetPolicy",
        "iam.GetPolicyVersion",
        "iam.ListAccessKeys",
        "iam.SimulatePrincipalPolicy",
        "sts.GetCallerIdentity",
        "sqs.GetQueueAttributes",
        "sns.ListSubscriptionsByTopic",
        "s3.GetObject",
        "s3.ListObjectsV2",
        "firehose.DescribeDeliveryStream",
        "athena.GetQueryExecution",
        "athena.GetQueryResults",
        "athena.StartQueryExecution",  # a query over the event archive: writes only its own result file
    }
)
# Writes the runbook can make, and the parameter that must be true for each (any other operation
# off the read path needs allow_writes).
WRITE_OPERATIONS: dict[str, str] = {
    "ses.SendEmail": "send_test_email",
    "sesv2.SendEmail": "send_test_email",
    "ses.UpdateAccountSendingEnabled": "allow_writes",
    "sesv2.PutAccountSendingAttributes": "allow_writes",
    "sesv2.PutEmailIdentityDkimAttributes": "allow_writes",
    "ses.SetIdentityDkimEnabled": "allow_writes",
    "sesv2.DeleteSuppressedDestination": "allow_writes",
    "iam.CreateAccessKey": "allow_writes",
    "iam.UpdateAccessKey": "allow_writes",
}
# Reading a queue without consuming it takes a ReceiveMessage (which hides the messages it returns
# for the visibility timeout) and a ChangeMessageVisibility back to 0 right after, so the messages
# stay for their other readers as if never read. A read-only run allows them only so: a receive
# with RECEIVE_VISIBILITY_S, a change to 0 on the queue the parameters name. Otherwise (messages
# hidden for hours, another queue's messages) they are writes. DeleteMessage is always a write.
READ_PATH_OPERATIONS = frozenset(
    {
        "sqs.ReceiveMessage",
        "sqs.ChangeMessageVisibility",
        "sqs.ChangeMessageVisibilityBatch",
    }
)
# Refused whatever the switches: they mint credentials or read secrets, which no runbook step needs.
NEVER_OPERATIONS: dict[str, str] = {
    **{
        f"sts.{op}": "mints credentials"
        for op in (
            "AssumeRole",
            "AssumeRoleWithSAML",
            "AssumeRoleWithWebIdentity",
            "AssumeRoot",
            "GetDelegatedAccessToken",
            "GetFederationToken",
            "GetScopedCredentials",
            "GetSessionToken",
            "GetWebIdentityToken",
        )
    },
    "sso.GetRoleCredentials": "mints credentials",
    "cognito-identity.GetCredentialsForIdentity": "mints credentials",
    "cognito-identity.GetOpenIdToken": "mints credentials",
    "ecr.GetAuthorizationToken": "mints credentials",
    "codeartifact.GetAuthorizationToken": "mints credentials",
    "secretsmanager.GetSecretValue": "reads a secret",
    "secretsmanager.BatchGetSecretValue": "reads a secret",
    "ssm.GetParameter": "reads a secret",
    "ssm.GetParameters": "reads a secret",
    "ssm.GetParametersByPath": "reads a secret",
    "kms.Decrypt": "reads a secret",
}
# The IAM action prefix of each service, for naming what AccessDenied is missing.
_IAM_PREFIX = {
    "sesv2": "ses",
    "ses": "ses",
    "cloudwatch": "cloudwatch",
    "iam": "iam",
    "sts": "sts",
    "firehose": "firehose",
}


def is_read(service: str, operation: str) -> bool:
    """Whether an operation is on the runbook's read path: it only reads, and its answer can be reused."""
    return f"{service}.{operation}" in READ_OPERATIONS


def _queue_write(operation: str, api_params: dict[str, Any], queue_url: str | None) -> str | None:
    """Why a call of READ_PATH_OPERATIONS changes the queue after all; None when it does not."""
    if operation == "ReceiveMessage":
        visibility = api_params.get("VisibilityTimeout")
        if visibility != RECEIVE_VISIBILITY_S:
            shown = "the queue's default" if visibility is None else f"{visibility} s"
            return f"it hides the messages it reads for {shown}, not the runbook's {RECEIVE_VISIBILITY_S} s"
        return None
    entries = api_params.get("Entries") if operation == "ChangeMessageVisibilityBatch" else [api_params]
    if not isinstance(entries, list) or any(
        not isinstance(e, dict) or e.get("VisibilityTimeout") != 0 for e in entries
    ):
        return "it sets a visibility timeout other than 0"
    if not queue_url or api_params.get("QueueUrl") != queue_url:
        return "its queue is not the parameters' feedback_queue_url"
    return None


def write_reason(params: Params, service: str, operation: str, api_params: dict[str, Any]) -> str | None:
    """Why a call is a write, in a few words; None for a call on the read path."""
    if is_read(service, operation):
        return None
    if f"{service}.{operation}" in READ_PATH_OPERATIONS:
        return _queue_write(operation, api_params, params.feedback_queue_url)
    return "it is not on the runbook's read path"


def refusal(params: Params, service: str, operation: str, api_params: dict[str, Any]) -> str | None:
    """Why the guard refuses a call, in one line that names it; None when it may go out."""
    key = f"{service}.{operation}"
    if key in NEVER_OPERATIONS:
        return f"{key} is refused: it {NEVER_OPERATIONS[key]}, which no runbook step needs"
    why = write_reason(params, service, operation, api_params)
    needed = WRITE_OPERATIONS.get(key, "allow_writes")
    if why is None or getattr(params, needed):  # a switch of Params: allow_writes or send_test_email
        return None
    return f"{key} is a write and the run is read-only ({why}); set {needed}=true to allow it"


# API operations authorised by another operation's IAM action (SQS batches need the single action)
_ACTION_OF = {
    "sqs.ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
    "sqs.DeleteMessageBatch": "DeleteMessage",
    "sqs.SendMessageBatch": "SendMessage",
}


_IAM_ACTIONS = {
    "s3.ListObjectsV2": "s3:ListBucket",
    "s3.ListObjects": "s3:ListBucket",
}  # operations whose IAM action has another name


def iam_action(service: str, operation: str) -> str:
    """The IAM action an API operation needs, e.g. ``cloudwatch:GetMetricData``, ``sqs:ChangeMessageVisibility``."""
    return (
        _IAM_ACTIONS.get(f"{service}.{operation}")
        or f"{_IAM_PREFIX.get(service, service)}:{_ACTION_OF.get(f'{service}.{operation}', operation)}"
    )


def parse_timestamp(value: Any) -> datetime:
    """A timestamp of an AWS answer as an aware datetime, in UTC when AWS sends epoch seconds.

    botocore's own parser goes through dateutil and its local zone for every value: about 60 µs
    each, so the 2,352 datapoints of a 14-day ``GetMetricData`` cost 0.14 s of CPU, the largest
    single cost of a ``check``. Epoch numbers (CloudWatch's CBOR) and ISO 8601 with a zone (the
    JSON and XML protocols) are read here exactly; anything else goes to botocore's parser.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, timezone.utc)
        except (OverflowError, OSError, ValueError):
            pass
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed
    return botocore.utils.parse_timestamp(value)


def botocore_session(profile: str | None = None) -> botocore.session.Session:
    """A botocore session (the named profile, else the default chain) sharing the process's loader.

    Raises ``ProfileNotFound`` at once for an unknown profile (botocore would wait for first use).
    """
    session = botocore.session.Session(profile=profile)
    session.register_component("data_loader", loader())
    session._register_internal_component("endpoint_resolver", endpoint_resolver())  # botocore has no public way
    session.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=parse_timestamp)
    if profile:
        session.get_scoped_config()
    return session


class Aws:
    """Clients for one run: shared counters, one memo, one guard.

    Accepts an existing session, ``boto3.Session`` (as aws-sdk-pandas functions do) or botocore's,
    so callers that already hold one, or tests, can pass it in.
    """

    def __init__(self, params: Params, session: Any | None = None, grants: Iterable[str] = ()) -> None:
        """``grants``: writes (``service.Operation``) this client may make whatever the parameters say,
        for a caller that holds the user's explicit request for exactly that write (``--notify sns:``
        grants ``sns.Publish``)."""
        self.params = params
        self.grants = frozenset(grants)
        self.calls: Counter[str] = Counter()
        self.attempts: Counter[str] = Counter()
        self.writes: Counter[str] = Counter()
        self._clients: dict[str, Any] = {}
        self._memo: dict[tuple, Any] = {}
        self._gates: dict[tuple, threading.Lock] = {}
        self._lock = threading.RLock()
        self._client_lock = threading.Lock()  # botocore sessions are not thread-safe: one client built at a time
        try:
            self.session = session or botocore_session(params.aws_profile)
        except botocore.exceptions.ProfileNotFound:
            raise CredentialsError(
                f"AWS profile '{params.aws_profile}' not found in ~/.aws/config or ~/.aws/credentials"
            ) from None
        self._config = Config(
            region_name=params.region,
            retries={"mode": "adaptive", "total_max_attempts": params.max_attempts},  # attempts, first one included
            connect_timeout=params.connect_timeout_s,
            read_timeout=params.read_timeout_s,
            # moto's server decompresses gzip request bodies twice; AWS does not need it either.
            disable_request_compression=True,
            user_agent_appid="ses-runbook",
        )

    # -- credentials --------------------------------------------------------------------
    def check_credentials(self) -> None:
        """Fail early, in one line, when the credential chain finds nothing."""
        try:
            credentials = self.session.get_credentials()
        except botocore.exceptions.BotoCoreError as exc:
            raise CredentialsError(f"AWS credentials could not be loaded: {mask_key_ids(str(exc))}") from None
        if credentials is None:
            where = (
                f"profile '{self.params.aws_profile}'"
                if self.params.aws_profile
                else (
                    "the default chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ~/.aws, SSO, instance role)"
                )
            )
            raise CredentialsError(f"no AWS credentials found: tried {where}")

    # -- clients ------------------------------------------------------------------------
    def client(self, service: str) -> Any:
        """One client per service, instrumented with the counter and the guard."""
        with self._client_lock:
            if service not in self._clients:
                if hasattr(self.session, "create_client"):  # botocore
                    client = self.session.create_client(
                        service,
                        region_name=self.params.region,
                        endpoint_url=self.params.endpoint_url,
                        config=self._config,
                    )
                else:  # boto3
                    client = self.session.client(service, endpoint_url=self.params.endpoint_url, config=self._config)
                events = client.meta.events
                events.register("before-parameter-build.*.*", self._guard)
                events.register("before-call.*.*", self._before_call)
                events.register("before-send.*.*", self._before_send)
                self._clients[service] = client
            return self._clients[service]

    def _guard(self, model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        """Refuse a call before it is built (its parameters are the caller's own here), and mark a
        write in its context for the counters."""
        service = model.service_model.service_name
        key = f"{service}.{model.name}"
        why = None if key in self.grants else refusal(self.params, service, model.name, params)
        if why is not None:
            raise ReadOnlyError(why)
        context["ses_runbook_write"] = write_reason(self.params, service, model.name, params) is not None

    def _before_call(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        key = f"{model.service_model.service_name}.{model.name}"
        with self._lock:
            if context["ses_runbook_write"]:  # set by _guard, which runs first for every call
                self.writes[key] += 1
                self._memo.clear()  # answers read before a write may be stale: a re-check must ask again
            self.calls[key] += 1

    def _before_send(self, request: Any, **_: Any) -> None:
        operation = request.context.get("operation_name", "?") if hasattr(request, "context") else "?"
        with self._lock:
            self.attempts[operation] += 1

    # -- calls --------------------------------------------------------------------------
    def _once(self, key: tuple, fetch: Callable[[], Any]) -> Any:
        """The memoized answer for ``key``, fetched once even when several threads ask at the
        same time (the others wait for the first). Failures are not kept: a later ask tries again."""
        with self._lock:
            if key in self._memo:
                return self._memo[key]
            gate = self._gates.setdefault(key, threading.Lock())
        with gate:
            with self._lock:
                if key in self._memo:
                    return self._memo[key]
            result = fetch()
            with self._lock:
                self._memo[key] = result
            return result

    def once(self, key: tuple, derive: Callable[[], T]) -> T:
        """An answer built from several calls, derived once per run like a memoized call (and dropped
        with the memo at the next write): the feedback queue read whole, which several checks and
        causes of one notebook look at, costs one pass (and its closing long poll) instead of one each."""
        return self._once(("derived", *key), derive)

    def call(self, service: str, operation: str, **kwargs: Any) -> dict[str, Any]:
        """Call ``service.operation`` once per run: later asks get the first answer (writes always go out)."""

        def fetch() -> dict[str, Any]:
            method: Callable[..., dict[str, Any]] = getattr(self.client(service), _snake(operation))
            try:
                result = method(**kwargs)
            except Exception as exc:
                exc.ses_runbook_call = (service, operation)  # type: ignore[attr-defined]
                raise
            result.pop("ResponseMetadata", None)
            return result

        if not is_read(service, operation):
            return fetch()
        return self._once((service, operation, _freeze(kwargs)), fetch)

    def paginate(self, service: str, operation: str, result_key: str | tuple[str, ...], **kwargs: Any) -> Any:
        """All pages of a listing, once per run (memoized like ``call``): a list, or for a tuple of
        result keys a dict of lists."""
        return self._once(
            (service, operation + "#all", _freeze(kwargs)),
            lambda: self._all_pages(service, operation, result_key, kwargs),
        )

    def _all_pages(
        self, service: str, operation: str, result_key: str | tuple[str, ...], kwargs: dict[str, Any]
    ) -> Any:
        paginator = self.client(service).get_paginator(_snake(operation))
        keys = (result_key,) if isinstance(result_key, str) else result_key
        collected: dict[str, list[Any]] = {k: [] for k in keys}
        try:
            for page in paginator.paginate(**kwargs):
                for k in keys:
                    collected[k].extend(page.get(k, []))
        except Exception as exc:
            exc.ses_runbook_call = (service, operation)  # type: ignore[attr-defined]
            raise
        return collected[result_key] if isinstance(result_key, str) else collected

    def learn_account(self, account_id: str | None) -> None:
        """Keep the account id an answer of this run named (an IAM ARN): ``account_id`` then needs no call."""
        if account_id:
            with self._lock:
                self._memo.setdefault(("account",), account_id)

    def account_id(self) -> str:
        """The account the credentials belong to: as an earlier answer named it, else STS GetCallerIdentity."""
        with self._lock:
            known = self._memo.get(("account",))
        return known or self.call("sts", "GetCallerIdentity")["Account"]

    def account_label(self) -> str:
        """The account id, or why it is unknown: a report without it is still a report."""
        try:
            return self.account_id()
        except Exception as exc:  # noqa: BLE001
            return f"unknown ({describe_error(exc, self.params)})"

    def stats(self) -> dict[str, Any]:
        """Calls per operation, total, retries and writes: what reports show."""
        with self._lock:
            total = sum(self.calls.values())
            sent = sum(self.attempts.values())
            return {
                "total": total,
                "retries": max(0, sent - total),
                "writes": sum(self.writes.values()),
                "by_operation": dict(sorted(self.calls.items())),
            }


def _snake(operation: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", operation).lower()


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def describe_error(exc: BaseException, params: Params | None = None) -> str:
    """One line saying why an AWS call failed and what would fix it."""
    service, operation = getattr(exc, "ses_runbook_call", (None, None))
    connect = f"{params.connect_timeout_s:g} s" if params else "?"
    read = f"{params.read_timeout_s:g} s" if params else "?"
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "")
        op = exc.operation_name or operation or "?"
        if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation") or "not authorized" in str(
            error.get("Message", "")
        ):
            return f"AccessDenied: the role needs IAM action {iam_action(service or '?', op)}"
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        host = (
            urlsplit(params.endpoint_url).netloc
            if params and params.endpoint_url
            else f"{service} endpoint in {params.region if params else '?'}"
        )
        where = f" (HTTP {status} from {host})" if status and status >= 500 else ""
        return mask_key_ids(f"{service}.{op} failed: {code}: {error.get('Message', '')}{where}".strip())
    if isinstance(exc, botocore.exceptions.ConnectTimeoutError):
        return f"{_host(exc)}: no connection within the connect timeout ({connect}) for {service}.{operation}"
    if isinstance(exc, botocore.exceptions.ReadTimeoutError):
        return f"{_host(exc)}: no answer within the read timeout ({read}) for {service}.{operation}"
    if isinstance(exc, botocore.exceptions.EndpointConnectionError):
        return f"{_host(exc)}: cannot connect ({type(exc).__name__}) for {service}.{operation}"
    if isinstance(exc, botocore.exceptions.ConnectionClosedError):
        return f"{_host(exc)}: the connection was closed before an answer, for {service}.{operation}"
    if isinstance(exc, botocore.exceptions.HTTPClientError):
        return f"{_host(exc)}: {type(exc).__name__} for {service}.{operation}"
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return "no AWS credentials found"
    return mask_key_ids(f"{type(exc).__name__}: {exc}")


def _host(exc: BaseException) -> str:
    url = getattr(exc, "kwargs", {}).get("endpoint_url", "")
    return urlsplit(url).netloc or url or "the AWS endpoint"
