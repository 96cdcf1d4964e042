"""Start and stop the whole sandbox: AWS (moto + the SES layer), DNS and SMTP on loopback."""

from __future__ import annotations

import functools
import json
import logging
import os
import random
import shlex
import tempfile
import threading
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from botocore.config import Config

from ses_runbook.core.errors import SandboxError
from ses_runbook.core.feedbackpipe import (
    ALARM_TOPIC,
    ALARMS,
    FEEDBACK_QUEUE,
    FEEDBACK_TOPIC,
    RETENTION_S,
    alarm_request,
    queue_arn,
    queue_policy,
)
from ses_runbook.core.iampolicy import allows
from ses_runbook.core.params import Params
from ses_runbook.core.smtpcred import derive_sigv2_password, derive_smtp_password
from ses_runbook.sandbox import notifications, s3store
from ses_runbook.sandbox import scenario as scenario_mod
from ses_runbook.sandbox.aws_app import SesLayer
from ses_runbook.sandbox.dns import DnsServer
from ses_runbook.sandbox.imap import ImapServer
from ses_runbook.sandbox.inbound import create_bucket, seed
from ses_runbook.sandbox.mail import keypair
from ses_runbook.sandbox.mail import records as dkim_key_records
from ses_runbook.sandbox.smtp import SmtpServer
from ses_runbook.sandbox.world import ACCOUNT, METRICS, SANDBOX_KEY, World

HOST = "127.0.0.1"
DEFAULT_PORTS = {"aws": 5050, "dns": 5053, "smtp": 5587, "imap": 5143}
OLD_KEY_ID = "AKIASANDBOXROTATED01"
AMAZONSES_SPF = (
    "v=spf1 ip4:199.255.192.0/22 ip4:199.127.232.0/22 ip4:54.240.0.0/18 ip4:69.169.224.0/20 "
    "ip4:23.249.208.0/20 ip4:23.251.224.0/19 ip4:76.223.176.0/20 ip4:54.240.64.0/19 ip4:54.240.96.0/19 "
    "ip4:52.82.172.0/22 -all"
)
_ACTIVE: list[Sandbox] = []
_DATAPOINTS: dict[str, list[Any]] = {}  # a world's CloudWatch datapoints (moto's objects), by scenario
_ACTIVE_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def _ses_managed_policies() -> str:
    """moto's AWS-managed policies (JSON), only those with a statement allowing ``ses:…`` or ``*``.

    moto builds all 1,600 of them in each IAM backend at every reset (over a second per sandbox
    start); the runbook reads a managed policy only to learn whether it lets a user send, and
    every policy that can is kept.
    """
    # deferred: moto (1.5 s): only when the sandbox starts; its constants and scenarios stay cheap
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    def grants_ses(document: dict[str, Any]) -> bool:
        statements = document.get("Statement", [])
        for statement in statements if isinstance(statements, list) else [statements]:
            actions = statement.get("Action", [])
            actions = actions if isinstance(actions, list) else [actions]
            if statement.get("Effect") == "Allow" and any(a == "*" or a.lower().startswith("ses:") for a in actions):
                return True
        return False

    policies = json.loads(aws_managed_policies_data)
    return json.dumps({name: policy for name, policy in policies.items() if grants_ses(policy["Document"])})


class Sandbox:
    """The embedded SES world for one scenario; a context manager.

    moto keeps its state in module globals, so one sandbox runs per process at a time.
    """

    def __init__(
        self,
        scenario: str = "healthy",
        ports: dict[str, int] | None = None,
        state_dir: str | Path | None = None,
        as_of: str | None = None,
        s3_dir: str | Path | None = None,
    ) -> None:
        self.scenario = scenario_mod.load(scenario)
        # The world's "now": given, the scenario's own, or the start time rounded down to 15 minutes.
        if as_of or not self.scenario.as_of:
            now = datetime.now(timezone.utc)
            pinned = as_of or (
                now - timedelta(minutes=now.minute % 15, seconds=now.second, microseconds=now.microsecond)
            ).strftime("%Y-%m-%dT%H:%M:%SZ")
            self.scenario = self.scenario.model_copy(update={"as_of": pinned})
        self.ports = {k: 0 for k in DEFAULT_PORTS} | (ports or {})
        self._tmp: tempfile.TemporaryDirectory | None = None
        if state_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="ses-runbook-sandbox-")
            state_dir = self._tmp.name
        self.state_dir = Path(state_dir).expanduser()
        self.world = World.build(self.scenario)
        self.layer: Any = None
        self._http: Any = None
        self.dns: Any = None
        self.smtp: Any = None
        self.s3_dir = Path(s3_dir).expanduser() if s3_dir else None  # where S3 objects persist between sessions

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> Sandbox:
        with _ACTIVE_LOCK:
            if _ACTIVE:
                raise SandboxError("a sandbox is already running in this process")
            _ACTIVE.append(self)
        try:
            self._start_aws()
            self._seed()
            self._start_dns()
            self._start_smtp()
            self._start_imap()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._http is not None and self.s3_dir is not None:
            try:
                s3store.save(
                    s3store.client(self.endpoint_url, self.scenario.region),
                    self.s3_dir,
                    skip=frozenset({self.scenario.mail.inbound_bucket, notifications.EVENTS_BUCKET}),
                )
            except Exception as exc:  # noqa: BLE001 - stopping must finish
                logging.getLogger(__name__).warning("sandbox S3 not saved to %s: %s", self.s3_dir, exc)
        for server in (getattr(self, "imap", None), self.smtp, self.dns):
            if server is not None:
                server.stop()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        with _ACTIVE_LOCK:
            if self in _ACTIVE:
                _ACTIVE.remove(self)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- AWS ---------------------------------------------------------------------------
    def _start_aws(self) -> None:
        from moto.backends import get_backend  # noqa: F401  (import moto before serving); deferred: moto (1.5 s): only when the sandbox starts; its constants and scenarios stay cheap
        from moto.moto_api._internal.models import moto_api_backend
        from moto.server import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        # AWS-managed policies (AmazonSESFullAccess...) exist in every account; moto loads them on request,
        # the ones that can grant an SES action only (see _ses_managed_policies).
        os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
        # deferred: moto (1.5 s): only when the sandbox starts; its constants and scenarios stay cheap
        import moto.iam.models

        moto.iam.models.aws_managed_policies_data = _ses_managed_policies()
        moto_api_backend.reset()
        # deferred: moto (1.5 s): only when the sandbox starts; its constants and scenarios stay cheap
        from moto.moto_api._internal import mock_random

        mock_random.seed(self.scenario.traffic.seed)  # stable key ids and message ids between runs
        moto_app = DomainDispatcherApplication(create_backend_app)
        self.layer = SesLayer(self.world, moto_app, self.scenario.region)
        try:
            self._http = make_server(HOST, self.ports["aws"], self.layer, threaded=True)
        except OSError as exc:
            raise SandboxError(f"cannot listen on {HOST}:{self.ports['aws']} for AWS: {exc.strerror}") from None
        self.ports["aws"] = self._http.server_port
        threading.Thread(
            target=self._http.serve_forever,
            kwargs={"poll_interval": 0.05},  # stop returns within 50 ms
            name="sandbox-aws",
            daemon=True,
        ).start()

    @property
    def endpoint_url(self) -> str:
        return f"http://{HOST}:{self.ports['aws']}"

    def client(self, service: str) -> Any:
        """A plain boto3 client on the sandbox, for seeding and for tests."""
        # deferred: boto3 loads s3transfer: only the S3 reports root and SNS need it
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=self.scenario.region,
            aws_access_key_id=SANDBOX_KEY[0],
            aws_secret_access_key=SANDBOX_KEY[1],
            config=Config(disable_request_compression=True, retries={"max_attempts": 1}),
        )

    def _seed(self) -> None:
        ses = self.client("ses")
        for identity in self.scenario.identities:
            if identity.is_domain:
                ses.verify_domain_identity(Domain=identity.name)
            else:
                ses.verify_email_identity(EmailAddress=identity.name)
        for config_set in self.scenario.configuration_sets:
            self.client("sesv2").create_configuration_set(ConfigurationSetName=config_set.name)
        self._seed_iam()
        self._seed_metrics()
        self._seed_feedback()

        create_bucket(self.world, self.client("s3"))
        seed(self.world)

        s3store.restore(
            s3store.client(self.endpoint_url, self.scenario.region),
            self.scenario.region,
            self.s3_dir,
            skip=frozenset({self.scenario.mail.inbound_bucket, notifications.EVENTS_BUCKET}),
        )
        self.layer.reset_calls()

    def _seed_iam(self) -> None:
        # deferred: moto (1.5 s): only when the sandbox starts; its constants and scenarios stay cheap
        from moto.iam.models import AccessKeyLastUsed, iam_backends

        iam = self.client("iam")
        as_of = self.world.as_of
        policy = (
            '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ses:SendRawEmail"],"Resource":"*"}]}'
        )
        backend = None
        for user in self.scenario.users:
            iam.create_user(UserName=user.name, Tags=[{"Key": "managed-by", "Value": "ses-runbook-sandbox"}])
            if user.can_send:
                iam.put_user_policy(UserName=user.name, PolicyName="ses-smtp-send", PolicyDocument=policy)
            for key in user.keys:
                created = iam.create_access_key(UserName=user.name)["AccessKey"]
                key_id, secret = created["AccessKeyId"], created["SecretAccessKey"]
                if key.status == "Inactive":
                    iam.update_access_key(UserName=user.name, AccessKeyId=key_id, Status="Inactive")
                backend = backend or iam_backends[created.get("AccountId", ACCOUNT)]["aws"]
                stored = backend.access_keys[key_id] if key_id in getattr(backend, "access_keys", {}) else None
                if stored is None:
                    stored = next(k for k in backend.users[user.name].access_keys if k.access_key_id == key_id)
                stored.create_date = (as_of - timedelta(days=key.age_days)).replace(tzinfo=None)
                if key.last_used_days is not None:
                    stored.last_used = AccessKeyLastUsed(
                        timestamp=(as_of - timedelta(days=key.last_used_days)).replace(tzinfo=None),
                        service="ses",
                        region=self.scenario.region,
                    )
                self.world.keys[key_id] = {
                    "user": user.name,
                    "secret": secret,
                    "status": key.status,
                    "can_send": user.can_send,
                }
                if key.service_holds:
                    self._service_key = (key_id, secret)
        held = getattr(self, "_service_key", None)
        mode = self.scenario.smtp.service_password
        if mode == "current" and held:
            self.world.service_credentials = (held[0], derive_smtp_password(held[1], self.scenario.region))
        elif mode == "iam-secret" and held:
            self.world.service_credentials = held
        elif mode == "sigv2" and held:
            self.world.service_credentials = (held[0], derive_sigv2_password(held[1]))
        elif mode == "other-region" and held:
            self.world.service_credentials = (held[0], derive_smtp_password(held[1], self.scenario.smtp.other_region))
        elif mode == "old":
            self.world.service_credentials = (
                OLD_KEY_ID,
                derive_smtp_password("rotated-away-secret-key-material-000000", self.scenario.region),
            )

    def _seed_metrics(self) -> None:
        """The traffic's AWS/SES datapoints, for what moto answers itself (GetMetricStatistics, ListMetrics).

        moto's own datapoint objects, made as its PutMetricData handler makes them (UTC without
        tzinfo, as its parser leaves it) and added to its CloudWatch backend: ten HTTP requests of
        1,000 points each took most of a sandbox's start. moto only reads them, so a process that
        starts the same world again (tests do, many times) reuses them.
        """
        # deferred: moto (1.5 s): only when the sandbox starts; its constants and scenarios stay cheap
        from moto.cloudwatch.models import MetricDatum, cloudwatch_backends

        key = self.scenario.model_dump_json()
        data = _DATAPOINTS.get(key)
        if data is None:
            data = []
            for point in self.world.points:
                when = point.timestamp.astimezone(timezone.utc).replace(tzinfo=None)
                for name, (attr, unit) in METRICS.items():
                    data.append(
                        MetricDatum(
                            namespace="AWS/SES",
                            name=name,
                            value=float(getattr(point, attr)),
                            dimensions=[],
                            timestamp=when,
                            unit=unit,
                        )
                    )
            if len(_DATAPOINTS) >= 8:
                _DATAPOINTS.pop(next(iter(_DATAPOINTS)))
            _DATAPOINTS[key] = data
        cloudwatch_backends[ACCOUNT][self.scenario.region].metric_data.extend(data)

    def _seed_feedback(self) -> None:
        """The scenario's feedback pipeline: SNS topic, SQS queue and subscription, identity notification
        topics, reputation alarms, and the notifications waiting on the queue."""

        # deferred: moto (1.5 s): only when the sandbox starts; its constants and scenarios stay cheap
        from moto.sqs.models import sqs_backends

        fb = self.scenario.feedback
        region = self.scenario.region
        sns, sqs = self.client("sns"), self.client("sqs")
        self.feedback_queue_url = None
        self.events_s3: str | None = None
        topic = sns.create_topic(Name=FEEDBACK_TOPIC)["TopicArn"] if fb.topic else None
        if topic and fb.subscription == "sqs":
            self.feedback_queue_url = sqs.create_queue(
                QueueName=FEEDBACK_QUEUE, Attributes={"MessageRetentionPeriod": str(RETENTION_S)}
            )["QueueUrl"]
            feedback_queue = queue_arn(region, ACCOUNT)
            policy = queue_policy(feedback_queue, topic)
            sqs.set_queue_attributes(QueueUrl=self.feedback_queue_url, Attributes={"Policy": json.dumps(policy)})
            sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=feedback_queue)
        elif topic and fb.subscription == "email":
            sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="postmaster@thephenom.app")
        if topic and fb.identity_topics:
            ses = self.client("ses")
            for identity in self.scenario.identities:
                if identity.is_domain:
                    for kind in ("Bounce", "Complaint", "Delivery"):
                        ses.set_identity_notification_topic(
                            Identity=identity.name, NotificationType=kind, SnsTopic=topic
                        )
        if fb.alarms:
            alarm_topic = sns.create_topic(Name=ALARM_TOPIC)["TopicArn"]
            sns.subscribe(TopicArn=alarm_topic, Protocol="email", Endpoint="oncall@thephenom.app")
            cloudwatch = self.client("cloudwatch")
            for alarm in ALARMS:  # at the runbook's default warn levels, where feedback.alarms wants them
                threshold = Params.model_fields[alarm.level].default
                cloudwatch.put_metric_alarm(**alarm_request(alarm, threshold, alarm_topic))
        if fb.extra_alarms:
            alarm_topic = sns.create_topic(Name=ALARM_TOPIC)["TopicArn"]
            if not fb.alarms:
                sns.subscribe(TopicArn=alarm_topic, Protocol="email", Endpoint="oncall@thephenom.app")
            cloudwatch = self.client("cloudwatch")
            for extra in fb.extra_alarms:
                request = {"Namespace": "AWS/SES", "Statistic": "Average", "Period": 3600, "EvaluationPeriods": 1}
                request.update(extra)
                request["AlarmActions"] = [
                    a if a.startswith("arn:") else f"arn:aws:sns:{region}:{ACCOUNT}:{a}"
                    for a in extra.get("AlarmActions", [ALARM_TOPIC])
                ]
                cloudwatch.put_metric_alarm(**request)
        if self.feedback_queue_url and topic:
            rng = random.Random(self.scenario.traffic.seed + 13)
            # Straight into moto's queue, stamped with when SNS delivered them: moto's SendMessage recounts
            # the whole queue on every call (minutes for a spike's thousands).
            # deferred: moto (1.5 s): only when the sandbox starts; its constants and scenarios stay cheap
            from moto.sqs.models import Message

            queue = sqs_backends[ACCOUNT][region].get_queue(FEEDBACK_QUEUE)
            items = notifications.queue_notifications(self.scenario, self.world.points, self.world.as_of)
            for when, message in items:
                item = Message(
                    str(uuid.UUID(int=rng.getrandbits(128))), notifications.envelope(message, topic, when, rng)
                )
                item.sent_timestamp = int((when + timedelta(milliseconds=180)).timestamp() * 1000)  # type: ignore[assignment]  # moto types it None until sent
                queue._messages.append(item)
            self._seed_events(items)

    def _seed_events(self, items: list[tuple[datetime, dict[str, Any]]]) -> None:
        """The same notifications as a configuration set's Firehose destination stores them in S3
        (``events_s3``), straight into moto's bucket (a PutObject per hour would cost seconds a start)."""
        # deferred: moto (1.5 s): only when the sandbox starts; its constants and scenarios stay cheap
        from moto.s3.models import s3_backends

        backend = s3_backends[ACCOUNT]["aws"]
        backend.create_bucket(notifications.EVENTS_BUCKET, self.scenario.region)
        for key, body in notifications.firehose_objects(items).items():
            backend.put_object(notifications.EVENTS_BUCKET, key, body)
        self.events_s3 = f"s3://{notifications.EVENTS_BUCKET}/{notifications.EVENTS_PREFIX}"

    # -- IAM enforcement ---------------------------------------------------------------
    def create_role_user(self, name: str, policy_document: str | dict) -> tuple[str, str]:
        """An IAM user holding exactly ``policy_document`` (inline); returns its access key pair."""

        iam = self.client("iam")
        iam.create_user(UserName=name)
        document = policy_document if isinstance(policy_document, str) else json.dumps(policy_document)
        iam.put_user_policy(UserName=name, PolicyName=f"{name}-policy", PolicyDocument=document)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        self.layer.reset_calls()
        return key["AccessKeyId"], key["SecretAccessKey"]

    def enforce_iam(self, on: bool = True) -> None:
        """Answer AccessDenied to IAM users whose policies lack an action (the sandbox's own key stays admin)."""
        self.layer.authorize = self._authorize if on else None

    def _authorize(self, key_id: str, action: str) -> str | None:
        # deferred: moto (1.5 s): only when the sandbox starts; its constants and scenarios stay cheap
        from moto.iam.models import iam_backends

        if key_id == SANDBOX_KEY[0]:
            return None
        backend = iam_backends[ACCOUNT]["aws"]
        for user in list(backend.users.values()):
            if any(k.access_key_id == key_id for k in user.access_keys):
                documents = list(user.policies.values())
                for managed in user.managed_policies.values():
                    documents += [v.document for v in managed.versions if getattr(v, "is_default", False)]
                return None if allows(documents, action) else f"arn:aws:iam::{ACCOUNT}:user/{user.name}"
        return "an unknown access key"

    # -- DNS and SMTP ------------------------------------------------------------------
    def dns_records(self) -> list[dict[str, Any]]:
        """The scenario's zone: DKIM CNAMEs for the identities' tokens, SPF, DMARC, MAIL FROM MX."""
        dns = self.scenario.dns
        region = self.scenario.region
        records: list[dict[str, Any]] = []
        for identity in self.scenario.identities:
            if not identity.is_domain:
                continue
            name = identity.name
            records.append({"name": name, "type": "A", "value": "192.0.2.10"})
            records.append({"name": name, "type": "MX", "value": f"10 inbound-smtp.{region}.amazonaws.com"})
            for i, token in enumerate(self.scenario.dkim_tokens(name)):
                if i in dns.dkim_missing:
                    continue
                target = (
                    f"{token}.dkim.amazonses.com" if i not in dns.dkim_wrong_target else f"{token}.dkim.example.net"
                )
                records.append({"name": f"{token}._domainkey.{name}", "type": "CNAME", "value": target})
            if dns.spf:
                records.append({"name": name, "type": "TXT", "value": dns.spf})
            if dns.dmarc:
                records.append({"name": f"_dmarc.{name}", "type": "TXT", "value": dns.dmarc})
            if identity.mail_from_domain:
                if dns.mail_from_mx:
                    records.append(
                        {
                            "name": identity.mail_from_domain,
                            "type": "MX",
                            "value": dns.mail_from_mx.format(region=region),
                        }
                    )
                if dns.spf:
                    records.append({"name": identity.mail_from_domain, "type": "TXT", "value": dns.spf})
            # The public keys behind the Easy DKIM CNAMEs (and amazonses.com's own), so signatures verify.

            records.extend(dkim_key_records(name, self.scenario.dkim_tokens(name), keypair("sandbox")[1]))
        # AWS's own published SPF, so an include:amazonses.com resolves (and counts) as in production.
        records.append({"name": "amazonses.com", "type": "TXT", "value": AMAZONSES_SPF})
        # The named recipients' domains (the trace examples'): MX and A, a null MX, or an A record alone.
        for domain in self.scenario.recipient_domains():
            records.append({"name": domain, "type": "A", "value": "192.0.2.80"})
            if domain in dns.null_mx:
                records.append({"name": domain, "type": "MX", "value": "0 ."})
            elif domain not in dns.no_mx:
                records.append({"name": domain, "type": "MX", "value": f"10 mx1.{domain}"})
        records.extend(dns.extra)
        unique = {(r["name"], r["type"], str(r["value"])): r for r in records}
        return [{"ttl": 300, **r} for r in unique.values()]

    def _start_dns(self) -> None:
        try:
            self.dns = DnsServer(self.dns_records(), host=HOST, port=self.ports["dns"]).start()
        except OSError as exc:
            raise SandboxError(f"cannot listen on {HOST}:{self.ports['dns']} for DNS: {exc.strerror}") from None
        self.ports["dns"] = self.dns.port

    def smtp_credentials(self) -> dict[str, str]:
        """Exactly what SES would accept: passwords derived from active keys of users who may send."""
        with self.world.lock:
            return {
                key_id: derive_smtp_password(k["secret"], self.scenario.region)
                for key_id, k in self.world.keys.items()
                if k["status"] == "Active" and k["can_send"]
            }

    def _start_smtp(self) -> None:
        try:
            self.smtp = SmtpServer(
                self.smtp_credentials, cert_dir=self.state_dir, host=HOST, port=self.ports["smtp"]
            ).start()
        except OSError as exc:
            raise SandboxError(f"cannot listen on {HOST}:{self.ports['smtp']} for SMTP: {exc.strerror}") from None
        self.ports["smtp"] = self.smtp.port

    IMAP_PASSWORD = "sandbox-mailbox-password"  # the loopback test mailbox's login (not a secret anywhere else)

    def _start_imap(self) -> None:
        """The test mailbox at a 'provider': copies of the inbound mail, filed in Inbox or Spam."""

        try:
            self.imap = ImapServer(
                self.scenario.mail.imap_username, self.IMAP_PASSWORD, host=HOST, port=self.ports.get("imap", 0)
            ).start()
        except OSError as exc:
            raise SandboxError(
                f"cannot listen on {HOST}:{self.ports.get('imap', 0)} for IMAP: {exc.strerror}"
            ) from None
        self.ports["imap"] = self.imap.port
        with self.world.lock:
            stored = list(self.world.inbox)
            self.world.mailbox = self.imap
        for item in stored:
            if self.scenario.mail.deliver:
                self.imap.deliver(item["raw"], item["folder"])

    # -- pointing the runbook at it ----------------------------------------------------
    def params(self) -> dict[str, Any]:
        """Parameter values that point the runbook at this sandbox."""
        mail = self.scenario.mail
        values = {
            "endpoint_url": self.endpoint_url,
            "region": self.scenario.region,
            "dns_nameservers": [f"{HOST}:{self.ports['dns']}"],
            "smtp_host": HOST,
            "smtp_port": self.ports["smtp"],
            "smtp_tls_ca_file": str(self.smtp.ca_file),
            "inbound_address": mail.inbound_address,
            "inbound_bucket": mail.inbound_bucket,
            "inbound_prefix": mail.inbound_prefix,
            "contact_list": mail.contact_list,
            "imap_host": HOST,
            "imap_port": self.ports["imap"],
            "feedback_queue_url": getattr(self, "feedback_queue_url", None),
            "notify_allow_private": True,  # a notification receiver next to the sandbox is on loopback too
        }
        return {k: v for k, v in values.items() if v is not None}

    def env(
        self, smtp_username_env: str = "SES_SMTP_USERNAME", smtp_password_env: str = "SES_SMTP_PASSWORD"
    ) -> dict[str, str]:
        """Environment for processes (kernels) that use the sandbox: fake AWS keys, the services' SMTP login,
        and ``SES_RUNBOOK_*`` values for parameters a notebook leaves unset."""
        env = {"AWS_ACCESS_KEY_ID": SANDBOX_KEY[0], "AWS_SECRET_ACCESS_KEY": SANDBOX_KEY[1]}
        for name, value in self.params().items():
            if name != "region":
                env[f"SES_RUNBOOK_{name.upper()}"] = ",".join(value) if isinstance(value, list) else str(value)
        if self.scenario.trace_example:  # what 12_trace traces when no recipient is named: the scenario's example
            env["SES_RUNBOOK_TRACE_RECIPIENTS"] = self.scenario.trace_example
        if self.world.service_credentials:
            env[smtp_username_env], env[smtp_password_env] = self.world.service_credentials
        env["MAIL_TEST_IMAP_USERNAME"], env["MAIL_TEST_IMAP_PASSWORD"] = (
            self.scenario.mail.imap_username,
            self.IMAP_PASSWORD,
        )
        return env

    def apply_env(self) -> dict[str, str | None]:
        """Set ``env()`` in this process (kernels inherit it); returns what to restore."""
        previous = {}
        for key, value in self.env().items():
            previous[key] = os.environ.get(key)
            os.environ[key] = value
        for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
            previous.setdefault(key, os.environ.get(key))
            os.environ.pop(key, None)
        return previous


def restore_env(previous: dict[str, str | None]) -> None:
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def write_env_file(box: Sandbox) -> Path:
    """The sandbox's environment as ``export`` lines in a 0600 file, so no credential, not even a
    fake one, is printed on a terminal or lands in a log."""
    path = box.state_dir / "env"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("".join(f"export {k}={shlex.quote(v)}\n" for k, v in box.env().items()))
    return path


def describe(box: Sandbox) -> str:
    """What ``ses-runbook sandbox`` prints: where everything listens and how to point at it."""
    env_file = write_env_file(box)
    return "\n".join(
        [
            f"ses-runbook sandbox: scenario '{box.scenario.name}' ({box.scenario.description}); Ctrl-C stops it",
            f"  AWS   {box.endpoint_url}   (SES, SESv2, CloudWatch, IAM, STS, S3, SNS, SQS; account {ACCOUNT})",
            f"  DNS   {HOST}:{box.ports['dns']}   (udp+tcp)",
            f"  SMTP  {HOST}:{box.ports['smtp']}   (STARTTLS; CA {box.smtp.ca_file})",
            f"  IMAP  {HOST}:{box.ports['imap']}   (test mailbox {box.scenario.mail.imap_username}; "
            f"inbound mail for {box.scenario.mail.inbound_address} also in s3://{box.scenario.mail.inbound_bucket})",
            "",
            "Point the runbook at it (sandbox-only AWS keys, the services' SMTP login, SES_RUNBOOK_* endpoints):",
            f"  source {env_file}",
            "  ses-runbook check          # or: papermill notebooks/00_health_check.ipynb out.ipynb -f parameters/sandbox.yaml",
        ]
    )
