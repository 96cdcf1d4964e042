"""A thin WSGI layer in front of moto's server app.

It answers, from the scenario's ``World``, the SES operations moto lacks (SESv2 GetAccount,
SES GetAccountSendingEnabled, the suppression list, account and DKIM toggles) and those
where moto's answers are fixed or contradict each other (GetSendQuota, GetSendStatistics,
identity verification and DKIM in v1 and v2), in the wire formats botocore parses: query/XML
for SES v1, REST/JSON for SESv2. Everything else goes to moto unchanged. Every operation is
counted here, on the server side, so tests can prove how many calls (and writes) a run made.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import random
import re
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from email.utils import parseaddr
from typing import Any
from urllib.parse import parse_qs, unquote

import botocore.session

from ses_runbook.core.aws import READ_OPERATIONS, READ_PATH_OPERATIONS, iam_action
from ses_runbook.core.identities import most_specific
from ses_runbook.sandbox import inbound, notifications
from ses_runbook.sandbox.inbound import contact_list_error, request_of
from ses_runbook.sandbox.world import ACCOUNT, World

XMLNS = "http://ses.amazonaws.com/doc/2010-12-01/"
IAM_XMLNS = "https://iam.amazonaws.com/doc/2010-05-08/"
_READ = ("Get", "List", "Describe", "Head", "GET ", "HEAD ")  # S3 REST calls the layer cannot name: method and path
_REPORT_COLUMNS = (
    "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,"
    "password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,"
    "access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,"
    "access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,"
    "access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,"
    "cert_2_active,cert_2_last_rotated"
)
StartResponse = Callable[..., Any]


class SesError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _esc(value: Any) -> str:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _xml(tag: str, value: Any) -> str:
    """Serialise dicts, lists (as ``member``) and scalars the way the query protocol does."""
    if isinstance(value, dict):
        inner = "".join(_xml(k, v) for k, v in value.items() if v is not None)
    elif isinstance(value, list):
        inner = "".join(_xml("member", v) for v in value)
    elif isinstance(value, datetime):
        inner = _iso(value)
    else:
        inner = _esc(value)
    return f"<{tag}>{inner}</{tag}>"


def _xml_map(tag: str, mapping: dict[str, dict]) -> str:
    entries = "".join(f"<entry><key>{_esc(k)}</key>{_xml('value', v)}</entry>" for k, v in mapping.items())
    return f"<{tag}>{entries}</{tag}>"


def _members(form: dict[str, list[str]], name: str) -> list[str]:
    keys = sorted((k for k in form if k.startswith(f"{name}.member.")), key=lambda k: int(k.rsplit(".", 1)[1]))
    return [form[k][0] for k in keys]


class SesLayer:
    """WSGI app: the scenario's SES in front of moto's everything-else."""

    def __init__(self, world: World, moto_app: Callable, region: str) -> None:
        self.world = world
        self.moto_app = moto_app
        self.region = region
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.fault: Callable[[str, str], Any] | None = None  # hook for fault injection
        self.authorize: Callable[[str, str], str | None] | None = None  # (key id, action) -> denied principal or None
        # SESv2 operations answered here, by name (botocore's model maps method + path to the name)
        self._v2: dict[str, Callable[..., dict[str, Any]]] = {
            "GetAccount": self.v2_get_account,
            "PutAccountSendingAttributes": self.v2_put_sending,
            "ListEmailIdentities": self.v2_list_identities,
            "GetEmailIdentity": self.v2_get_identity,
            "PutEmailIdentityDkimAttributes": self.v2_put_dkim,
            "ListSuppressedDestinations": self.v2_list_suppressed,
            "GetSuppressedDestination": self.v2_get_suppressed,
            "DeleteSuppressedDestination": self.v2_delete_suppressed,
            "PutSuppressedDestination": self.v2_put_suppressed,
            "GetMessageInsights": self.v2_message_insights,
            "ListRecommendations": self.v2_list_recommendations,
            "GetDedicatedIps": self.v2_dedicated_ips,
            "GetConfigurationSetEventDestinations": self.v2_event_destinations,
        }
        # SQS reads that moto answers too slowly or wrongly for a queue of thousands: its ReceiveMessage
        # recounts the whole queue once per message returned (seconds per call), and its
        # ChangeMessageVisibility measures AWS's 12-hour limit from when a message was *sent*, so a
        # message older than 12 hours can never be made visible again. Answered here on moto's own
        # queue objects; everything else about SQS (queues, SendMessage, DeleteMessage, SNS delivery) is moto's.
        self._sqs: dict[str, Callable[[dict[str, Any]], dict[str, Any] | None]] = {
            "ReceiveMessage": self.sqs_receive,
            "ChangeMessageVisibility": self.sqs_change_visibility,
            "ChangeMessageVisibilityBatch": self.sqs_change_visibility_batch,
        }
        self._v1 = {
            "GetAccountSendingEnabled": self.v1_get_sending_enabled,
            "UpdateAccountSendingEnabled": self.v1_update_sending_enabled,
            "GetSendQuota": self.v1_get_send_quota,
            "GetSendStatistics": self.v1_get_send_statistics,
            "ListIdentities": self.v1_list_identities,
            "GetIdentityVerificationAttributes": self.v1_verification,
            "GetIdentityDkimAttributes": self.v1_dkim,
            "GetIdentityMailFromDomainAttributes": self.v1_mail_from,
            "SetIdentityDkimEnabled": self.v1_set_dkim,
            # moto keeps identity notification topics too, but publishes fixed sample messages without
            # the sent message's id and nothing for suppressionlist@: the layer keeps them and publishes
            # what SES would (see _publish_simulator_feedback).
            "GetIdentityNotificationAttributes": self.v1_notification_attributes,
            "SetIdentityNotificationTopic": self.v1_set_notification_topic,
            "SetIdentityFeedbackForwardingEnabled": self.v1_set_forwarding,
        }

    # -- counting ----------------------------------------------------------------------
    def count(self, service: str, operation: str) -> None:
        with self._lock:
            self.calls[f"{service}.{operation}"] += 1

    def writes(self) -> dict[str, int]:
        """Calls that changed something, by operation: the server's own count."""
        with self._lock:
            return {
                k: v
                for k, v in self.calls.items()
                if not k.split(".", 1)[1].startswith(_READ)
                and k not in READ_PATH_OPERATIONS
                and k not in READ_OPERATIONS
            }

    def reset_calls(self) -> None:
        with self._lock:
            self.calls.clear()

    # -- dispatch ----------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        method = environ.get("REQUEST_METHOD", "GET")
        if path.startswith("/_sandbox/"):
            return self._control(path, method, start_response)
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        service = _signing_service(environ)
        operation = _operation(environ, body, path)
        path_args: dict[str, str] = {}
        if service == "s3":
            operation = _s3_operation(method, path, environ.get("QUERY_STRING", ""))
        if service == "ses" and path.startswith("/v2/"):
            service = "sesv2"
            operation, path_args = sesv2_operation(method, path)
        if service == "athena" and not environ.get("HTTP_X_AMZ_TARGET"):
            operation, path_args = rest_operation("athena", method, path)
        self.count(service, operation)
        if self.fault is not None:
            faulty = self.fault(service, operation)
            if faulty is not None:
                return faulty(environ, start_response)
        if self.authorize is not None and service != "sts":  # GetCallerIdentity needs no permission in AWS
            action = iam_action(service, operation)
            denied = self.authorize(_access_key(environ), action)
            if denied:
                return self._denied(start_response, service, f"User: {denied} is not authorized to perform: {action}")
        try:
            if service == "sesv2":
                if operation in self._v2:
                    return self._json(start_response, 200, self._v2[operation](_v2_args(environ, body, path_args)))
                if operation == "SendEmail":
                    request = json.loads(body or b"{}")
                    self._v2_send_precheck(request)

                    missing = contact_list_error(self.world, request_of(service, operation, body) or {})
                    if missing:
                        raise SesError("NotFoundException", missing, 404)
                    if not self._moto_accepts(request.get("FromEmailAddress", "")):
                        return self._send_here(environ, start_response, service, operation, body)
            elif service == "sqs" and operation in self._sqs:
                answer = self._sqs[operation](json.loads(body or b"{}"))
                if answer is not None:
                    return self._json(start_response, 200, answer, "application/x-amz-json-1.0")
            elif service == "cloudwatch" and operation == "GetMetricData":
                answer = self.get_metric_data(json.loads(body or b"{}"), environ)
                if answer is not None:
                    return self._json(start_response, 200, answer, "application/x-amz-json-1.0")
            elif service == "athena":
                return self.athena(environ, start_response, operation, _v2_args(environ, body, path_args))
            elif service == "iam" and operation in ("GenerateCredentialReport", "GetCredentialReport"):
                return self._xml(start_response, operation, self.iam_credential_report(operation), IAM_XMLNS)
            elif service == "iam" and operation == "SimulatePrincipalPolicy":
                form = parse_qs(body.decode("utf-8"))
                return self._xml(start_response, operation, self.iam_simulate(form), IAM_XMLNS)
            elif service == "ses":
                form = {k: v for k, v in parse_qs(body.decode("utf-8")).items()}
                handler = self._v1.get(operation)
                if handler is not None:
                    return self._xml(start_response, operation, handler(form))
                if operation in ("SendEmail", "SendRawEmail"):
                    self._v1_send_precheck(form)
                    if not self._moto_accepts(form.get("Source", [""])[0]):
                        return self._send_here(environ, start_response, service, operation, body)
        except SesError as exc:
            return self._error(start_response, service, exc)
        return self._to_moto(environ, start_response, service, operation, body)

    def _to_moto(
        self, environ: dict[str, Any], start_response: StartResponse, service: str, operation: str, body: bytes = b""
    ) -> Iterable[bytes]:
        status_holder: list[str] = []

        def capture(status: str, headers: list, exc_info: Any = None) -> Any:
            status_holder.append(status)
            return start_response(status, headers, exc_info)

        result = self.moto_app(environ, capture)
        if operation == "SendEmail" and status_holder and status_holder[0].startswith("200"):
            result = self._after_send(environ, service, operation, body, b"".join(result))
        return result

    def _moto_accepts(self, source: str) -> bool:
        """Whether moto would take a send from ``source``: only when the exact address or its exact
        domain is an identity it holds (the scenario's, seeded at start). SES takes any address a
        verified identity covers, a subdomain's included, which the precheck has already decided."""
        address = parseaddr(source)[1]
        return any(self.world.identity(name) is not None for name in (address, address.rpartition("@")[2]) if name)

    def _send_here(
        self, environ: dict[str, Any], start_response: StartResponse, service: str, operation: str, body: bytes
    ) -> Iterable[bytes]:
        """A send SES accepts and moto would refuse (a sender covered by a verified parent domain),
        answered here with a message id of moto's shape, then handled like any accepted send."""
        message_id = "-".join(secrets.token_hex(n) for n in (8, 4, 2, 2, 2, 6, 3))
        if service == "sesv2":
            answer = self._json(start_response, 200, {"MessageId": message_id})
        else:
            answer = self._xml(start_response, operation, f"<MessageId>{message_id}</MessageId>")
        if operation != "SendEmail":
            return answer
        return self._after_send(environ, service, operation, body, b"".join(answer))

    def _after_send(
        self, environ: dict[str, Any], service: str, operation: str, body: bytes, answer: bytes
    ) -> list[bytes]:
        """What follows an accepted send: delivery to the inbound address, the count of sent mail, the
        mailbox simulator's feedback."""
        result = self._deliver(service, operation, body, answer)
        with self.world.lock:
            self.world.sent.append({"service": service, "time": datetime.utcnow().isoformat()})
        if service == "ses":
            self._publish_simulator_feedback(environ, answer)
        return result

    # -- feedback ------------------------------------------------------------------------
    def _publish_simulator_feedback(self, environ: dict[str, Any], answer: bytes) -> None:
        """After a send to mailbox simulator addresses, publish SES's notification for each to the
        sending identity's notification topic, after the scenario's delay (as SES does, later)."""
        body = environ["wsgi.input"].getvalue()
        form = parse_qs(body.decode("utf-8"))
        match = re.search(rb"<MessageId>([^<]+)</MessageId>", answer)
        if not match:
            return
        mid = match.group(1).decode()
        source = form.get("Source", [""])[0]
        recipients = [v[0] for k, v in form.items() if k.startswith("Destination.") and ".member." in k]
        caller = "sandbox-runbook"
        tags = {
            form[k][0]: form.get(k[:-4] + "Value", [""])[0]
            for k in form
            if k.startswith("Tags.member.") and k.endswith(".Name")
        }
        now = datetime.now(timezone.utc)
        mail_obj = notifications.mail(now, mid, source, caller, recipients, tags, self.region)
        rng = random.Random(mid)
        delays = self.world.scenario.feedback.simulator_delay_s
        for address in recipients:
            message = notifications.simulator_outcome(address, mail_obj, now, rng)
            if message is None:
                continue
            kind = message["notificationType"]
            topic = self._topic_for(source, kind)
            if topic is None:
                continue
            delay = delays.get(address.split("@")[0].lower(), 0.5)
            timer = threading.Timer(delay, self._publish, args=(topic, message))
            timer.daemon = True
            timer.start()

    def _topic_for(self, source: str, kind: str) -> str | None:
        """The topic for this notification type of the most specific identity that covers the sender and
        has one: the address's own, else its domain's, else a parent domain's (SES's order)."""
        with self.world.lock:
            having = [name for name, topics in self.world.notification_topics.items() if topics.get(kind)]
            name = most_specific(parseaddr(source)[1] or source, having)
            return self.world.notification_topics[name][kind] if name else None

    def _publish(self, topic: str, message: dict[str, Any]) -> None:
        # deferred: moto (1.5 s): only when the sandbox starts; its constants and scenarios stay cheap
        from moto.sns.models import sns_backends

        stamped = dict(message)
        kind = message["notificationType"].lower()
        if kind in stamped:  # the event's own time is when it happened: now
            stamped[kind] = {**stamped[kind], "timestamp": notifications.timestamp_text(datetime.now(timezone.utc))}
        try:
            sns_backends[ACCOUNT][self.region].publish(json.dumps(stamped), arn=topic)
        except Exception:  # noqa: BLE001 - a deleted topic: SES drops the notification too
            pass

    def v1_notification_attributes(self, form: dict) -> str:
        out = {}
        with self.world.lock:
            for name in self._batch(form):
                if self.world.identity_view(name) is None:
                    continue
                topics = self.world.notification_topics.get(name, {})
                attrs: dict[str, Any] = {
                    "BounceTopic": topics.get("Bounce"),
                    "ComplaintTopic": topics.get("Complaint"),
                    "DeliveryTopic": topics.get("Delivery"),
                    "ForwardingEnabled": self.world.forwarding.get(name, True),
                    "HeadersInBounceNotificationsEnabled": False,
                    "HeadersInComplaintNotificationsEnabled": False,
                    "HeadersInDeliveryNotificationsEnabled": False,
                }
                out[name] = attrs
        return _xml_map("NotificationAttributes", out)

    def v1_set_notification_topic(self, form: dict) -> str:
        name = form.get("Identity", [""])[0]
        kind = form.get("NotificationType", [""])[0]
        if self.world.identity_view(name) is None:
            raise SesError("InvalidParameterValue", f"Identity {name} does not exist")
        if kind not in ("Bounce", "Complaint", "Delivery"):
            raise SesError("InvalidParameterValue", f"NotificationType {kind} is not Bounce, Complaint or Delivery")
        topic = form.get("SnsTopic", [""])[0]
        with self.world.lock:
            topics = self.world.notification_topics.setdefault(name, {})
            if topic:
                topics[kind] = topic
            else:
                topics.pop(kind, None)
        return ""

    def v1_set_forwarding(self, form: dict) -> str:
        name = form.get("Identity", [""])[0]
        enabled = form.get("ForwardingEnabled", ["true"])[0].lower() == "true"
        with self.world.lock:
            topics = self.world.notification_topics.get(name, {})
            if not enabled and not (topics.get("Bounce") and topics.get("Complaint")):
                raise SesError(
                    "InvalidParameterValue",
                    "Feedback forwarding cannot be disabled without Bounce and Complaint topics",
                )
            self.world.forwarding[name] = enabled
        return ""

    def _deliver(self, service: str, operation: str, body: bytes, answer: bytes) -> list[bytes]:
        """After SES accepted a send: mail for the inbound address goes where a receipt rule puts it."""

        try:
            request = inbound.request_of(service, operation, body)
            match = re.search(rb'"MessageId"\s*:\s*"([^"]+)"|<MessageId>([^<]+)</MessageId>', answer)
            if request is not None and match:
                inbound.deliver(self.world, request, (match.group(1) or match.group(2)).decode())
        except Exception:  # noqa: BLE001 - SES accepted the send; a delivery bug must not turn it into a 500
            logging.getLogger(__name__).debug("inbound delivery failed", exc_info=True)
        return [answer]

    def _control(self, path: str, method: str, start_response: StartResponse) -> Iterable[bytes]:
        if path == "/_sandbox/calls" and method == "GET":
            with self._lock:
                return self._json(start_response, 200, {"calls": dict(self.calls), "writes": self.writes()})
        if path == "/_sandbox/calls" and method == "DELETE":
            self.reset_calls()
            return self._json(start_response, 200, {})
        return self._json(start_response, 404, {"message": "unknown sandbox control path"})

    # -- IAM credential report ---------------------------------------------------------
    def iam_simulate(self, form: dict[str, list[str]]) -> str:
        """IAM SimulatePrincipalPolicy for a scenario user (moto has none): allowed exactly for the actions
        its inline policy grants (ses:SendRawEmail when the user may send), implicitDeny otherwise."""
        user = form.get("PolicySourceArn", [""])[0].rsplit("/", 1)[-1]
        with self.world.lock:
            keys = [k for k in self.world.keys.values() if k["user"] == user]
        if not keys:
            raise SesError("NoSuchEntity", f"The user with name {user} cannot be found.", 404)
        may = keys[0]["can_send"]
        resources = _members(form, "ResourceArns") or ["*"]
        results = [
            {
                "EvalActionName": action,
                "EvalResourceName": resource,
                "EvalDecision": "allowed"
                if may and action.lower() in ("ses:sendrawemail", "ses:sendemail")
                else "implicitDeny",
            }
            for action in _members(form, "ActionNames")
            for resource in resources
        ]
        return _xml("EvaluationResults", results) + _xml("IsTruncated", False)

    def iam_credential_report(self, operation: str) -> str:
        """IAM's credential report, built from moto's users and keys in AWS's own CSV: moto's has a
        fixed 2015 date, no root row and no last-use region or service. The first Generate answers
        STARTED (the report is ready at once), later ones COMPLETE; made at the scenario's as_of."""

        if operation == "GenerateCredentialReport":
            with self._lock:
                first, self.report_generated = not getattr(self, "report_generated", False), True
            return _xml("State", "STARTED" if first else "COMPLETE")
        if not getattr(self, "report_generated", False):
            raise SesError("ReportNotPresent", "Credential report not present; call GenerateCredentialReport", 410)
        # deferred: moto (1.5 s): only when the sandbox starts; its constants and scenarios stay cheap
        from moto.iam.models import iam_backends

        stamp = "%Y-%m-%dT%H:%M:%S+00:00"
        when = lambda t: t.strftime(stamp) if t else "N/A"  # noqa: E731
        generated = self.world.as_of
        lines = [
            _REPORT_COLUMNS,
            f"<root_account>,arn:aws:iam::{ACCOUNT}:root,{when(generated)},not_supported,"
            "no_information,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
        ]
        for user in list(iam_backends[ACCOUNT]["aws"].users.values()):
            fields = [user.name, user.arn, when(user.create_date), "false", "N/A", "N/A", "N/A", "false"]
            keys = list(user.access_keys)[:2]
            for key in keys + [None] * (2 - len(keys)):
                used = getattr(key, "last_used", None)
                fields += (
                    ["false", "N/A", "N/A", "N/A", "N/A"]
                    if key is None
                    else [
                        "true" if key.status == "Active" else "false",
                        when(key.create_date),
                        when(getattr(used, "timestamp", None)),
                        getattr(used, "region", None) or "N/A",
                        getattr(used, "service", None) or "N/A",
                    ]
                )
            lines.append(",".join(fields + ["false", "N/A", "false", "N/A"]))
        content = base64.b64encode(("\n".join(lines) + "\n").encode()).decode()
        return _xml("Content", content) + _xml("ReportFormat", "text/csv") + _xml("GeneratedTime", generated)

    # -- responses ---------------------------------------------------------------------
    def _json(
        self,
        start_response: StartResponse,
        status: int,
        payload: dict[str, Any],
        content_type: str = "application/json",
    ) -> list[bytes]:
        data = json.dumps(payload, default=_json_default).encode()
        start_response(
            f"{status} {'OK' if status == 200 else 'Error'}",
            [
                ("Content-Type", content_type),
                ("Content-Length", str(len(data))),
                ("x-amzn-RequestId", str(uuid.uuid4())),
            ],
        )
        return [data]

    def _xml(self, start_response: StartResponse, operation: str, inner: str, xmlns: str = XMLNS) -> list[bytes]:
        request_id = uuid.uuid4()
        data = (
            f'<{operation}Response xmlns="{xmlns}"><{operation}Result>{inner}</{operation}Result>'
            f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{operation}Response>"
        ).encode()
        start_response("200 OK", [("Content-Type", "text/xml"), ("Content-Length", str(len(data)))])
        return [data]

    def _error(self, start_response: StartResponse, service: str, exc: SesError) -> list[bytes]:
        if service == "sqs":
            data = json.dumps({"__type": f"com.amazonaws.sqs#{exc.code}", "message": exc.message}).encode()
            headers = [("Content-Type", "application/x-amz-json-1.0")]
        elif service == "sesv2":
            data = json.dumps({"message": exc.message}).encode()
            headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", exc.code)]
        else:
            data = (
                f'<ErrorResponse xmlns="{XMLNS}"><Error><Type>Sender</Type><Code>{exc.code}</Code>'
                f"<Message>{_esc(exc.message)}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
            ).encode()
            headers = [("Content-Type", "text/xml")]
        start_response(f"{exc.status} Error", headers + [("Content-Length", str(len(data)))])
        return [data]

    def _denied(self, start_response: StartResponse, service: str, message: str) -> list[bytes]:
        """AccessDenied in each protocol's own shape, as AWS answers a role that lacks an action."""
        if service == "sesv2":
            body = json.dumps({"message": message}).encode()
            headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", "AccessDeniedException")]
        elif service in ("cloudwatch", "sqs", "athena", "firehose"):  # JSON protocols
            body = json.dumps({"__type": "AccessDenied", "message": message}).encode()
            headers = [("Content-Type", "application/x-amz-json-1.0")]
        else:
            body = (
                f"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>{_esc(message)}</Message>"
                f"</Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
            ).encode()
            headers = [("Content-Type", "text/xml")]
        start_response("403 Forbidden", headers + [("Content-Length", str(len(body)))])
        return [body]

    # -- Athena --------------------------------------------------------------------------
    def athena(
        self, environ: dict[str, Any], start_response: StartResponse, operation: str, request: dict[str, Any]
    ) -> Iterable[bytes]:
        """Athena's REST requests (botocore's protocol) handed to moto in the JSON protocol it speaks,
        and GetQueryResults in pages of ``MaxResults`` rows with a ``NextToken``, as Athena pages them
        (moto hands back every staged row at once)."""
        answer: dict[str, Any] = {}

        def capture(status: str, headers: list, exc_info: Any = None) -> Callable[[bytes], None]:
            answer["status"], answer["headers"] = status, headers
            return lambda _: None

        payload = json.dumps({k: v for k, v in request.items() if k not in ("NextToken", "MaxResults")}).encode()
        moto_environ = {
            **environ,
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/",
            "QUERY_STRING": "",
            "HTTP_X_AMZ_TARGET": f"AmazonAthena.{operation}",
            "CONTENT_TYPE": "application/x-amz-json-1.1",
            "CONTENT_LENGTH": str(len(payload)),
            "wsgi.input": io.BytesIO(payload),
        }
        body = b"".join(self.moto_app(moto_environ, capture))
        if operation != "GetQueryResults" or not answer.get("status", "").startswith("200"):
            start_response(answer["status"], answer["headers"])
            return [body]
        result = json.loads(body)
        rows = result.get("ResultSet", {}).get("Rows", [])
        start = int(request.get("NextToken") or 0)
        size = max(1, min(int(request.get("MaxResults") or 1000), 1000))
        result.setdefault("ResultSet", {})["Rows"] = rows[start : start + size]
        if start + size < len(rows):
            result["NextToken"] = str(start + size)
        return self._json(start_response, 200, result, "application/x-amz-json-1.1")

    # -- SQS ---------------------------------------------------------------------------
    def _queue(self, url: str) -> Any:
        # deferred: moto (1.5 s): only when the sandbox starts; its constants and scenarios stay cheap
        from moto.sqs.models import sqs_backends

        try:
            return sqs_backends[ACCOUNT][self.region].get_queue(url.rstrip("/").rsplit("/", 1)[-1])
        except Exception:  # noqa: BLE001 - moto answers the error (QueueDoesNotExist) in its own format
            return None

    def sqs_receive(self, request: dict[str, Any]) -> dict[str, Any] | None:
        queue = self._queue(request.get("QueueUrl", ""))
        if queue is None or queue.fifo_queue:
            return None
        count = max(1, min(int(request.get("MaxNumberOfMessages") or 1), 10))
        visibility = request.get("VisibilityTimeout")
        visibility = int(queue.visibility_timeout if visibility is None else visibility)
        deadline = time.time() + min(int(request.get("WaitTimeSeconds") or 0), 20)
        redrive = queue.redrive_policy if queue.dead_letter_queue is not None else None
        while True:
            now_ms = time.time() * 1000
            picked, to_dlq = [], []
            with queue._messages_lock:
                for message in queue._messages:
                    if message.visible_at > now_ms or message.delayed_until > now_ms:
                        continue
                    if redrive and message.approximate_receive_count >= redrive["maxReceiveCount"]:
                        to_dlq.append(message)
                        continue
                    message.mark_received(visibility_timeout=visibility)
                    picked.append(message)
                    if len(picked) >= count:
                        break
                for message in to_dlq:
                    queue._messages.remove(message)
            for message in to_dlq:
                queue.dead_letter_queue.add_message(message)
            if picked or time.time() >= deadline:
                break
            time.sleep(0.05)
        out = []
        for m in picked:
            out.append(
                {
                    "MessageId": m.id,
                    "ReceiptHandle": m.receipt_handle,
                    "MD5OfBody": hashlib.md5(m.body.encode()).hexdigest(),
                    "Body": m.body,
                    "Attributes": {
                        "SentTimestamp": str(m.sent_timestamp),
                        "SenderId": m.sender_id,
                        "ApproximateReceiveCount": str(m.approximate_receive_count),
                        "ApproximateFirstReceiveTimestamp": str(m.approximate_first_receive_timestamp),
                    },
                }
            )
        return {"Messages": out} if out else {}

    def _change_visibility(self, queue: Any, handle: str, timeout: int) -> str | None:
        if not 0 <= timeout <= 43200:
            return "InvalidParameterValue"
        for message in queue._messages:
            if message.receipt_handle == handle or message.had_receipt_handle(handle):
                message.visible_at = time.time() * 1000 + timeout * 1000
                queue.pending_messages.discard(message)
                return None
        return "ReceiptHandleIsInvalid"

    def sqs_change_visibility(self, request: dict[str, Any]) -> dict[str, Any] | None:
        queue = self._queue(request.get("QueueUrl", ""))
        if queue is None:
            return None
        error = self._change_visibility(
            queue, request.get("ReceiptHandle", ""), int(request.get("VisibilityTimeout", 0))
        )
        if error:
            raise SesError(error, f"{error}: the receipt handle or visibility timeout is not valid")
        return {}

    def sqs_change_visibility_batch(self, request: dict[str, Any]) -> dict[str, Any] | None:
        queue = self._queue(request.get("QueueUrl", ""))
        if queue is None:
            return None
        ok, failed = [], []
        for entry in request.get("Entries", []):
            error = self._change_visibility(
                queue, entry.get("ReceiptHandle", ""), int(entry.get("VisibilityTimeout", 0))
            )
            if error:
                failed.append({"Id": entry.get("Id"), "SenderFault": True, "Code": error, "Message": error})
            else:
                ok.append({"Id": entry.get("Id")})
        return {"Successful": ok, "Failed": failed}

    # -- CloudWatch ----------------------------------------------------------------------
    def get_metric_data(self, request: dict[str, Any], environ: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """GetMetricData for AWS/SES metrics straight from the scenario's traffic.

        moto aggregates by scanning every stored datapoint for every period (seconds for two
        weeks); CloudWatch answers in milliseconds, and so does this. Queries that ask for
        anything but account-level AWS/SES metric statistics (configuration-set dimensions: what
        tests put into moto themselves) are asked of moto in one request of their own, and the
        answers merged in the request's order; math expressions or other namespaces send the
        whole request to moto (``None``).
        """
        queries = request.get("MetricDataQueries", [])
        if not queries or any(
            "MetricStat" not in q or q["MetricStat"]["Metric"].get("Namespace") != "AWS/SES" for q in queries
        ):
            return None
        dimensioned = [q for q in queries if q["MetricStat"]["Metric"].get("Dimensions")]
        if dimensioned:
            if environ is None or request.get("NextToken") or len(dimensioned) == len(queries):
                return None
            from_moto = self._moto_metric_data(environ, {**request, "MetricDataQueries": dimensioned})
            if from_moto is None:
                return None
            answer = self.get_metric_data(
                {**request, "MetricDataQueries": [q for q in queries if q not in dimensioned]}
            )
            if answer is None:  # not reached: every query left is an AWS/SES one without dimensions
                return None
            by_id = {r["Id"]: r for r in answer["MetricDataResults"] + from_moto.get("MetricDataResults", [])}
            return {
                "MetricDataResults": [by_id[q["Id"]] for q in queries if q["Id"] in by_id],
                "Messages": from_moto.get("Messages", []),
            }
        start = datetime.fromtimestamp(float(request["StartTime"]), timezone.utc)
        end = datetime.fromtimestamp(float(request["EndTime"]), timezone.utc)
        descending = request.get("ScanBy", "TimestampDescending") == "TimestampDescending"
        results = []
        for query in queries:
            stat = query["MetricStat"]
            metric = stat["Metric"]
            points = self.world.metric(metric["MetricName"], start, end, int(stat["Period"]), stat["Stat"])
            if descending:
                points.reverse()
            results.append(
                {
                    "Id": query["Id"],
                    "Label": query.get("Label", metric["MetricName"]),
                    "Timestamps": [t for t, _ in points],
                    "Values": [v for _, v in points],
                    "StatusCode": "Complete",
                }
            )
        return {"MetricDataResults": results, "Messages": []}

    def _moto_metric_data(self, environ: dict[str, Any], request: dict[str, Any]) -> dict[str, Any] | None:
        """moto's own answer to a GetMetricData request (its JSON body), or None when it is not a 200."""
        body = json.dumps(request).encode()
        sub = {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
        status: list[str] = []

        def start_response(code: str, headers: Any, exc_info: Any = None) -> Callable[[bytes], None]:
            status.append(code)
            return lambda data: None

        chunks = self.moto_app(sub, start_response)
        data = b"".join(chunks)
        if not status or not status[0].startswith("200"):
            return None
        return json.loads(data or b"{}")

    # -- SES v1 ------------------------------------------------------------------------
    def v1_get_sending_enabled(self, form: dict) -> str:
        with self.world.lock:
            return _xml("Enabled", self.world.sending_enabled)

    def v1_update_sending_enabled(self, form: dict) -> str:
        with self.world.lock:
            self.world.sending_enabled = form.get("Enabled", ["false"])[0].lower() == "true"
        return ""

    def v1_get_send_quota(self, form: dict) -> str:
        account = self.world.scenario.account
        return (
            _xml("Max24HourSend", account.max_24_hour_send)
            + _xml("MaxSendRate", account.max_send_rate)
            + _xml("SentLast24Hours", self.world.sent_last_24h())
        )

    def v1_get_send_statistics(self, form: dict) -> str:
        points = [
            {
                "Timestamp": p.timestamp,
                "DeliveryAttempts": p.sends,
                "Bounces": p.bounces,
                "Complaints": p.complaints,
                "Rejects": p.rejects,
            }
            for p in self.world.points
        ]
        return _xml("SendDataPoints", points)

    def v1_list_identities(self, form: dict) -> str:
        kind = form.get("IdentityType", [""])[0]
        names = [n for n in self.world.identity_names() if not kind or (kind == "Domain") == ("@" not in n)]
        start = int(form.get("NextToken", ["0"])[0] or 0)
        size = min(int(form.get("MaxItems", ["1000"])[0] or 1000), 1000)
        page = names[start : start + size]
        token = _xml("NextToken", start + size) if start + size < len(names) else ""
        return _xml("Identities", page) + token

    def _batch(self, form: dict) -> list[str]:
        names = _members(form, "Identities")
        if len(names) > 100:
            raise SesError("InvalidParameterValue", "Identities: at most 100 identities per request")
        return names

    def v1_verification(self, form: dict) -> str:
        out = {}
        for name in self._batch(form):
            identity = self.world.identity_view(name)
            if identity is not None:
                attrs: dict[str, Any] = {"VerificationStatus": identity.verification}
                if identity.is_domain:
                    attrs["VerificationToken"] = f"token-{abs(hash(name)) % 10**12:012d}"
                out[name] = attrs
        return _xml_map("VerificationAttributes", out)

    def v1_dkim(self, form: dict) -> str:
        out = {}
        with self.world.lock:
            for name in self._batch(form):
                identity = self.world.identity_view(name)
                if identity is None:
                    continue
                enabled = self.world.dkim_enabled.get(name, identity.dkim_enabled)
                attrs: dict[str, Any] = {"DkimEnabled": enabled, "DkimVerificationStatus": identity.dkim}
                if identity.is_domain and identity.dkim != "NotStarted":
                    attrs["DkimTokens"] = self.world.scenario.dkim_tokens(name)
                out[name] = attrs
        return _xml_map("DkimAttributes", out)

    def v1_mail_from(self, form: dict) -> str:
        out = {}
        for name in self._batch(form):
            identity = self.world.identity_view(name)
            if identity is not None and identity.mail_from_domain:
                out[name] = {
                    "MailFromDomain": identity.mail_from_domain,
                    "MailFromDomainStatus": identity.mail_from_status,
                    "BehaviorOnMXFailure": identity.behavior_on_mx_failure,
                }
            elif identity is not None:
                out[name] = {"BehaviorOnMXFailure": identity.behavior_on_mx_failure}
        return _xml_map("MailFromDomainAttributes", out)

    def v1_set_dkim(self, form: dict) -> str:
        name = form.get("Identity", [""])[0]
        if self.world.identity_view(name) is None:
            raise SesError("InvalidParameterValue", f"Identity {name} does not exist")
        with self.world.lock:
            self.world.dkim_enabled[name] = form.get("DkimEnabled", ["false"])[0].lower() == "true"
        return ""

    def _send_precheck(self, source: str, recipients: list[str]) -> None:
        with self.world.lock:
            if not self.world.sending_enabled or self.world.scenario.account.enforcement_status == "SHUTDOWN":
                raise SesError(
                    "AccountSendingPausedException",
                    "Sending paused for this account. For more information, please check the reason in the SES console.",
                )
            if not self.world.is_verified_address(source):
                raise SesError(
                    "MessageRejected",
                    f"Email address is not verified. The following identities failed the check in region {self.region.upper()}: {source}",
                )
            if not self.world.scenario.account.production_access:
                bad = [r for r in recipients if not self.world.is_verified_address(r)]
                if bad:
                    raise SesError(
                        "MessageRejected",
                        f"Email address is not verified. The following identities failed the check in region {self.region.upper()}: {', '.join(bad)}",
                    )

    def _v1_send_precheck(self, form: dict) -> None:
        recipients = [v[0] for k, v in form.items() if k.startswith("Destination.") and ".member." in k]
        self._send_precheck(form.get("Source", [""])[0], recipients)

    def _v2_send_precheck(self, request: dict) -> None:
        destination = request.get("Destination", {})
        recipients = (
            destination.get("ToAddresses", [])
            + destination.get("CcAddresses", [])
            + destination.get("BccAddresses", [])
        )
        try:
            self._send_precheck(request.get("FromEmailAddress", ""), recipients)
        except SesError as exc:
            raise SesError(
                "MessageRejected" if "verified" in exc.message else "SendingPausedException", exc.message
            ) from None

    # -- SESv2 -------------------------------------------------------------------------
    def v2_get_account(self, args: dict[str, Any]) -> dict[str, Any]:
        account = self.world.scenario.account
        with self.world.lock:
            enabled = self.world.sending_enabled
        details: dict[str, Any] = {
            "MailType": account.mail_type,
            "WebsiteURL": account.website_url,
            "ContactLanguage": "EN",
            "UseCaseDescription": "Transactional mail of thephenom.app",
            "AdditionalContactEmailAddresses": [],
            "ReviewDetails": {"Status": account.review_status},
        }
        if account.review_case_id:
            details["ReviewDetails"]["CaseId"] = account.review_case_id
        return {
            "DedicatedIpAutoWarmupEnabled": False,
            "EnforcementStatus": account.enforcement_status,
            "ProductionAccessEnabled": account.production_access,
            "SendQuota": {
                "Max24HourSend": account.max_24_hour_send,
                "MaxSendRate": account.max_send_rate,
                "SentLast24Hours": self.world.sent_last_24h(),
            },
            "SendingEnabled": enabled,
            "SuppressionAttributes": {"SuppressedReasons": ["BOUNCE", "COMPLAINT"]},
            "Details": details,
            "VdmAttributes": {"VdmEnabled": "ENABLED" if account.vdm_enabled else "DISABLED"},
        }

    def v2_put_sending(self, args: dict[str, Any]) -> dict[str, Any]:
        with self.world.lock:
            self.world.sending_enabled = bool(args.get("SendingEnabled", False))
        return {}

    def v2_list_identities(self, args: dict[str, Any]) -> dict[str, Any]:
        names = self.world.identity_names()
        start = int(args.get("NextToken") or 0)
        size = min(int(args.get("PageSize") or 1000), 1000)
        out = []
        for name in names[start : start + size]:
            identity = self.world.identity_view(name)
            if identity is None:  # listed a moment ago, deleted since
                continue
            out.append(
                {
                    "IdentityType": "DOMAIN" if identity.is_domain else "EMAIL_ADDRESS",
                    "IdentityName": name,
                    "SendingEnabled": identity.verification == "Success",
                    "VerificationStatus": _v2_status(identity.verification),
                }
            )
        result: dict[str, Any] = {"EmailIdentities": out}
        if start + size < len(names):
            result["NextToken"] = str(start + size)
        return result

    def v2_dedicated_ips(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "DedicatedIps": [
                {"Ip": ip, "WarmupStatus": "DONE", "WarmupPercentage": 100, "PoolName": "ses-default-dedicated-pool"}
                for ip in self.world.scenario.account.dedicated_ips
            ]
        }

    def v2_event_destinations(self, args: dict[str, Any]) -> dict[str, Any]:
        """The configuration set's event destinations in SESv2's shape (SNS, Firehose, EventBridge, CloudWatch).
        The sets themselves are moto's (the scenario's are created there); one the scenario does not
        describe has no destination."""
        name = args["ConfigurationSetName"]
        found = next((c for c in self.world.scenario.configuration_sets if c.name == name), None)
        out: list[dict[str, Any]] = []
        for dest in found.destinations if found else []:
            item: dict[str, Any] = {"Name": dest.name, "Enabled": dest.enabled, "MatchingEventTypes": dest.types}
            if dest.kind == "sns":
                item["SnsDestination"] = {"TopicArn": f"arn:aws:sns:{self.region}:{ACCOUNT}:{dest.target}"}
            elif dest.kind == "firehose":
                item["KinesisFirehoseDestination"] = {
                    "DeliveryStreamArn": f"arn:aws:firehose:{self.region}:{ACCOUNT}:deliverystream/{dest.target}",
                    "IamRoleArn": f"arn:aws:iam::{ACCOUNT}:role/ses-firehose",
                }
            elif dest.kind == "eventbridge":
                item["EventBridgeDestination"] = {
                    "EventBusArn": f"arn:aws:events:{self.region}:{ACCOUNT}:event-bus/{dest.target}"
                }
            else:
                item["CloudWatchDestination"] = {"DimensionConfigurations": []}
            out.append(item)
        return {"EventDestinations": out}

    def v2_get_identity(self, args: dict[str, Any]) -> dict[str, Any]:
        name = args["EmailIdentity"]
        identity = self.world.identity_view(name)
        if identity is None:
            raise SesError("NotFoundException", f"Email identity {name} does not exist.", 404)
        with self.world.lock:
            signing = self.world.dkim_enabled.get(name, identity.dkim_enabled)
        dkim: dict[str, Any] = {
            "SigningEnabled": signing,
            "Status": _v2_status(identity.dkim),
            "SigningAttributesOrigin": "AWS_SES",
            "NextSigningKeyLength": "RSA_2048_BIT",
            "CurrentSigningKeyLength": "RSA_2048_BIT",
        }
        if identity.is_domain and identity.dkim != "NotStarted":
            dkim["Tokens"] = self.world.scenario.dkim_tokens(name)
            dkim["SigningHostedZone"] = "dkim.amazonses.com"
        mail_from: dict[str, Any] = {
            "BehaviorOnMxFailure": "USE_DEFAULT_VALUE"
            if identity.behavior_on_mx_failure == "UseDefaultValue"
            else "REJECT_MESSAGE"
        }
        if identity.mail_from_domain:
            mail_from.update(
                {
                    "MailFromDomain": identity.mail_from_domain,
                    "MailFromDomainStatus": identity.mail_from_status.upper().replace(
                        "TEMPORARYFAILURE", "TEMPORARY_FAILURE"
                    ),
                }
            )
        default_set = next(
            (c.name for c in self.world.scenario.configuration_sets if name.lower() in map(str.lower, c.default_for)),
            None,
        )
        return {
            **({"ConfigurationSetName": default_set} if default_set else {}),
            "IdentityType": "DOMAIN" if identity.is_domain else "EMAIL_ADDRESS",
            "FeedbackForwardingStatus": True,
            "VerifiedForSendingStatus": identity.verification == "Success",
            "DkimAttributes": dkim,
            "MailFromAttributes": mail_from,
            "Policies": {},
            "Tags": [],
            "VerificationStatus": _v2_status(identity.verification),
        }

    def v2_put_dkim(self, args: dict[str, Any]) -> dict[str, Any]:
        name = args["EmailIdentity"]
        if self.world.identity_view(name) is None:
            raise SesError("NotFoundException", f"Email identity {name} does not exist.", 404)
        with self.world.lock:
            self.world.dkim_enabled[name] = bool(args.get("SigningEnabled", False))
        return {}

    def v2_list_suppressed(self, args: dict[str, Any]) -> dict[str, Any]:
        with self.world.lock:
            items = sorted(self.world.suppressed.values(), key=lambda s: s["EmailAddress"])
        reasons = args.get("Reason") or args.get("Reasons")
        if reasons:
            items = [i for i in items if i["Reason"] in _listify(reasons)]
        start = int(args.get("NextToken") or 0)
        size = min(int(args.get("PageSize") or 1000), 1000)
        result: dict[str, Any] = {"SuppressedDestinationSummaries": items[start : start + size]}
        if start + size < len(items):
            result["NextToken"] = str(start + size)
        return result

    def v2_get_suppressed(self, args: dict[str, Any]) -> dict[str, Any]:
        email = args["EmailAddress"]
        with self.world.lock:
            item = self.world.suppressed.get(email)
        if item is None:
            raise SesError("NotFoundException", f"Email address {email} does not exist on your suppression list.", 404)
        digest = hashlib.sha256(email.lower().encode()).hexdigest()
        ids = {
            "MessageId": f"{digest[:16]}-{digest[16:24]}-000000",
            "FeedbackId": f"{digest[24:40]}-{digest[40:48]}-000001",
        }
        return {"SuppressedDestination": {**item, "Attributes": ids}}

    def v2_message_insights(self, args: dict[str, Any]) -> dict[str, Any]:
        """VDM's view of one message, from the scenario's named recipient events; only when VDM is on
        (SES answers a NotFoundException for an unknown id)."""
        scenario = self.world.scenario
        wanted = args.get("MessageId", "")
        if not scenario.account.vdm_enabled:
            raise SesError("BadRequestException", "Virtual Deliverability Manager is not enabled for this account.")
        kinds = {
            "Delivery": "DELIVERY",
            "Bounce": "BOUNCE",
            "Complaint": "COMPLAINT",
            "DeliveryDelay": "DELIVERY_DELAY",
        }
        for index, event in enumerate(scenario.recipients):
            if notifications.recipient_message_id(scenario, index) != wanted:
                continue
            when = self.world.as_of - timedelta(hours=event.hours_ago)
            events: list[dict[str, Any]] = [{"Timestamp": when - timedelta(seconds=3), "Type": "SEND"}]
            details: dict[str, Any] = {}
            if event.kind == "Bounce":
                details = {
                    "Bounce": {
                        "BounceType": event.bounce_type.upper(),
                        "BounceSubType": event.bounce_subtype,
                        "DiagnosticCode": event.diagnostic,
                    }
                }
            elif event.kind == "Complaint":
                details = {"Complaint": {"ComplaintFeedbackType": event.complaint_type}}
            if event.kind in kinds:
                events.append(
                    {"Timestamp": when, "Type": kinds[event.kind], **({"Details": details} if details else {})}
                )
            else:
                events = [{"Timestamp": when, "Type": "REJECT"}]
            return {
                "MessageId": wanted,
                "FromEmailAddress": event.source,
                "Subject": "Your password reset link",
                "EmailTags": [{"Name": "service", "Value": "api"}],
                "Insights": [{"Destination": event.email, "Isp": "Other", "Events": events}],
            }
        raise SesError("NotFoundException", f"Message {wanted} does not exist.", 404)

    def v2_list_recommendations(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"Recommendations": []}

    def v2_put_suppressed(self, args: dict[str, Any]) -> dict[str, Any]:
        email, reason = args.get("EmailAddress", ""), args.get("Reason", "")
        if reason not in ("BOUNCE", "COMPLAINT") or "@" not in email:
            raise SesError("BadRequestException", "EmailAddress and Reason (BOUNCE or COMPLAINT) are required")
        with self.world.lock:
            self.world.suppressed[email] = {
                "EmailAddress": email,
                "Reason": reason,
                "LastUpdateTime": datetime.now(timezone.utc),
            }
        return {}

    def v2_delete_suppressed(self, args: dict[str, Any]) -> dict[str, Any]:
        email = args["EmailAddress"]
        with self.world.lock:
            if self.world.suppressed.pop(email, None) is None:
                raise SesError(
                    "NotFoundException", f"Email address {email} does not exist on your suppression list.", 404
                )
        return {}


def _v2_status(v1_status: str) -> str:
    return {
        "Success": "SUCCESS",
        "Pending": "PENDING",
        "Failed": "FAILED",
        "TemporaryFailure": "TEMPORARY_FAILURE",
        "NotStarted": "NOT_STARTED",
    }[v1_status]


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(type(value))


_REST_OPS: dict[str, list[tuple[str, re.Pattern[str], str]]] = {}


def sesv2_operation(method: str, path: str) -> tuple[str, dict[str, str]]:
    """Name a SESv2 REST request, and its path parameters, from botocore's own service model."""
    return rest_operation("sesv2", method, path)


def rest_operation(service: str, method: str, path: str) -> tuple[str, dict[str, str]]:
    """Name a REST request of ``service``, and its path parameters, from botocore's own service model."""
    if service not in _REST_OPS:
        model = botocore.session.get_session().get_service_model(service)
        ops: list[tuple[str, re.Pattern[str], str]] = []
        for name in model.operation_names:
            http = model.operation_model(name).http
            uri = http["requestUri"].split("?")[0]
            regex = re.sub(r"\\{([^}]+)\\}", lambda m: f"(?P<{m.group(1).rstrip('+')}>[^/]+)", re.escape(uri))
            ops.append((http["method"], re.compile(f"^{regex}$"), name))
        _REST_OPS[service] = sorted(ops, key=lambda o: -len(o[1].pattern))
    for verb, pattern, name in _REST_OPS[service]:
        match = pattern.match(path)
        if verb == method and match:
            return name, {k: unquote(v) for k, v in match.groupdict().items()}
    return f"{method} {path}", {}


def _v2_args(environ: dict[str, Any], body: bytes, path_args: dict[str, str]) -> dict[str, Any]:
    """A SESv2 request's parameters wherever botocore put them: path, query string or JSON body."""
    args: dict[str, Any] = {k: v[0] if len(v) == 1 else v for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    if body:
        try:
            args.update(json.loads(body))
        except ValueError:
            pass
    args.update(path_args)
    return args


def _listify(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _s3_operation(method: str, path: str, query: str) -> str:
    """Name an S3 REST request (path style) the way botocore's model does: what the mail test reads."""
    parts = [p for p in path.split("/") if p]
    if method == "GET" and len(parts) == 1:
        return "ListObjectsV2" if "list-type=2" in query else "ListObjects"
    if method in ("GET", "HEAD") and len(parts) > 1:
        return "GetObject" if method == "GET" else "HeadObject"
    if method == "PUT":
        return "CreateBucket" if len(parts) == 1 else "PutObject"
    return f"{method} {path}"


def _signing_service(environ: dict[str, Any]) -> str:
    auth = environ.get("HTTP_AUTHORIZATION", "")
    match = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/", auth)
    service = match.group(1) if match else "unknown"
    return {"monitoring": "cloudwatch", "email": "ses"}.get(service, service)


def _access_key(environ: dict[str, Any]) -> str:
    match = re.search(r"Credential=([^/]+)/", environ.get("HTTP_AUTHORIZATION", ""))
    return match.group(1) if match else ""


def _operation(environ: dict[str, Any], body: bytes, path: str) -> str:
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return target.rsplit(".", 1)[-1]
    match = re.search(r"/operation/([A-Za-z]+)$", path)
    if match:
        return match.group(1)
    if body and environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        action = parse_qs(body.decode("utf-8", "replace")).get("Action")
        if action:
            return action[0]
    return f"{environ.get('REQUEST_METHOD')} {path}"
