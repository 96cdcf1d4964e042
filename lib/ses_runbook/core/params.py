"""The parameter model shared by every notebook, the CLI and the YAML files.

Values come, lowest precedence first, from the model's defaults, ``SES_RUNBOOK_<NAME>``
environment variables (only for parameters whose default is ``None`` and that no file or
override names: this is how a sandbox points notebooks at itself without editing them), YAML
files (``-f``) and ``-p NAME VALUE`` overrides, the way papermill takes them. A value a file or
override gives explicitly wins over the environment, ``null`` included: ``endpoint_url: null``
in a production parameter file means AWS, whatever a shell still exports.
"""

from __future__ import annotations

import ipaddress
import os
import re
import reprlib
import types
import typing
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ses_runbook.core import foreign
from ses_runbook.core.endpoints import ses_regions
from ses_runbook.core.errors import ForeignDataError, ParameterError
from ses_runbook.core.files import read_capped

ENV_PREFIX = "SES_RUNBOOK_"
_ADDRESS = re.compile(r"^[^@\s]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")
MESSAGE_ID = re.compile(r"^[0-9A-Za-z][0-9A-Za-z-]{7,127}$")  # SES's ids: hex, dashes, a counter
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _words(value: Any) -> Any:
    """A list parameter given as one string (``-p``, the environment) split at commas and white space;
    anything else as given."""
    return [v for v in re.split(r"[,\s]+", value) if v] if isinstance(value, str) else value


class Params(BaseModel):
    """One parameter set for the whole runbook; see ``describe()`` for the help texts."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)

    aws_profile: str | None = Field(None, description="AWS profile; None: the default credential chain")
    region: str = Field("us-east-1", description="AWS region of the SES account")
    endpoint_url: str | None = Field(None, description="AWS endpoint override (sandbox, VPC endpoint); None: AWS")
    domain: str = Field("thephenom.app", description="verified sending domain")
    sender: str = Field("no-reply@thephenom.app", description="sending identity (From address)")
    test_recipient: str = Field("success@simulator.amazonses.com", description="recipient of the test email")
    send_test_email: bool = Field(False, description="send one test email (a write)")
    allow_writes: bool = Field(False, description="allow fixes that change the account (writes)")
    lookback_days: int = Field(14, description="days of statistics and metrics to read", ge=1, le=455)
    metrics_period_s: int = Field(3600, description="CloudWatch period in seconds (raised for old data)", ge=60)
    as_of: str | None = Field(None, description="UTC time the checks are evaluated at; None: now")
    dns_nameservers: list[str] | None = Field(None, description="DNS servers, host or host:port; None: the system's")
    dns_timeout_s: float = Field(3.0, description="DNS query timeout in seconds", gt=0, le=60)
    smtp_host: str | None = Field(None, description="SMTP endpoint; None: email-smtp.REGION.amazonaws.com")
    smtp_port: int | None = Field(None, description="SMTP port; None: 587 (STARTTLS)", ge=1, le=65535)
    smtp_tls_ca_file: str | None = Field(None, description="CA bundle for the SMTP certificate; None: system CAs")
    smtp_username_env: str = Field("SES_SMTP_USERNAME", description="environment variable holding the SMTP username")
    smtp_password_env: str = Field("SES_SMTP_PASSWORD", description="environment variable holding the SMTP password")
    smtp_users: list[str] = Field(
        default_factory=list, description="IAM users services send with (must have an active key)"
    )
    blocklist_domain_zones: list[str] = Field(
        default_factory=lambda: ["dbl.spamhaus.org", "multi.surbl.org", "multi.uribl.com"],
        description="DNS blocklists the sending and MAIL FROM domains are looked up in",
    )
    blocklist_ip_zones: list[str] = Field(
        default_factory=lambda: ["zen.spamhaus.org", "bl.spamcop.net", "b.barracudacentral.org"],
        description="DNS blocklists the sending IPs are looked up in",
    )
    sending_ips: list[str] = Field(
        default_factory=list,
        description="IPv4 addresses mail leaves from (a probe's Received chain), beside the dedicated IPs",
    )
    configuration_sets: list[str] = Field(
        default_factory=list,
        description="configuration sets the services send with, beside the sender identity's default one",
    )
    connect_timeout_s: float = Field(5.0, description="AWS connect timeout in seconds", gt=0, le=120)
    read_timeout_s: float = Field(20.0, description="AWS read timeout in seconds", gt=0, le=300)
    max_attempts: int = Field(6, description="AWS attempts per call (adaptive retries)", ge=1, le=20)
    bounce_rate_warn: float = Field(0.05, description="bounce rate that warns (AWS review level 5 %)", ge=0, le=1)
    bounce_rate_fail: float = Field(0.10, description="bounce rate that fails (AWS pause level 10 %)", ge=0, le=1)
    complaint_rate_warn: float = Field(0.001, description="complaint rate that warns (AWS review 0.1 %)", ge=0, le=1)
    complaint_rate_fail: float = Field(0.005, description="complaint rate that fails (AWS pause 0.5 %)", ge=0, le=1)
    quota_warn: float = Field(0.80, description="share of Max24HourSend used that warns", ge=0, le=1)
    quota_fail: float = Field(1.00, description="share of Max24HourSend used that fails", ge=0, le=1)
    send_rate_warn: float = Field(
        0.80, description="peak per-second send rate, as a share of MaxSendRate, that warns", gt=0, le=1
    )
    key_max_age_days: int = Field(90, description="SMTP key age that warns, in days", ge=1)
    key_unused_days: int = Field(30, description="days without use after which a key warns", ge=1)
    symptom: str = Field("auto", description="failure mode to diagnose (08_remediation); auto: all that show")
    unsuppress: list[str] = Field(
        default_factory=list, description="addresses to remove from the suppression list (08_remediation; a write)"
    )
    smtp_credentials_file: str | None = Field(
        None, description="file a new SMTP credential is written to (mode 600; 08_remediation; a write)"
    )
    feedback_queue_url: str | None = Field(
        None, description="SQS queue subscribed to the feedback topic, read without consuming; None: not read"
    )
    review_evidence_file: str | None = Field(
        None,
        description="file review-evidence.md is written to when the account is under review or paused "
        "(mode 600, never overwritten); None: not written",
    )
    feedback_export_file: str | None = Field(
        None, description="CSV the addresses to remove are written to (mode 600; 09_feedback); None: not written"
    )
    show_addresses: bool = Field(False, description="show recipient addresses unmasked in reports (customer data)")
    feedback_wait_s: int = Field(
        120, description="seconds the simulator round trip waits for its notifications", ge=1, le=900
    )
    delay_warn: int = Field(
        10, description="DeliveryDelay notifications on the feedback queue in the lookback that warn", ge=1
    )
    feedback_max_messages: int = Field(10000, description="most queue messages one run reads", ge=1, le=200000)
    alarm_topic_arn: str | None = Field(
        None, description="SNS topic the reputation alarms notify (the on-call's); None: a new topic ses-alarms"
    )
    feedback_low_redrive_ok: bool = Field(
        False, description="read a queue that dead-letters messages after fewer than 10 receives"
    )
    events_s3: str | None = Field(
        None,
        description="s3://bucket/prefix/ of the SES event store (Firehose's YYYY/MM/DD/HH/ layout); None: the queue",
    )
    events_path: str | None = Field(
        None, description="local folder holding the event store (same layout as events_s3); None: not used"
    )
    events_engine: str = Field("duckdb", description="engine reading the event store: duckdb (in-process) or athena")
    athena_workgroup: str = Field("primary", description="Athena workgroup the event store is queried in")
    athena_output_s3: str | None = Field(
        None, description="s3:// location Athena writes query results to; None: the workgroup's own"
    )
    athena_table: str = Field("default.ses_events", description="Glue table (database.table) over the event store")
    events_max_mib: int = Field(
        8192,
        description="most MiB of the event store one run fetches (the window's objects, compressed)",
        ge=1,
        le=1048576,
    )
    athena_timeout_s: float = Field(
        300.0, description="seconds an Athena query may run before the read gives up", gt=0, le=3600
    )
    message_file: str | None = Field(
        None, description="saved message (.eml, 'show original') to judge (10_mail_tester); None: send a probe"
    )
    message_kind: str = Field(
        "transactional", description="kind of mail judged: subscribed mail needs one-click unsubscribe (10_mail_tester)"
    )
    contact_list: str | None = Field(
        None, description="SES contact list subscribed mail is sent with (SES adds one-click unsubscribe)"
    )
    inbound_address: str | None = Field(
        None, description="address of the team's domain SES receiving stores in S3 (the probe's recipient)"
    )
    inbound_bucket: str | None = Field(None, description="S3 bucket of the SES receipt rule for inbound_address")
    inbound_prefix: str | None = Field(
        None, description="S3 key prefix of the receipt rule's S3 action; None: no prefix"
    )
    inbound_timeout_s: float = Field(60.0, description="seconds to wait for the probe to arrive", gt=0, le=900)
    imap_host: str | None = Field(None, description="IMAP server of a test mailbox (inbox placement); None: not used")
    imap_port: int | None = Field(
        None,
        description="IMAP port; None: 993 (TLS); another port uses STARTTLS (plain only on loopback)",
        ge=1,
        le=65535,
    )
    imap_tls_ca_file: str | None = Field(None, description="CA bundle for the IMAP certificate; None: system CAs")
    imap_username_env: str = Field(
        "MAIL_TEST_IMAP_USERNAME", description="environment variable holding the IMAP username"
    )
    imap_password_env: str = Field(
        "MAIL_TEST_IMAP_PASSWORD", description="environment variable holding the IMAP password"
    )
    reports_root: str | None = Field(
        None, description="reports root 11_history reads: a folder or s3://bucket/prefix; None: reports"
    )
    trace_recipients: list[str] | None = Field(
        None, description="recipient addresses to trace (12_trace; shown unmasked); None: none"
    )
    trace_message_ids: list[str] | None = Field(None, description="SES message ids to trace (12_trace); None: none")
    trace_lookback_days: int = Field(14, description="days of notifications a trace searches (12_trace)", ge=1, le=455)
    trace_mailbox_fixed: bool = Field(
        False, description="the traced mailbox works now: offer removing its BOUNCE suppression (a write)"
    )
    trace_unsuppress_complaint: bool = Field(
        False, description="also offer removing a COMPLAINT suppression (the recipient asked for mail again)"
    )
    notify_allow_private: bool = Field(
        False,
        description="--notify may use plain http and loopback, link-local or private targets (sandbox, tests)",
    )

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if value not in ses_regions():
            raise ValueError(f"'{value}' is not an AWS region with SES; allowed: {', '.join(sorted(ses_regions()))}")
        return value

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        value = value.strip().rstrip(".").lower()
        if not _DOMAIN.match(value):
            raise ValueError(f"'{value}' is not a domain name; allowed: a name such as thephenom.app")
        return value

    @field_validator("sender", "test_recipient", "inbound_address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _ADDRESS.match(value.strip()):
            raise ValueError(f"'{value}' is not an email address; allowed: user@domain")
        return value.strip()

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not re.match(r"^https?://[^\s/:]+(:\d{1,5})?(/.*)?$", value):
            raise ValueError(f"'{value}' is not a URL; allowed: http(s)://host[:port]")
        return value

    @field_validator("as_of")
    @classmethod
    def _as_of(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"'{value}' is not an ISO 8601 time; allowed: e.g. 2026-11-01T00:00:00Z") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        return parsed.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    @field_validator("events_s3", "athena_output_s3")
    @classmethod
    def _s3_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not re.match(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^\s]*)?$", value):
            raise ValueError(f"'{value}' is not an S3 location; allowed: s3://bucket/prefix/")
        return value if value.endswith("/") else value + "/"

    @field_validator("events_path")
    @classmethod
    def _events_path(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        path = Path(value).expanduser()
        if not path.is_dir():
            raise ValueError(f"'{value}' is not a folder; allowed: a folder holding YYYY/MM/DD/HH/ event files")
        return str(path)

    @field_validator("events_engine")
    @classmethod
    def _events_engine(cls, value: str) -> str:
        if value not in ("duckdb", "athena"):
            raise ValueError(f"'{value}' is not an engine; allowed: duckdb, athena")
        return value

    @field_validator("athena_workgroup")
    @classmethod
    def _workgroup(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z0-9._-]{1,128}$", value):
            raise ValueError(f"'{value}' is not a workgroup name; allowed: letters, digits, . _ -")
        return value

    @field_validator("athena_table")
    @classmethod
    def _athena_table(cls, value: str) -> str:
        if not re.match(r"^([a-z0-9_]{1,255}\.)?[a-z0-9_]{1,255}$", value):
            raise ValueError(f"'{value}' is not a Glue table name; allowed: database.table in lower case, digits, _")
        return value

    @field_validator("message_kind")
    @classmethod
    def _message_kind(cls, value: str) -> str:
        if value not in ("transactional", "subscribed"):
            raise ValueError(f"'{value}' is not a kind of mail; allowed: transactional, subscribed")
        return value

    @field_validator("dns_nameservers", mode="before")
    @classmethod
    def _nameservers(cls, value: Any) -> Any:
        value = _words(value)
        for entry in value or []:
            host, _, port = str(entry).rpartition(":") if str(entry).count(":") == 1 else (str(entry), "", "")
            if port and not (port.isdigit() and 0 < int(port) < 65536):
                raise ValueError(f"'{entry}' is not host or host:port")
        return value

    @field_validator("blocklist_domain_zones", "blocklist_ip_zones", mode="before")
    @classmethod
    def _zones(cls, value: Any) -> Any:
        value = _words(value)
        for entry in value or []:
            if not re.fullmatch(r"(?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,63}", str(entry).strip()):
                raise ValueError(f"'{entry}' is not a DNS zone; allowed: names such as zen.spamhaus.org")
        return value

    @field_validator("sending_ips", mode="before")
    @classmethod
    def _ips(cls, value: Any) -> Any:
        value = _words(value)
        for entry in value or []:
            try:
                ipaddress.IPv4Address(str(entry).strip())
            except ValueError:
                raise ValueError(f"'{entry}' is not an IPv4 address") from None
        return value

    @field_validator("configuration_sets", mode="before")
    @classmethod
    def _configuration_sets(cls, value: Any) -> Any:
        value = _words(value)
        for entry in value or []:
            if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", str(entry).strip()):
                raise ValueError(f"'{entry}' is not a configuration set name; allowed: letters, digits, _ and -")
        return value

    @field_validator("unsuppress", mode="before")
    @classmethod
    def _unsuppress(cls, value: Any) -> Any:
        value = _words(value)
        for entry in value or []:
            if not _ADDRESS.match(str(entry).strip()):
                raise ValueError(f"'{entry}' is not an email address; allowed: user@domain, comma-separated")
        return value

    @field_validator("trace_recipients", mode="before")
    @classmethod
    def _trace_recipients(cls, value: Any) -> Any:
        value = _words(value)
        for entry in value or []:
            if not _ADDRESS.match(str(entry).strip()):
                raise ValueError(f"'{entry}' is not an email address; allowed: user@domain, comma-separated")
        return value

    @field_validator("trace_message_ids", mode="before")
    @classmethod
    def _trace_message_ids(cls, value: Any) -> Any:
        value = _words(value)
        for entry in value or []:
            if not MESSAGE_ID.match(str(entry).strip()):
                raise ValueError(f"'{entry}' is not an SES message id; allowed: letters, digits and '-', up to 128")
        return value

    @field_validator("smtp_username_env", "smtp_password_env", "imap_username_env", "imap_password_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not _ENV_NAME.match(value):
            raise ValueError(
                f"'{value}' is not an environment variable name; give the NAME of the variable, not its value"
            )
        return value

    @field_validator("smtp_tls_ca_file", "imap_tls_ca_file")
    @classmethod
    def _ca_file(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        path = Path(value).expanduser()
        if not path.is_file() or not os.access(path, os.R_OK):
            raise ValueError(f"'{value}' is not a readable file; allowed: a PEM CA bundle")
        return str(path)

    @model_validator(mode="after")
    def _ordered_thresholds(self) -> Params:
        for warn, fail in (
            ("bounce_rate_warn", "bounce_rate_fail"),
            ("complaint_rate_warn", "complaint_rate_fail"),
            ("quota_warn", "quota_fail"),
        ):
            if getattr(self, warn) > getattr(self, fail):
                raise ParameterError(
                    warn, f"{getattr(self, warn)} is above {fail}={getattr(self, fail)}; allowed: warn <= fail"
                )
        return self

    # -- derived values ---------------------------------------------------------------
    @property
    def smtp_endpoint(self) -> tuple[str, int]:
        """SMTP host and port, with AWS's regional endpoint as the default."""
        return (self.smtp_host or f"email-smtp.{self.region}.amazonaws.com", self.smtp_port or 587)

    def as_of_datetime(self) -> datetime:
        """The evaluation time: fixed for reproducible reports, now otherwise."""
        if self.as_of:
            return datetime.fromisoformat(self.as_of.replace("Z", "+00:00"))
        return datetime.now(timezone.utc).replace(microsecond=0)

    def public(self) -> dict[str, Any]:
        """The parameters as they may appear in a report: names of secrets' variables, never values."""
        return self.model_dump(mode="json")


def _type_name(annotation: Any) -> str:
    """``Optional[List[str]]`` style: what papermill's parameter parser understands."""

    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return f"Optional[{_type_name(inner[0])}]"
    if origin is list:
        return f"List[{_type_name(args[0])}]"
    return getattr(annotation, "__name__", str(annotation))


#: First in every notebook's parameters cell: which account, through which endpoint, judged when.
CONNECTION = ("aws_profile", "region", "endpoint_url", "as_of")

#: What each notebook's parameters cell lists after ``CONNECTION``: the parameters that notebook
#: reads and a reader of it may want to change. Every notebook still accepts every parameter of
#: the model (papermill injects any name it is given, warning when the cell does not list it, and
#: ``notebook.start`` validates all it finds), so one YAML file serves the whole suite. The health
#: check runs every check but leaves the thresholds to the section notebook that explains them.
NOTEBOOK_PARAMETERS: dict[str, tuple[str, ...]] = {
    "00_health_check": (
        "domain",
        "sender",
        "lookback_days",
        "dns_nameservers",
        "smtp_host",
        "smtp_port",
        "smtp_tls_ca_file",
        "smtp_username_env",
        "smtp_password_env",
        "smtp_users",
    ),
    "01_quota_and_statistics": ("quota_warn", "quota_fail", "send_rate_warn"),
    "02_send_test_email": (
        "domain",
        "sender",
        "test_recipient",
        "send_test_email",
        "feedback_queue_url",
        "feedback_wait_s",
    ),
    "03_domain_verification": ("domain",),
    "04_dkim": ("domain", "sender", "dns_nameservers", "dns_timeout_s"),
    "05_account_sending": ("domain", "review_evidence_file", "reports_root"),
    "06_smtp_credentials": (
        "smtp_users",
        "key_max_age_days",
        "key_unused_days",
        "smtp_host",
        "smtp_port",
        "smtp_tls_ca_file",
        "smtp_username_env",
        "smtp_password_env",
    ),
    "07_cloudwatch_metrics": (
        "blocklist_domain_zones",
        "blocklist_ip_zones",
        "sending_ips",
        "lookback_days",
        "metrics_period_s",
        "bounce_rate_warn",
        "bounce_rate_fail",
        "complaint_rate_warn",
        "complaint_rate_fail",
        "quota_warn",
        "quota_fail",
    ),
    "08_remediation": (
        "symptom",
        "allow_writes",
        "unsuppress",
        "smtp_credentials_file",
        "domain",
        "sender",
        "smtp_users",
        "dns_nameservers",
        "smtp_host",
        "smtp_port",
        "smtp_tls_ca_file",
    ),
    "09_feedback": (
        "domain",
        "sender",
        "lookback_days",
        "feedback_queue_url",
        "events_s3",
        "events_engine",
        "feedback_export_file",
        "show_addresses",
        "alarm_topic_arn",
        "bounce_rate_warn",
        "complaint_rate_warn",
    ),
    "10_mail_tester": (
        "domain",
        "sender",
        "send_test_email",
        "message_file",
        "message_kind",
        "dns_nameservers",
        "inbound_address",
        "inbound_bucket",
        "inbound_prefix",
        "imap_host",
        "contact_list",
    ),
    "12_trace": (
        "sender",
        "allow_writes",
        "dns_nameservers",
        "feedback_queue_url",
        "trace_recipients",
        "trace_message_ids",
        "trace_lookback_days",
        "trace_mailbox_fixed",
        "trace_unsuppress_complaint",
    ),
    "11_history": (
        "reports_root",
        "bounce_rate_warn",
        "bounce_rate_fail",
        "complaint_rate_warn",
        "complaint_rate_fail",
        "quota_warn",
        "quota_fail",
    ),
}


def notebook_parameters(notebook: str) -> list[str]:
    """The names a notebook's parameters cell lists, in the model's order (``NOTEBOOK_PARAMETERS``)."""
    try:
        own = NOTEBOOK_PARAMETERS[notebook]
    except KeyError:
        raise ParameterError("", f"notebook '{notebook}' has no entry in params.NOTEBOOK_PARAMETERS") from None
    wanted = set(CONNECTION) | set(own)
    return [name for name in Params.model_fields if name in wanted]


def describe(names: Iterable[str] | None = None) -> list[tuple[str, str, Any, str]]:
    """(name, type, default, help) of every parameter (or of ``names``), in declaration order."""
    rows = []
    wanted = None if names is None else set(names)
    for name, field in Params.model_fields.items():
        if wanted is not None and name not in wanted:
            continue
        annotation = _type_name(field.annotation)
        default = field.get_default(call_default_factory=True)
        rows.append((name, annotation, default, field.description or ""))
    return rows


def _env_defaults(environ: Mapping[str, str]) -> dict[str, Any]:
    values = {}
    for name, field in Params.model_fields.items():
        key = ENV_PREFIX + name.upper()
        if key in environ and field.default is None:
            values[name] = _parse_value(environ[key])
    return values


def _parse_value(text: str) -> Any:
    """Read a ``-p`` value the way papermill does: YAML scalars and lists, else a string."""
    if not text.strip():
        return text
    try:
        value = foreign.read_yaml(text, "value")
    except (yaml.YAMLError, ForeignDataError):
        return text
    return value if isinstance(value, (bool, int, float, str, list, type(None))) else text


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read one parameter file, with one clear line for a missing, broken or hostile file (the bounded
    reader: size, depth and alias expansion capped, the value never quoted)."""
    path = Path(path)
    try:
        data = foreign.read_yaml(read_capped(path, foreign.MAX_BYTES), f"parameter file '{path}'")
    except ForeignDataError as exc:
        raise ParameterError("", str(exc)) from None
    except FileNotFoundError:
        raise ParameterError("", f"parameter file '{path}' does not exist") from None
    except OSError as exc:
        raise ParameterError("", f"parameter file '{path}' cannot be read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ParameterError("", f"parameter file '{path}' is not valid YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParameterError("", f"parameter file '{path}' must hold a mapping of parameter names to values")
    return data


def validate(values: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Params:
    """Build ``Params`` from explicit values, filling unset ones from the environment.

    Raises ``ParameterError`` naming the first bad parameter, what was given and what is allowed.
    """
    environ = os.environ if environ is None else environ
    unknown = sorted(set(values) - set(Params.model_fields))
    if unknown:
        raise ParameterError(unknown[0], f"unknown parameter; allowed: {', '.join(Params.model_fields)}")
    merged = {k: v for k, v in _env_defaults(environ).items() if k not in values}
    merged.update(values)
    try:
        return Params(**merged)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else ""
        message = str(error["msg"]).removeprefix("Value error, ")
        if "given" not in message and error.get("type") != "value_error":
            message = f"{reprlib.repr(merged.get(name))} is not valid: {message}"
        raise ParameterError(name, " ".join(message.split())) from None  # one line, whatever the value held


def load(
    files: Iterable[str | Path] = (),
    overrides: Mapping[str, Any] | None = None,
    raw_overrides: Iterable[tuple[str, str]] = (),
    environ: Mapping[str, str] | None = None,
) -> Params:
    """Parameters from YAML files, then typed overrides, then ``-p NAME VALUE`` strings."""
    values: dict[str, Any] = {}
    for path in files:
        values.update(read_yaml(path))
    values.update(overrides or {})
    for name, text in raw_overrides:
        values[name] = _parse_value(text)
    return validate(values, environ)


def changed(params: Params) -> dict[str, Any]:
    """The values (JSON form) that differ from the model's defaults: what a notebook must be given."""
    return differing(params.public())


def differing(values: Mapping[str, Any]) -> dict[str, Any]:
    """Those of ``values`` (JSON form, as ``Params.public`` gives them) that differ from the model's defaults."""
    defaults = Params.model_construct().model_dump(mode="json")
    return {k: v for k, v in values.items() if v != defaults.get(k)}


def from_namespace(namespace: Mapping[str, Any]) -> Params:
    """Validate the parameters a notebook's ``parameters`` cell (and papermill) defined. The cell's
    ``None`` cannot be told from an injected one, so here ``None`` is unset and the environment may
    fill it; the runner resolves the parameters once and starts its kernels without those variables
    (``kernel_environ``), so a run's ``null`` stays ``null``."""
    return validate({name: namespace[name] for name in Params.model_fields if namespace.get(name) is not None})


def kernel_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` without the ``SES_RUNBOOK_<NAME>`` variable of any parameter: for the kernels of a
    run whose parameters are already resolved (and passed to each notebook)."""
    names = {ENV_PREFIX + name.upper() for name in Params.model_fields}
    return {k: v for k, v in environ.items() if k not in names}
