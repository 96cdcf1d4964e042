"""The sandbox's state: what the scenario says, plus what writes change while it runs.

Pure data and arithmetic (no HTTP, no moto): the WSGI layer reads and changes it, the DNS and
SMTP servers are configured from it, and tests can inspect it.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from ses_runbook.core.identities import VERIFIED, covering_domain, covering_identity, domain_of
from ses_runbook.sandbox.scenario import Identity, Scenario

ACCOUNT = "123456789012"  # moto's default account: the sandbox's
SANDBOX_KEY = ("AKIASANDBOXRUNBOOK00", "sandbox-secret-not-a-real-key")  # what the runbook signs with
DEFAULT_STATE_DIR = Path("~/.cache/ses-runbook/sandbox").expanduser()  # what a sandbox keeps between sessions
STEP = timedelta(minutes=15)
DAYS = 14
# CloudWatch AWS/SES metric name -> (Point attribute, unit)
METRICS = {
    "Send": ("sends", "Count"),
    "Delivery": ("deliveries", "Count"),
    "Bounce": ("bounces", "Count"),
    "Complaint": ("complaints", "Count"),
    "Reject": ("rejects", "Count"),
    "Reputation.BounceRate": ("bounce_rate", "None"),
    "Reputation.ComplaintRate": ("complaint_rate", "None"),
}


def _sum(values: list[float]) -> float:
    return float(sum(values))


# CloudWatch statistic -> how the datapoints of one period reduce to it
STATISTICS: dict[str, Callable[[list[float]], float]] = {
    "Sum": _sum,
    "Average": lambda v: sum(v) / len(v),
    "Maximum": max,
    "Minimum": min,
    "SampleCount": lambda v: float(len(v)),
}


@dataclass
class Point:
    """One 15-minute interval of traffic, as SES's send statistics count it."""

    timestamp: datetime
    sends: int
    deliveries: int
    bounces: int
    complaints: int
    rejects: int
    bounce_rate: float  # reputation rate over the trailing window, as CloudWatch publishes it
    complaint_rate: float


def spiked_rate(base: float, spikes, metric: str, hours_ago: float) -> float:
    for spike in spikes:
        if spike.metric == metric and spike.start_hours_ago - spike.hours <= hours_ago <= spike.start_hours_ago:
            return spike.value if metric.endswith("rate") else base * spike.value
    return base


def traffic(scenario: Scenario) -> list[Point]:
    """Fourteen days of 15-minute traffic ending at the scenario's ``as_of``.

    A daily cycle (quiet nights, busy afternoons, UTC), deterministic noise, and the
    scenario's spikes; the reputation rates trail over ``reputation_window_hours``.
    """
    t = scenario.traffic
    rng = random.Random(t.seed)
    end = _end(scenario)
    warmup = 96  # one day before the window, so the trailing rates start settled
    start = end - timedelta(days=DAYS) - STEP * warmup
    n = DAYS * 96 + warmup
    raw = []
    for i in range(n):
        ts = start + STEP * i
        hours_ago = (end - ts).total_seconds() / 3600
        hour = ts.hour + ts.minute / 60
        cycle = 1 + 0.7 * math.sin((hour - 9) / 24 * 2 * math.pi)
        mean = t.daily_sends / 96 * cycle * spiked_rate(1.0, t.spikes, "sends", hours_ago)
        sends = max(0, int(round(mean * rng.uniform(0.85, 1.15)))) + sum(burst_minutes(scenario, ts).values())
        bounce = spiked_rate(t.bounce_rate, t.spikes, "bounce_rate", hours_ago)
        complaint = spiked_rate(t.complaint_rate, t.spikes, "complaint_rate", hours_ago)
        bounces = _binomial(rng, sends, bounce)
        complaints = _binomial(rng, sends, complaint)
        rejects = _binomial(rng, sends, t.reject_rate)
        raw.append((ts, sends, bounces, complaints, rejects))
    window = max(1, int(t.reputation_window_hours * 4))
    # running totals of sends, bounces and complaints: each trailing window is a difference of two
    sums = [(0, 0, 0)]
    for _, sends, bounces, complaints, _ in raw:
        s, b, c = sums[-1]
        sums.append((s + sends, b + bounces, c + complaints))
    points = []
    for i, (ts, sends, bounces, complaints, rejects) in enumerate(raw):
        if i < warmup:
            continue
        first, last = sums[max(0, i - window + 1)], sums[i + 1]
        total = (last[0] - first[0]) or 1
        points.append(
            Point(
                ts,
                sends,
                max(0, sends - bounces - rejects),
                bounces,
                complaints,
                rejects,
                (last[1] - first[1]) / total,
                (last[2] - first[2]) / total,
            )
        )
    return points


def burst_minutes(scenario: Scenario, interval: datetime) -> dict[int, int]:
    """The scenario's bursts within the 15-minute interval starting at ``interval``: minute -> sends."""
    end = _end(scenario)
    out: dict[int, int] = {}
    for burst in scenario.traffic.bursts:
        first = end - timedelta(hours=burst.start_hours_ago)
        first = first.replace(second=0, microsecond=0)
        for minute in range(15):
            at = interval + timedelta(minutes=minute)
            if first <= at < first + timedelta(minutes=burst.minutes):
                out[minute] = out.get(minute, 0) + int(round(burst.per_second * 60))
    return out


def _end(scenario: Scenario) -> datetime:
    """The scenario's ``as_of``: traffic ends there (the sandbox pins it when it starts)."""
    if not scenario.as_of:
        raise ValueError("scenario.as_of must be set before traffic is generated")
    return datetime.fromisoformat(scenario.as_of.replace("Z", "+00:00"))


def _binomial(rng: random.Random, n: int, p: float) -> int:
    """Expected value plus rounding noise: stable sums without numpy."""
    mean = n * p
    return int(mean) + (1 if rng.random() < mean - int(mean) else 0)


@dataclass
class World:
    """Mutable sandbox state for one scenario; every access holds the lock."""

    scenario: Scenario
    points: list[Point] = field(default_factory=list)
    sending_enabled: bool = True
    dkim_enabled: dict[str, bool] = field(default_factory=dict)
    suppressed: dict[str, dict] = field(default_factory=dict)
    sent: list[dict] = field(default_factory=list)
    inbox: list[dict] = field(default_factory=list)  # messages delivered to the inbound address
    mailbox: Any = None  # the loopback IMAP server the inbound address's copies are filed in
    keys: dict[str, dict] = field(default_factory=dict)  # access key id -> user, secret, status
    service_credentials: tuple[str, str] | None = None  # (username, password) the services hold
    notification_topics: dict[str, dict[str, str]] = field(default_factory=dict)  # identity -> {Bounce: topic arn, ...}
    forwarding: dict[str, bool] = field(default_factory=dict)  # identity -> email feedback forwarding
    lock: threading.RLock = field(default_factory=threading.RLock)

    @classmethod
    def build(cls, scenario: Scenario) -> World:
        end = _end(scenario)
        world = cls(scenario=scenario, points=traffic(scenario), sending_enabled=scenario.account.sending_enabled)
        world.dkim_enabled = {i.name: i.dkim_enabled for i in scenario.identities}
        for s in scenario.suppressed:
            world.suppressed[s.email] = {
                "EmailAddress": s.email,
                "Reason": s.reason,
                "LastUpdateTime": end - timedelta(days=s.days_ago),
            }
        return world

    @property
    def as_of(self) -> datetime:
        return _end(self.scenario)

    def identity(self, name: str) -> Identity | None:
        for identity in self.scenario.identities:
            if identity.name.lower() == name.lower():
                return identity
        return None

    def identity_names(self) -> list[str]:
        names = [i.name for i in self.scenario.identities]
        names += [f"app{n:05d}.tenants.thephenom.app" for n in range(self.scenario.extra_identities)]
        return names

    def identity_view(self, name: str) -> Identity | None:
        """The scenario's identity, or a verified synthetic one for scale scenarios."""
        found = self.identity(name)
        if found is None and name.endswith(".tenants.thephenom.app"):
            number = name.removeprefix("app").split(".", 1)[0]
            if number.isdigit() and len(number) == 5 and int(number) < self.scenario.extra_identities:
                return Identity(name=name, dkim_enabled=True, dkim="Success")
        return found

    def sent_last_24h(self) -> float:
        if self.scenario.account.sent_last_24h is not None:
            return self.scenario.account.sent_last_24h
        cutoff = self.as_of - timedelta(hours=24)
        return float(sum(p.sends for p in self.points if p.timestamp >= cutoff) + len(self.sent))

    def identity_statuses(self) -> dict[str, str]:
        """Every identity's verification status by name (SES v1's spelling), the synthetic ones too."""
        statuses: dict[str, str] = {}
        for name in self.identity_names():
            identity = self.identity_view(name)
            if identity is not None:
                statuses[name] = identity.verification
        return statuses

    def is_verified_address(self, address: str) -> bool:
        """Whether SES would let this address send or, in the sandbox, receive: a verified identity
        covers it (its own, its domain's or a parent domain's, ``core.identities``'s rule)."""
        address = parseaddr(address)[1]  # SES takes "Name <address>" as well
        if domain_of(address) == "simulator.amazonses.com":
            return True
        return covering_identity(address, self.identity_statuses()) is not None

    def signing_identity(self, address: str, *, earlier: bool = False) -> Identity | None:
        """The verified domain identity whose Easy DKIM signs mail from ``address`` and whose custom
        MAIL FROM SES uses for it (the most specific one that covers it); None when none does.
        ``earlier``: for mail sent before the scenario's now, when every identity it states was still
        verified (a scenario's Failed domain failed since, e.g. its TXT record was removed)."""
        statuses = self.identity_statuses()
        if earlier:
            statuses = dict.fromkeys(statuses, VERIFIED)
        name = covering_domain(parseaddr(address)[1], statuses)
        return self.identity_view(name) if name else None

    def _samples(self, attr: str, start: datetime, end: datetime, minutes: bool) -> list[tuple[datetime, float]]:
        """The traffic's values of ``attr`` in [start, end): one per 15-minute point, or, for periods
        under 15 minutes, the sends of each minute (the point's sends spread evenly, bursts where they are)."""
        out: list[tuple[datetime, float]] = []
        for point in self.points:
            if point.timestamp + STEP <= start or point.timestamp >= end:
                continue
            if not (minutes and attr == "sends"):
                if start <= point.timestamp:
                    out.append((point.timestamp, float(getattr(point, attr))))
                continue
            bursts = burst_minutes(self.scenario, point.timestamp)
            even = (point.sends - sum(bursts.values())) / 15
            for minute in range(15):
                when = point.timestamp + timedelta(minutes=minute)
                if start <= when < end:
                    out.append((when, even + bursts.get(minute, 0)))
        return out

    def metric(self, name: str, start: datetime, end: datetime, period: int, stat: str) -> list[tuple[datetime, float]]:
        """One account-level AWS/SES metric aggregated like CloudWatch: buckets of ``period`` seconds
        from ``start``, only the buckets that hold data, oldest first."""
        if name not in METRICS:
            return []
        attr = METRICS[name][0]
        buckets: dict[int, list[float]] = {}
        for when, value in self._samples(attr, start, end, minutes=period < STEP.total_seconds()):
            index = int((when - start).total_seconds() // period)
            buckets.setdefault(index, []).append(value)
        reduce = STATISTICS.get(stat, _sum)
        return [(start + timedelta(seconds=i * period), reduce(values)) for i, values in sorted(buckets.items())]
