"""Scenario files: the world the sandbox serves, stated in YAML.

A scenario may ``extends:`` another (deep merge; lists replace), so each failure mode is
the healthy account plus the one thing that is wrong with it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ses_runbook.core.errors import SandboxError

SCENARIO_DIR = Path(__file__).with_name("scenarios")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Account(_Strict):
    sending_enabled: bool = True
    production_access: bool = True
    enforcement_status: Literal["HEALTHY", "PROBATION", "SHUTDOWN"] = "HEALTHY"
    max_24_hour_send: float = 50000
    max_send_rate: float = 14
    sent_last_24h: float | None = None  # None: the sum of the scenario's last 24 h of traffic
    mail_type: str = "TRANSACTIONAL"
    website_url: str = "https://thephenom.app"
    review_status: str = "GRANTED"
    review_case_id: str | None = None
    vdm_enabled: bool = False  # Virtual Deliverability Manager on: GetMessageInsights answers
    dedicated_ips: list[str] = Field(default_factory=list)  # none: the account sends from AWS's shared IPs


class Identity(_Strict):
    name: str
    verification: Literal["Success", "Pending", "Failed", "TemporaryFailure", "NotStarted"] = "Success"
    dkim_enabled: bool = True
    dkim: Literal["Success", "Pending", "Failed", "TemporaryFailure", "NotStarted"] = "Success"
    mail_from_domain: str | None = None
    mail_from_status: Literal["Success", "Pending", "Failed", "TemporaryFailure"] = "Success"
    behavior_on_mx_failure: Literal["UseDefaultValue", "RejectMessage"] = "UseDefaultValue"

    @property
    def is_domain(self) -> bool:
        return "@" not in self.name


class Spike(_Strict):
    metric: Literal["bounce_rate", "complaint_rate", "sends"]
    start_hours_ago: float
    hours: float
    value: float  # a rate for *_rate, a multiplier for sends


class Burst(_Strict):
    """Minutes in which the application sent at ``per_second`` (CloudWatch's 1-minute Send sums show it)."""

    start_hours_ago: float
    minutes: int = Field(10, ge=1, le=1440)
    per_second: float = Field(gt=0)


class Traffic(_Strict):
    daily_sends: float = 12000
    bounce_rate: float = 0.012
    complaint_rate: float = 0.0002
    reject_rate: float = 0.0001
    reputation_window_hours: float = 24
    spikes: list[Spike] = Field(default_factory=list)
    bursts: list[Burst] = Field(default_factory=list)
    seed: int = 7


class Key(_Strict):
    status: Literal["Active", "Inactive"] = "Active"
    age_days: float = 30
    last_used_days: float | None = 0  # None: never used
    service_holds: bool = False  # the services' SMTP password is derived from this key


class User(_Strict):
    name: str
    can_send: bool = True  # holds an inline policy allowing ses:SendRawEmail
    keys: list[Key] = Field(default_factory=list)


class Dns(_Strict):
    dmarc: str | None = "v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@thephenom.app; adkim=r; aspf=r"
    spf: str | None = "v=spf1 include:amazonses.com ~all"
    mail_from_mx: str | None = "10 feedback-smtp.{region}.amazonses.com"
    dkim_missing: list[int] = Field(default_factory=list)  # indexes of DKIM tokens without a CNAME
    dkim_wrong_target: list[int] = Field(default_factory=list)
    # Recipient domains (of ``recipients`` and ``trace_example``) get an MX and an A record unless named
    # here: ``null_mx`` publishes RFC 7505's "0 ." (accepts no mail), ``no_mx`` only an A record.
    null_mx: list[str] = Field(default_factory=list)
    no_mx: list[str] = Field(default_factory=list)
    extra: list[dict[str, Any]] = Field(default_factory=list)


class Smtp(_Strict):
    """What the services hold as their SMTP login. ``current``: the key id and the password derived
    from its secret for the scenario's region; ``old``: a rotated-away key; ``iam-secret``: the raw
    secret access key as the password; ``sigv2``: the retired version-2 password of the key;
    ``other-region``: the version-4 password derived for ``other_region``."""

    service_password: Literal["current", "old", "none", "iam-secret", "sigv2", "other-region"] = "current"
    other_region: str = "eu-west-1"


class Suppressed(_Strict):
    email: str
    reason: Literal["BOUNCE", "COMPLAINT"] = "BOUNCE"
    days_ago: float = 1


class RecipientEvent(_Strict):
    """One notification SES wrote about a named recipient, waiting on the feedback queue: what a
    trace of that recipient (``ses-runbook trace``) must find."""

    email: str
    kind: Literal["Delivery", "Bounce", "Complaint", "DeliveryDelay", "Reject"] = "Delivery"
    hours_ago: float = Field(2, ge=0)
    source: str = "no-reply@thephenom.app"
    bounce_type: Literal["Permanent", "Transient", "Undetermined"] = "Permanent"
    bounce_subtype: str = "General"
    status: str = "5.1.1"
    diagnostic: str = "smtp; 550 5.1.1 The email account that you tried to reach does not exist"
    smtp_response: str = "250 2.0.0 OK"
    delay_type: str = "TransientCommunicationFailure"
    complaint_type: str = "abuse"


class FeedbackCause(_Strict):
    """Where a spike's extra bounces or complaints come from: what the notifications should let a reader find."""

    recipient_domain: str | None = None  # None: spread over the usual mailbox providers
    source: str = "no-reply@thephenom.app"
    caller: str = "api-mailer"  # the IAM identity that sent (mail.callerIdentity)
    tags: dict[str, str] = Field(default_factory=dict)  # message tags (mail.tags), e.g. the list import
    bounce_subtype: Literal["General", "NoEmail", "Suppressed"] = "NoEmail"
    complaint_type: str = "abuse"


class Delays(_Strict):
    """Late mail: DeliveryDelay notifications on the queue, and Delivery notifications with how long SES
    took (``processingTimeMillis``); the delayed messages are finally delivered hours later."""

    count: int = Field(60, ge=0, le=5000)  # DeliveryDelay notifications
    recipient_domain: str | None = "northwind.example"  # None: spread over the usual providers
    delay_type: str = "RecipientServerError"
    hours_ago: float = 6  # the delays fall in the hours from then ...
    hours: float = 3  # ... for this long
    deliveries: int = Field(300, ge=0, le=5000)  # Delivery notifications over the last day (delayed ones included)


class EventDestination(_Strict):
    """One event destination of a configuration set."""

    name: str
    enabled: bool = True
    types: list[str] = Field(default_factory=lambda: ["BOUNCE", "COMPLAINT", "DELIVERY"])
    kind: Literal["sns", "firehose", "eventbridge", "cloudwatch"] = "sns"
    target: str = "ses-feedback"  # the SNS topic's or Firehose stream's name


class ConfigurationSet(_Strict):
    name: str
    default_for: list[str] = Field(default_factory=list)  # identities whose default configuration set it is
    destinations: list[EventDestination] = Field(default_factory=list)


class Feedback(_Strict):
    """The bounce and complaint pipeline: SNS topic, SQS queue, identity notification topics, alarms."""

    topic: bool = True  # the SNS topic ses-feedback exists
    subscription: Literal["sqs", "email", "none"] = "sqs"  # what is subscribed to it (sqs: the queue ses-feedback)
    identity_topics: bool = True  # the domain's Bounce and Complaint notifications go to the topic
    alarms: bool = True  # CloudWatch alarms on Reputation.BounceRate and ComplaintRate, to ses-alarms
    queue_days: float = 3  # days of notifications waiting on the queue
    # share of the bounces and complaints put on the queue: a spike's thousands are thinned, because
    # moto's SQS scans the whole queue on every receive (AWS does not); shares between kinds stay true
    queue_sample: float = Field(1.0, gt=0, le=1)
    cause: FeedbackCause | None = None
    delays: Delays | None = None
    # further alarms, as CloudWatch PutMetricAlarm arguments (AlarmActions name topics by name: ses-alarms)
    extra_alarms: list[dict[str, Any]] = Field(default_factory=list)
    simulator_delay_s: dict[str, float] = Field(
        default_factory=lambda: {"success": 0.4, "bounce": 0.7, "complaint": 1.1, "suppressionlist": 0.2}
    )


class Mail(_Strict):
    """The mail path after SES: the receipt rule's bucket, the test mailbox, how SES signs."""

    inbound_address: str = "mail-test@thephenom.app"
    inbound_bucket: str = "thephenom-inbound-mail"
    inbound_prefix: str = "mail-test/"
    signing_key: Literal["published", "other"] = "published"  # other: DNS publishes a key SES no longer signs with
    contact_list: str | None = "thephenom-subscribers"  # SES subscription management adds one-click unsubscribe
    placement: Literal["INBOX", "Spam"] = "INBOX"  # where the provider files the probe
    deliver: bool = True  # False: the receipt rule stores nothing
    imap_username: str = "mail-test@thephenom.app"  # the test mailbox at a provider (loopback IMAP)


class Scenario(_Strict):
    name: str
    description: str = ""
    trace_example: str | None = None  # a recipient to trace (ses-runbook trace) whose verdict shows the scenario
    extends: str | None = None
    as_of: str | None = None  # end of the scenario's traffic; None = when the sandbox starts
    region: str = "us-east-1"
    account: Account = Field(default_factory=Account)
    identities: list[Identity] = Field(default_factory=list)
    extra_identities: int = 0  # synthetic verified identities, for scale
    traffic: Traffic = Field(default_factory=Traffic)
    dns: Dns = Field(default_factory=Dns)
    users: list[User] = Field(default_factory=list)
    smtp: Smtp = Field(default_factory=Smtp)
    suppressed: list[Suppressed] = Field(default_factory=list)
    feedback: Feedback = Field(default_factory=Feedback)
    configuration_sets: list[ConfigurationSet] = Field(default_factory=list)
    mail: Mail = Field(default_factory=Mail)
    recipients: list[RecipientEvent] = Field(default_factory=list)

    def recipient_domains(self) -> list[str]:
        """The domains of the named recipients, whose MX the sandbox's DNS serves."""
        named = [r.email for r in self.recipients] + ([self.trace_example] if self.trace_example else [])
        return sorted({a.rpartition("@")[2].lower() for a in named if "@" in a})

    def dkim_tokens(self, domain: str) -> list[str]:
        """Three stable tokens per domain, as SES Easy DKIM hands out."""
        out = []
        for i in range(3):
            digest = hashlib.sha256(f"{self.name.split(':')[0]}|{domain}|{i}".encode()).hexdigest()
            out.append("".join(chr(ord("a") + int(c, 16) % 26) if c.isdigit() else c for c in digest[:32]))
        return out


def available() -> list[str]:
    """Names of the scenarios that ship with the package."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _raw(name_or_path: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    path = Path(name_or_path)
    if not (path.suffix in (".yaml", ".yml") and path.exists()):
        path = SCENARIO_DIR / f"{name_or_path}.yaml"
    if not path.exists():
        raise SandboxError(f"unknown scenario '{name_or_path}'; allowed: {', '.join(available())} or a .yaml file")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError:
        raise SandboxError(f"scenario file '{path}' is not valid YAML") from None
    data.setdefault("name", path.stem)
    parent = data.get("extends")
    if parent:
        if parent in seen:
            raise SandboxError(f"scenario '{name_or_path}' extends itself through {parent}")
        base = _raw(parent, seen + (parent,))
        base.pop("description", None)
        base.pop("trace_example", None)
        data = _deep_merge(base, data)
    return data


def load(name_or_path: str = "healthy") -> Scenario:
    """Load a shipped scenario by name, or a scenario file by path."""
    data = _raw(name_or_path)
    try:
        return Scenario(**data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        raise SandboxError(f"scenario '{name_or_path}': {where}: {error['msg']}") from None
