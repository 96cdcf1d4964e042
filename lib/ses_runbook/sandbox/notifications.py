"""SES bounce, complaint and delivery notifications as SES writes them, for the sandbox's queue.

Pure data (no moto, no HTTP): the scenario's traffic becomes the notifications a feedback queue
would hold (one per bounce and complaint over the last ``feedback.queue_days``), and a send to the
mailbox simulator becomes the notification SES would publish for it. The JSON follows AWS's
"Amazon SNS notification contents for Amazon SES" (``notificationType``, ``mail``, ``bounce`` ...).
"""

from __future__ import annotations

import gzip
import json
import random
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from ses_runbook.sandbox.scenario import Scenario
from ses_runbook.sandbox.world import ACCOUNT, spiked_rate

SIMULATOR = "simulator.amazonses.com"
# recipient domains of the platform's users, with their share of the mail
DOMAINS = [
    ("gmail.com", 35),
    ("yahoo.com", 14),
    ("outlook.com", 12),
    ("hotmail.com", 8),
    ("icloud.com", 7),
    ("aol.com", 3),
    ("gmx.de", 3),
    ("web.de", 2),
    ("acme-corp.example", 6),
    ("northwind.example", 5),
    ("contoso.example", 5),
]
# the services that send, their From address and the IAM identity they send with
SOURCES = [
    ("no-reply@thephenom.app", "api-mailer", "api", 55),
    ("notifications@thephenom.app", "ses-smtp-nest", "nest", 30),
    ("webmail@thephenom.app", "ses-smtp-webmail", "webmail", 15),
]
# the usual bounces: (type, subtype, status, diagnostic code, share)
BOUNCES = [
    ("Permanent", "General", "5.1.1", "smtp; 550 5.1.1 The email account that you tried to reach does not exist", 50),
    ("Permanent", "NoEmail", "5.1.1", "smtp; 550 5.1.1 Recipient address rejected: User unknown", 12),
    (
        "Permanent",
        "OnAccountSuppressionList",
        "5.1.1",
        "Amazon SES did not send the message to this address because it is on the suppression list for your account.",
        8,
    ),
    ("Transient", "MailboxFull", "5.2.2", "smtp; 552 5.2.2 Mailbox full", 12),
    ("Transient", "General", "4.7.0", "smtp; 421 4.7.0 Try again later, closing connection", 18),
]
COMPLAINT_TYPES = [("abuse", 70), ("not-spam", 5), ("other", 15), ("fraud", 10)]
FIRST = [
    "anna",
    "ben",
    "carla",
    "dev",
    "eli",
    "fatima",
    "georg",
    "hana",
    "ivan",
    "jules",
    "kim",
    "luca",
    "mia",
    "noah",
    "olga",
    "paul",
]


def _pick(rng: random.Random, table: list[tuple]) -> tuple:
    return rng.choices(table, weights=[row[-1] for row in table])[0]


def timestamp_text(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def message_id(rng: random.Random, when: datetime) -> str:
    """An SES-shaped message id: hex milliseconds, a uuid, a counter."""
    return f"{int(when.timestamp() * 1000):016x}-{uuid.UUID(int=rng.getrandbits(128))}-000000"


def mail(
    when: datetime, mid: str, source: str, caller: str, destination: list[str], tags: dict[str, str], region: str
) -> dict[str, Any]:
    """The ``mail`` object every notification carries: who sent what, when, to whom, with which tags."""
    domain = source.rpartition("@")[2]
    all_tags = {
        "ses:caller-identity": [caller],
        "ses:from-domain": [domain],
        "ses:operation": ["SendEmail"],
        **{k: [v] for k, v in tags.items()},
    }
    return {
        "timestamp": timestamp_text(when),
        "messageId": mid,
        "source": source,
        "sourceArn": f"arn:aws:ses:{region}:{ACCOUNT}:identity/{domain}",
        "sourceIp": "192.0.2.25",
        "callerIdentity": caller,
        "sendingAccountId": ACCOUNT,
        "destination": destination,
        "tags": all_tags,
    }


def bounce(
    mail_obj: dict[str, Any],
    when: datetime,
    rng: random.Random,
    recipient: str,
    btype: str,
    subtype: str,
    status: str,
    diagnostic: str,
) -> dict[str, Any]:
    return {
        "notificationType": "Bounce",
        "mail": mail_obj,
        "bounce": {
            "bounceType": btype,
            "bounceSubType": subtype,
            "timestamp": timestamp_text(when),
            "feedbackId": message_id(rng, when).replace("-000000", "-000001"),
            "reportingMTA": "dsn; a8-12.smtp-out.amazonses.com",
            "bouncedRecipients": [
                {
                    "emailAddress": recipient,
                    "action": "failed" if btype == "Permanent" else "delayed",
                    "status": status,
                    "diagnosticCode": diagnostic,
                }
            ],
        },
    }


def complaint(
    mail_obj: dict[str, Any], when: datetime, rng: random.Random, recipient: str, feedback_type: str
) -> dict[str, Any]:
    return {
        "notificationType": "Complaint",
        "mail": mail_obj,
        "complaint": {
            "complainedRecipients": [{"emailAddress": recipient}],
            "timestamp": timestamp_text(when),
            "feedbackId": message_id(rng, when).replace("-000000", "-000002"),
            "complaintSubType": None,
            "userAgent": "Yahoo!-Mail-Feedback/2.0",
            "complaintFeedbackType": feedback_type,
            "arrivalDate": timestamp_text(when - timedelta(minutes=3)),
        },
    }


def delivery(mail_obj: dict[str, Any], when: datetime, recipient: str, processing_ms: int = 412) -> dict[str, Any]:
    return {
        "notificationType": "Delivery",
        "mail": mail_obj,
        "delivery": {
            "timestamp": timestamp_text(when),
            "processingTimeMillis": processing_ms,
            "recipients": [recipient],
            "smtpResponse": "250 2.6.0 Message received",
            "reportingMTA": "a8-12.smtp-out.amazonses.com",
            "remoteMtaIp": "192.0.2.80",
        },
    }


# delayType -> (status, diagnostic code) of the delayed recipient, as SES reports them
DELAY_DIAGNOSTICS = {
    "RecipientServerError": ("4.3.0", "smtp; 451 4.3.0 Temporary server error, please try again later"),
    "MailboxFull": ("4.2.2", "smtp; 452 4.2.2 Mailbox full"),
    "SpamDetected": ("4.7.1", "smtp; 421 4.7.1 Message deferred due to unusual rate of unsolicited mail"),
    "TransientCommunicationFailure": ("4.4.2", "smtp; 421 4.4.2 Connection dropped"),
    "IPFailure": ("4.7.0", "smtp; 421 4.7.0 IP not in whitelist, try again later"),
    "General": ("4.7.0", "smtp; 450 4.7.0 Greylisted, please try again later"),
}


def delivery_delay(
    mail_obj: dict[str, Any],
    when: datetime,
    recipient: str,
    delay_type: str,
    status: str | None = None,
    diagnostic: str | None = None,
) -> dict[str, Any]:
    """A DeliveryDelay notification; the status and diagnostic code the delay type usually carries
    unless a scenario names its own."""
    usual_status, usual_diagnostic = DELAY_DIAGNOSTICS.get(delay_type, ("4.0.0", "smtp; 450 4.0.0 Try again later"))
    status, diagnostic = status or usual_status, diagnostic or usual_diagnostic
    return {
        "notificationType": "DeliveryDelay",
        "mail": mail_obj,
        "deliveryDelay": {
            "timestamp": timestamp_text(when),
            "delayType": delay_type,
            "expirationTime": timestamp_text(when + timedelta(hours=14)),
            "reportingMTA": "a8-12.smtp-out.amazonses.com",
            "delayedRecipients": [{"emailAddress": recipient, "status": status, "diagnosticCode": diagnostic}],
        },
    }


def delay_notifications(scenario: Scenario, end: datetime) -> list[tuple[datetime, dict[str, Any]]]:
    """The scenario's late mail (``feedback.delays``): DeliveryDelay notifications in their hours, and
    Delivery notifications over the last day, the delayed messages among them delivered hours late."""
    stage = scenario.feedback.delays
    if stage is None:
        return []
    rng = random.Random(scenario.traffic.seed + 17)
    out: list[tuple[datetime, dict[str, Any]]] = []
    delayed = []
    for i in range(stage.count):
        sent = end - timedelta(hours=stage.hours_ago) + timedelta(hours=rng.uniform(0, stage.hours))
        domain = stage.recipient_domain or _pick(rng, DOMAINS)[0]
        recipient = f"{rng.choice(FIRST)}.d{i:05d}@{domain}"
        source, caller, service, _ = _pick(rng, SOURCES)
        mail_obj = mail(sent, message_id(rng, sent), source, caller, [recipient], {"service": service}, scenario.region)
        out.append(
            (sent + timedelta(minutes=rng.uniform(15, 45)), delivery_delay(mail_obj, sent, recipient, stage.delay_type))
        )
        delayed.append((sent, mail_obj, recipient))
    for i in range(stage.deliveries):
        if i < len(delayed) // 2:  # half the delayed mail got through hours later
            sent, mail_obj, recipient = delayed[i]
            took = int(rng.uniform(2, 5) * 3_600_000)
        else:
            sent = end - timedelta(hours=rng.uniform(0.5, 24))
            domain = _pick(rng, DOMAINS)[0]
            recipient = f"{rng.choice(FIRST)}.s{i:05d}@{domain}"
            source, caller, service, _ = _pick(rng, SOURCES)
            mail_obj = mail(
                sent, message_id(rng, sent), source, caller, [recipient], {"service": service}, scenario.region
            )
            took = int(rng.lognormvariate(6.5, 0.6))  # about 700 ms
        when = sent + timedelta(milliseconds=took)
        out.append((when, delivery(mail_obj, when, recipient, took)))
    return [(when, n) for when, n in out if when < end]


def envelope(message: dict[str, Any], topic_arn: str, when: datetime, rng: random.Random) -> str:
    """The SNS envelope an SQS subscriber (without raw delivery) receives."""
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": str(uuid.UUID(int=rng.getrandbits(128))),
            "TopicArn": topic_arn,
            "Message": json.dumps(message),
            "Timestamp": timestamp_text(when),
            "SignatureVersion": "1",
            "Signature": "c2FuZGJveA==",
            "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService.pem",
            "UnsubscribeURL": f"https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={topic_arn}:0",
        }
    )


def queue_notifications(scenario: Scenario, points: list[Any], end: datetime) -> list[tuple[datetime, dict[str, Any]]]:
    """One notification per bounce and complaint of the last ``queue_days``, oldest first.

    Ordinary bounces spread over the usual providers, services and bounce kinds; in intervals whose
    rate is above the scenario's base rate, the extra ones come from ``feedback.cause`` (one list,
    one recipient domain, one service), which is what a reader of the queue should be able to find.
    """
    fb = scenario.feedback
    if fb.queue_days <= 0:
        return []
    rng = random.Random(scenario.traffic.seed + 11)
    base_b, base_c = scenario.traffic.bounce_rate, scenario.traffic.complaint_rate
    start = end - timedelta(days=fb.queue_days)
    cause = fb.cause
    out: list[tuple[datetime, dict[str, Any]]] = []
    counter = 0
    for point in points:
        if not (start <= point.timestamp < end) or point.sends == 0:
            continue
        hours_ago = (end - point.timestamp).total_seconds() / 3600
        spikes = scenario.traffic.spikes
        for kind, n, metric, base in (
            ("Bounce", point.bounces, "bounce_rate", base_b),
            ("Complaint", point.complaints, "complaint_rate", base_c),
        ):
            rate = spiked_rate(
                base, spikes, metric, hours_ago
            )  # the scenario's rate here: above the base only in a spike
            extra_share = max(0.0, 1 - base / rate) if rate > 0 and cause else 0.0
            for _ in range(n):
                if fb.queue_sample < 1 and rng.random() >= fb.queue_sample:
                    continue
                counter += 1
                sent = point.timestamp + timedelta(seconds=rng.uniform(0, 899))
                from_cause = rng.random() < extra_share
                if from_cause and cause:
                    source, caller, tags = cause.source, cause.caller, dict(cause.tags)
                    domain = cause.recipient_domain or _pick(rng, DOMAINS)[0]
                else:
                    source, caller, service, _ = _pick(rng, SOURCES)
                    tags = {"service": service}
                    domain = _pick(rng, DOMAINS)[0]
                recipient = f"{rng.choice(FIRST)}.{counter:05d}@{domain}"
                mid = message_id(rng, sent)
                mail_obj = mail(sent, mid, source, caller, [recipient], tags, scenario.region)
                if kind == "Bounce":
                    when = sent + timedelta(seconds=rng.uniform(1, 40))
                    if from_cause and cause:
                        btype, sub = "Permanent", cause.bounce_subtype
                        status, diag = (
                            "5.1.1",
                            f"smtp; 550 5.1.1 <{recipient}>: Recipient address rejected: User unknown in virtual mailbox table",
                        )
                    else:
                        btype, sub, status, diag, _ = _pick(rng, BOUNCES)
                    out.append((when, bounce(mail_obj, when, rng, recipient, btype, sub, status, diag)))
                else:
                    when = sent + timedelta(minutes=rng.uniform(5, 240))
                    ftype = cause.complaint_type if from_cause and cause else _pick(rng, COMPLAINT_TYPES)[0]
                    out.append((when, complaint(mail_obj, when, rng, recipient, ftype)))
    out = [(when, n) for when, n in out if when < end]
    out += recipient_notifications(scenario, end)
    out += delay_notifications(scenario, end)
    out.sort(key=lambda item: item[0])
    return out


def recipient_message_id(scenario: Scenario, index: int) -> str:
    """The stable message id of the scenario's ``index``-th named recipient event (what a trace by message id finds)."""
    event = scenario.recipients[index]
    rng = random.Random(f"{event.email}|{index}")
    return message_id(rng, datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=index))


def recipient_notifications(scenario: Scenario, end: datetime) -> list[tuple[datetime, dict[str, Any]]]:
    """The notifications of the scenario's named recipients (``recipients``), each about one message."""
    out: list[tuple[datetime, dict[str, Any]]] = []
    for index, event in enumerate(scenario.recipients):
        when = end - timedelta(hours=event.hours_ago)
        sent = when - timedelta(seconds=3)
        rng = random.Random(f"{event.email}|{index}|feedback")
        mid = recipient_message_id(scenario, index)
        mail_obj = mail(sent, mid, event.source, "api-mailer", [event.email], {"service": "api"}, scenario.region)
        if event.kind == "Delivery":
            message = delivery(mail_obj, when, event.email)
            message["delivery"]["smtpResponse"] = event.smtp_response
        elif event.kind == "Bounce":
            message = bounce(
                mail_obj,
                when,
                rng,
                event.email,
                event.bounce_type,
                event.bounce_subtype,
                event.status,
                event.diagnostic,
            )
        elif event.kind == "Complaint":
            message = complaint(mail_obj, when, rng, event.email, event.complaint_type)
        elif event.kind == "DeliveryDelay":
            message = delivery_delay(mail_obj, when, event.email, event.delay_type, event.status, event.diagnostic)
        else:
            message = {"notificationType": "Reject", "mail": mail_obj, "reject": {"reason": "Bad content"}}
        out.append((when, message))
    return out


EVENTS_BUCKET = "ses-events"  # the sandbox's Firehose destination bucket
EVENTS_PREFIX = "ses-events/"  # its prefix: objects under ses-events/YYYY/MM/DD/HH/
FIREHOSE_DELAY = timedelta(seconds=75)  # from the event to its delivery to S3 (Firehose's buffer interval)


def as_event(message: dict[str, Any]) -> dict[str, Any]:
    """An identity notification as a configuration set's event destination publishes it (``eventType``)."""
    return {"eventType": message["notificationType"], **{k: v for k, v in message.items() if k != "notificationType"}}


def firehose_objects(items: list[tuple[datetime, dict[str, Any]]], prefix: str = EVENTS_PREFIX) -> dict[str, bytes]:
    """The notifications as Firehose delivers events to S3: one gzip JSON-lines object per hour of
    delivery under ``prefix/YYYY/MM/DD/HH/``, named as Firehose names them."""
    by_hour: dict[datetime, list[str]] = {}
    for when, message in items:
        delivered = (when + FIREHOSE_DELAY).astimezone(timezone.utc)
        by_hour.setdefault(delivered.replace(minute=0, second=0, microsecond=0), []).append(
            json.dumps(as_event(message))
        )
    return {
        f"{prefix}{hour:%Y/%m/%d/%H}/ses-events-1-{hour:%Y-%m-%d-%H}-59-00-{uuid.UUID(int=hour.toordinal() * 24 + hour.hour)}.gz": gzip.compress(
            ("\n".join(lines) + "\n").encode(), mtime=0
        )
        for hour, lines in sorted(by_hour.items())
    }


def simulator_outcome(
    address: str, mail_obj: dict[str, Any], when: datetime, rng: random.Random
) -> dict[str, Any] | None:
    """What SES publishes for a send to a mailbox simulator address (None: not a simulator address)."""
    local, _, domain = address.lower().partition("@")
    if domain != SIMULATOR:
        return None
    if local == "success":
        return delivery(mail_obj, when, address)
    if local == "bounce":
        return bounce(mail_obj, when, rng, address, "Permanent", "General", "5.1.1", "smtp; 550 5.1.1 user unknown")
    if local == "complaint":
        return complaint(mail_obj, when, rng, address, "abuse")
    if local == "suppressionlist":
        return bounce(
            mail_obj,
            when,
            rng,
            address,
            "Permanent",
            "OnAccountSuppressionList",
            "5.1.1",
            "Amazon SES did not send the message to this address because it is on the suppression list for your account.",
        )
    if local == "ooto":
        return delivery(mail_obj, when, address)
    return None
