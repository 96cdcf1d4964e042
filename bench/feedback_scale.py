"""Feedback at any volume: the whole 09_feedback analysis read from the event store, at N events.

    .venv/bin/python bench/feedback_scale.py --events 1000000 [--sqs 10000]

Not a test: figures for the README. It starts the sandbox, writes N realistic SES events (Delivery,
Send, Bounce permanent and transient, Complaint, DeliveryDelay over 14 days, from several services
to many recipient domains, with a bounce spike from one list in the last day) as gzip JSON lines in
hourly Firehose objects into the sandbox's S3, then runs the analysis of 09_feedback (the frame,
every table, the plot's data, the cause named) in a fresh process reading ``events_s3``: its wall
time and peak resident memory (VmHWM of that process) are the figures. For comparison it reads a
queue of ``--sqs`` messages the way the SQS path does (calls and time). The last line is the result.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))

from ses_runbook.core import params as params_mod  # noqa: E402
from ses_runbook.core.aws import Aws  # noqa: E402
from ses_runbook.sandbox import notifications as sim  # noqa: E402
from ses_runbook.sandbox.server import Sandbox, restore_env  # noqa: E402
from ses_runbook.sandbox.world import ACCOUNT  # noqa: E402
from ses_runbook.sources import feedback  # noqa: E402

AS_OF = datetime(2026, 11, 1, tzinfo=timezone.utc)
BUCKET, PREFIX = "ses-events-bench", "firehose/"
# the mix of a sender's event stream: (event, share)
MIX = [
    ("Delivery", 780),
    ("Send", 120),
    ("BouncePermanent", 25),
    ("BounceTransient", 20),
    ("DeliveryDelay", 50),
    ("Complaint", 5),
]
DOMAINS = [d for d, _ in sim.DOMAINS] + [f"isp{k:03d}.example" for k in range(300)]
SPIKE = ("no-reply@thephenom.app", "api-mailer", {"service": "api", "list": "import-2026-10"}, "mail.oldisp.example")

# The analysis the child process runs and times: what 09_feedback computes, nothing shown.
CHILD = """
import json, resource, sys, time
started = time.perf_counter()
from ses_runbook.core import params as params_mod
from ses_runbook.core.aws import Aws
from ses_runbook.sources import events, feedback
params = params_mod.load(overrides=json.loads(sys.argv[1]))
fb = events.load(Aws(params), params)
df = fb.frame
feedback.counts_by_type(df); feedback.by(df, "recipient_domain"); feedback.by_source(df)
feedback.complaints_by_type(df); feedback.top_diagnostics(df); feedback.timeline(df)
feedback.removal_summary(feedback.removals(df))
cause = feedback.cause_text(feedback.cause(fb, params))
wall = time.perf_counter() - started
hwm = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "hwm_kib": hwm, "rows": len(df), "cause": cause, "notes": events.notes_text(fb.notes)}))
"""


def event(rng: random.Random, when: datetime, kind: str, spike: bool) -> dict:
    if spike:
        source, caller, tags, domain = SPIKE
    else:
        source, caller, service, _ = rng.choice(sim.SOURCES)
        tags, domain = {"service": service}, rng.choice(DOMAINS)
    recipient = f"{rng.choice(sim.FIRST)}.{rng.getrandbits(32):08x}@{domain}"
    sent = when - timedelta(seconds=rng.uniform(1, 30))
    mail = sim.mail(sent, sim.message_id(rng, sent), source, caller, [recipient], tags, "us-east-1")
    if kind == "BouncePermanent":
        message = sim.bounce(
            mail, when, rng, recipient, "Permanent", "General", "5.1.1", f"smtp; 550 5.1.1 <{recipient}>: user unknown"
        )
    elif kind == "BounceTransient":
        message = sim.bounce(
            mail, when, rng, recipient, "Transient", "MailboxFull", "5.2.2", "smtp; 552 5.2.2 Mailbox full"
        )
    elif kind == "Complaint":
        message = sim.complaint(mail, when, rng, recipient, "abuse")
    elif kind == "Delivery":
        message = sim.delivery(mail, when, recipient)
    elif kind == "DeliveryDelay":
        message = {
            "notificationType": "DeliveryDelay",
            "mail": mail,
            "deliveryDelay": {
                "timestamp": sim.timestamp_text(when),
                "delayType": "TransientCommunicationFailure",
                "expirationTime": sim.timestamp_text(when + timedelta(hours=12)),
                "delayedRecipients": [
                    {"emailAddress": recipient, "status": "4.4.7", "diagnosticCode": "smtp; 421 try later"}
                ],
            },
        }
    else:
        message = {"notificationType": "Send", "mail": mail, "send": {}}
    return sim.as_event(message)


def write_store(box: Sandbox, n: int) -> tuple[int, float]:
    """n events over the 14 days before AS_OF, one gzip object per hour, put in the sandbox's S3."""
    s3 = box.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    rng = random.Random(7)
    hours = 14 * 24
    kinds = [k for k, _ in MIX]
    weights = [w for _, w in MIX]
    total = 0
    for h in range(hours):
        start = AS_OF - timedelta(hours=hours - h)
        count = n // hours + (1 if h < n % hours else 0)
        last_day = h >= hours - 24
        lines = []
        for kind in rng.choices(kinds, weights=weights, k=count):
            spike = last_day and kind == "Delivery" and rng.random() < 0.04  # the spike: a list's dead addresses
            kind = "BouncePermanent" if spike else kind
            when = start + timedelta(seconds=rng.uniform(0, 3599))
            lines.append(json.dumps(event(rng, when, kind, spike), separators=(",", ":")))
        body = gzip.compress(("\n".join(lines) + "\n").encode(), compresslevel=6, mtime=0)
        total += len(body)
        key = f"{PREFIX}{start:%Y/%m/%d/%H}/ses-events-1-{start:%Y-%m-%d-%H}-00-00-{uuid.UUID(int=h)}.gz"
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    return n, total / 2**20


def sqs_path(box: Sandbox, n: int) -> str:
    """n notifications on a queue, read as 09_feedback reads the queue: calls and time."""
    # deferred: moto: the sandbox is running already; its queue objects take messages directly
    from moto.sqs.models import Message, sqs_backends

    url = box.client("sqs").create_queue(QueueName="bench-feedback")["QueueUrl"]
    queue = sqs_backends[ACCOUNT][box.scenario.region].get_queue("bench-feedback")
    rng = random.Random(5)
    topic = f"arn:aws:sns:us-east-1:{ACCOUNT}:ses-feedback"
    for i in range(n):
        when = AS_OF - timedelta(minutes=i)
        message = event(rng, when, "BouncePermanent" if i % 3 else "Delivery", False)
        message = {"notificationType": message.pop("eventType"), **message}
        item = Message(str(uuid.UUID(int=i)), sim.envelope(message, topic, when, rng))
        item.sent_timestamp = int(when.timestamp() * 1000)  # type: ignore[assignment]  # moto types it None until sent
        queue._messages.append(item)
    params = params_mod.load(overrides={**box.params(), "feedback_queue_url": url, "as_of": AS_OF.isoformat()})
    aws = Aws(params)
    started = time.perf_counter()
    fb = feedback.load(aws, params)
    wall = time.perf_counter() - started
    calls = sum(aws.calls.values())
    return f"SQS path: {len(fb.frame):,} of {n:,} messages in {wall:.1f} s, {calls:,} calls ({calls / n:.2f} a message)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="events in the store (default 100,000)")
    parser.add_argument("--sqs", type=int, default=10_000, help="messages on the queue for the comparison")
    args = parser.parse_args()
    if args.events < 1 or args.sqs < 0:
        parser.error("--events must be at least 1 and --sqs not negative")
    with Sandbox("healthy", as_of=AS_OF.strftime("%Y-%m-%dT%H:%M:%SZ")) as box:
        previous = box.apply_env()
        try:
            started = time.perf_counter()
            n, mib = write_store(box, args.events)
            print(
                f"store: {n:,} events, {mib:.1f} MiB gzip in {14 * 24} hourly objects (written in {time.perf_counter() - started:.0f} s)"
            )
            if args.sqs:
                print(sqs_path(box, args.sqs))
            overrides = {
                **box.params(),
                "events_s3": f"s3://{BUCKET}/{PREFIX}",
                "as_of": AS_OF.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            out = subprocess.run(
                [sys.executable, "-c", CHILD, json.dumps(overrides)],
                env={**os.environ, "PYTHONPATH": str(ROOT / "lib")},
                capture_output=True,
                text=True,
                check=False,
            )
            if out.returncode:
                print(
                    out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "the analysis failed",
                    file=sys.stderr,
                )
                return 2
            result = json.loads(out.stdout.strip().splitlines()[-1])
        finally:
            restore_env(previous)
    print(result["notes"])
    print(f"cause: {result['cause']}")
    load = os.getloadavg()[0]
    print(
        f"analysis: {result['wall']:.1f} s wall, {result['cpu']:.1f} s CPU (all threads), load average {load:.1f} on {os.cpu_count()} cores"
    )
    print(
        f"feedback at scale: {args.events:,} events in {result['wall']:.1f} s (target <= 10 s at 1,000,000), "
        f"peak RSS {result['hwm_kib'] / 1024:.0f} MiB (target <= 1024)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
