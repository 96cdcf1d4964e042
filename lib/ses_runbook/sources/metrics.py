"""Send statistics and CloudWatch ``AWS/SES`` metrics.

One ``GetMetricData`` request asks for every account-level SES metric at once (paging on
``NextToken``), plus the per-configuration-set counts of every configuration set the account
has (SESv2 ``ListConfigurationSets``), instead of the runbook page's one
``get-metric-statistics`` per metric. The period is raised, with a note, when CloudWatch no
longer keeps data that fine for the range asked (1-minute data 15 days, 5-minute 63 days,
1-hour 455 days) or when the answer would exceed GetMetricData's 100,800 datapoints per call.

``metric_series`` returns plain lists for the checks (no pandas on the ``check`` path); the
``*_frame`` functions return pandas DataFrames indexed by UTC time for notebooks and plots,
and import pandas only when called.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from ses_runbook.core.aws import describe_error
from ses_runbook.core.commands import Shell, aws_command
from ses_runbook.sources import ses

if TYPE_CHECKING:
    import pandas as pd

    from ses_runbook.core.aws import Aws
    from ses_runbook.core.params import Params

NAMESPACE = "AWS/SES"
# query id -> (metric name, statistic)
METRICS: dict[str, tuple[str, str]] = {
    "send": ("Send", "Sum"),
    "delivery": ("Delivery", "Sum"),
    "bounce": ("Bounce", "Sum"),
    "complaint": ("Complaint", "Sum"),
    "reject": ("Reject", "Sum"),
    "rendering_failure": ("RenderingFailure", "Sum"),
    "bounce_rate": ("Reputation.BounceRate", "Average"),
    "complaint_rate": ("Reputation.ComplaintRate", "Average"),
}
RATES = ("Reputation.BounceRate", "Reputation.ComplaintRate")
# What a configuration set publishes (with a CloudWatch event destination), per set.
CONFIG_SET_DIMENSION = "ses:configuration-set"
CONFIG_SET_METRICS: dict[str, tuple[str, str]] = {
    k: METRICS[k] for k in ("send", "delivery", "bounce", "complaint", "reject")
}
# CloudWatch keeps 1-minute data 15 days, 5-minute data 63 days, 1-hour data 455 days.
RETENTION = ((60, timedelta(days=15)), (300, timedelta(days=63)), (3600, timedelta(days=455)))
MAX_DATAPOINTS = 100_800  # GetMetricData: datapoints per call, summed over its queries
MAX_QUERIES = 500  # GetMetricData: queries per call


def effective_period(
    period_s: int, start: datetime, now: datetime, *, end: datetime | None = None, queries: int = 0
) -> tuple[int, str | None]:
    """The period CloudWatch can answer for data as old as ``start``, with a note if raised.

    The period becomes a multiple of the finest resolution CloudWatch still keeps at that age
    (60, 300 or 3600 s); with ``end`` and ``queries`` it is also raised until
    ``points per query * queries`` fits in GetMetricData's 100,800 datapoints.
    """
    age = now - start
    needed = next((p for p, keep in RETENTION if age <= keep), 3600)
    period = _round_up(max(period_s, needed), needed)
    notes = []
    if period != period_s:
        why = (
            f"the range starts {age.days} days back and CloudWatch keeps 1-minute data 15 days, 5-minute data "
            f"63 days, 1-hour data 455 days"
            if period_s < needed
            else f"the period must be a multiple of {needed} s for data {age.days} days old"
        )
        notes.append(f"period raised from {period_s} s to {period} s: {why}")
    if end is not None and queries > 0:
        span = (end - start).total_seconds() + 2 * needed  # alignment may add a period at each end
        fits = _round_up(math.ceil(span * queries / MAX_DATAPOINTS), needed)
        if fits > period:
            notes.append(
                f"period raised from {period} s to {fits} s: {queries} metrics x {math.ceil(span / period):,} "
                f"points would exceed GetMetricData's {MAX_DATAPOINTS:,} datapoints per call"
            )
            period = fits
    return period, "; ".join(notes) or None


def _round_up(value: float, step: int) -> int:
    return int(math.ceil(value / step) * step)


def _floor(t: datetime, period: int) -> datetime:
    epoch = int(t.timestamp())
    return datetime.fromtimestamp(epoch - epoch % period, tz=timezone.utc)


def configuration_sets(aws: Aws) -> tuple[list[str], str | None]:
    """SESv2 ``ListConfigurationSets``, all pages: the names, and a note if they could not be listed."""

    names: list[str] = []
    token: str | None = None
    try:
        while True:
            page = aws.call("sesv2", "ListConfigurationSets", PageSize=1000, **({"NextToken": token} if token else {}))
            names.extend(page.get("ConfigurationSets", []))
            token = page.get("NextToken")
            if not token:
                return sorted(names), None
    except Exception as exc:  # noqa: BLE001 - the account metrics must still be read
        return [], f"configuration sets not listed, so no per-set metrics: {describe_error(exc, aws.params)}"


def metric_queries(
    config_sets: list[str], period: int
) -> tuple[list[dict[str, Any]], dict[str, tuple[str | None, str]]]:
    """GetMetricData queries: account-level metrics, then each configuration set's counts.

    Returns the queries and, per query id, ``(configuration set or None, metric query id)``.
    """

    def query(qid: str, name: str, stat: str, dimensions: list[dict[str, str]]) -> dict[str, Any]:
        metric: dict[str, Any] = {"Namespace": NAMESPACE, "MetricName": name}
        if dimensions:
            metric["Dimensions"] = dimensions
        return {"Id": qid, "MetricStat": {"Metric": metric, "Period": period, "Stat": stat}, "ReturnData": True}

    queries = [query(qid, name, stat, []) for qid, (name, stat) in METRICS.items()]
    owners: dict[str, tuple[str | None, str]] = {qid: (None, qid) for qid in METRICS}
    for i, config_set in enumerate(config_sets):
        for qid, (name, stat) in CONFIG_SET_METRICS.items():
            cs_qid = f"cs{i}_{qid}"
            queries.append(query(cs_qid, name, stat, [{"Name": CONFIG_SET_DIMENSION, "Value": config_set}]))
            owners[cs_qid] = (config_set, qid)
    return queries, owners


def metric_plan(aws: Aws, params: Params) -> dict[str, Any]:
    """What ``metric_series`` will ask: range, period (raised if needed), configuration sets, notes."""
    end = params.as_of_datetime()
    start = end - timedelta(days=params.lookback_days)
    now = datetime.now(timezone.utc) if params.as_of is None else end
    notes: list[str] = []
    config_sets, cs_note = configuration_sets(aws)
    notes += [cs_note] if cs_note else []
    room = (MAX_QUERIES - len(METRICS)) // len(CONFIG_SET_METRICS)
    if len(config_sets) > room:
        notes.append(
            f"{len(config_sets)} configuration sets; per-set metrics for the first {room} only "
            f"(GetMetricData takes {MAX_QUERIES} queries per call)"
        )
        config_sets = config_sets[:room]
    n_queries = len(METRICS) + len(CONFIG_SET_METRICS) * len(config_sets)
    period, note = effective_period(params.metrics_period_s, start, now, end=end, queries=n_queries)
    notes += [note] if note else []
    # Align to the period (CloudWatch answers aligned ranges fastest and buckets them that way);
    # the end is rounded up so the current, partial period is included (the checks may fall back on it),
    # and ``partial_from`` says where it starts: no table or plot compares it with full periods.
    as_of = end
    start = _floor(start, period)
    aligned_end = _floor(end, period)
    partial_from = None if aligned_end == end else aligned_end
    end = aligned_end if partial_from is None else aligned_end + timedelta(seconds=period)
    if partial_from is not None:
        notes.append(
            f"the period from {partial_from:%Y-%m-%d %H:%M} UTC was still running at as_of ({as_of:%H:%M} UTC): "
            "left out of the plots, the jump table and the checks; the hourly table marks it partial"
        )
    return {
        "start": start,
        "end": end,
        "period": period,
        "configuration_sets": config_sets,
        "notes": notes,
        "as_of": as_of,
        "partial_from": partial_from,
    }


def metric_series(aws: Aws, params: Params) -> dict[str, Any]:
    """One CloudWatch ``GetMetricData`` (all pages) for all SES metrics over ``lookback_days``.

    Returns ``{"period": s, "start", "end", "notes": [...], "series": {id: [(time, value), ...]},
    "configuration_sets": {name: {id: [(time, value), ...]}}}``, oldest first. A metric with no
    data at all (no bounce ever) is an empty series and a note; so is a configuration set that
    publishes nothing to CloudWatch.
    """
    plan = metric_plan(aws, params)
    queries, owners = metric_queries(plan["configuration_sets"], plan["period"])
    pages = aws.paginate(
        "cloudwatch",
        "GetMetricData",
        "MetricDataResults",
        MetricDataQueries=queries,
        StartTime=plan["start"],
        EndTime=plan["end"],
        ScanBy="TimestampAscending",
    )
    series: dict[str, list[tuple[datetime, float]]] = {qid: [] for qid in METRICS}
    per_set: dict[str, dict[str, list[tuple[datetime, float]]]] = {
        cs: {qid: [] for qid in CONFIG_SET_METRICS} for cs in plan["configuration_sets"]
    }
    for result in pages:
        config_set, qid = owners.get(result["Id"], (None, None))
        if qid is None:
            continue
        target = series if config_set is None else per_set[config_set]
        target[qid].extend(zip(result.get("Timestamps", []), result.get("Values", []), strict=False))
    notes = list(plan["notes"])
    for qid, points in series.items():
        points.sort(key=lambda p: p[0])
        if not points:
            notes.append(
                f"{METRICS[qid][0]}: no data in the period (never happened, or not published yet); shown as zero"
            )
    for config_set, by_metric in per_set.items():
        for points in by_metric.values():
            points.sort(key=lambda p: p[0])
        if not any(by_metric.values()):
            notes.append(
                f"configuration set {config_set}: no CloudWatch metrics in the period "
                "(no CloudWatch event destination, or no sending through it)"
            )
    return {
        "period": plan["period"],
        "start": plan["start"],
        "end": plan["end"],
        "notes": notes,
        "series": series,
        "configuration_sets": per_set,
        "as_of": plan["as_of"],
        "partial_from": plan["partial_from"],
    }


def send_rate_series(aws: Aws, params: Params, hours: int = 24) -> dict[str, Any]:
    """The per-second send rate over the last ``hours`` to ``as_of``: CloudWatch ``Send`` summed over
    the finest period it keeps for that range (1 minute for 15 days), divided by the period.

    Returns ``{"period": s, "start", "end", "note", "points": [(time, sends per second), ...]}``,
    oldest first. A rate averaged over a minute can only understate the peak second.
    """
    end = params.as_of_datetime()
    start = end - timedelta(hours=hours)
    now = datetime.now(timezone.utc) if params.as_of is None else end
    period, note = effective_period(RETENTION[0][0], start, now, end=end, queries=1)
    start, end = _floor(start, period), _floor(end, period)
    query = {
        "Id": "send",
        "MetricStat": {"Metric": {"Namespace": NAMESPACE, "MetricName": "Send"}, "Period": period, "Stat": "Sum"},
        "ReturnData": True,
    }
    pages = aws.paginate(
        "cloudwatch",
        "GetMetricData",
        "MetricDataResults",
        MetricDataQueries=[query],
        StartTime=start,
        EndTime=end,
        ScanBy="TimestampAscending",
    )
    points: list[tuple[datetime, float]] = []
    for result in pages:
        points.extend(
            (t, float(v) / period) for t, v in zip(result.get("Timestamps", []), result.get("Values", []), strict=False)
        )
    points.sort(key=lambda p: p[0])
    return {"period": period, "start": start, "end": end, "note": note, "points": points}


def latest(series: list[tuple[datetime, float]]) -> tuple[datetime, float] | None:
    """The most recent point of a series, if any."""
    return series[-1] if series else None


def complete(series: list[tuple[datetime, float]], data: dict[str, Any]) -> list[tuple[datetime, float]]:
    """The points of whole periods only: without the one still running at ``as_of`` (``data`` is ``metric_series``'s)."""
    cut = data.get("partial_from")
    return series if cut is None else [p for p in series if p[0] < cut]


def period_text(start: datetime, period_s: int) -> str:
    """A period as the checks name it: ``2026-10-31 23:00-24:00 UTC``."""
    end = start + timedelta(seconds=period_s)
    if end - start > timedelta(days=1):
        return f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"
    close = "24:00" if end.date() > start.date() and end.time() == datetime.min.time() else f"{end:%H:%M}"
    return f"{start:%Y-%m-%d %H:%M}-{close} UTC"


def statistics_command(params: Params, metric: str, statistic: str, period: Any, since: str = "24 hours ago") -> str:
    """``aws cloudwatch get-metric-statistics`` for one SES metric from ``since`` until now: the by-hand
    look-up every check and step prints (the dates are the shell's, at the time it is pasted)."""
    return aws_command(
        params,
        "cloudwatch",
        "get-metric-statistics",
        "--namespace",
        "AWS/SES",
        "--metric-name",
        metric,
        "--statistics",
        statistic,
        "--period",
        period,
        "--start-time",
        Shell(f"\"$(date -u -d '{since}' +%Y-%m-%dT%H:%M:%SZ)\""),
        "--end-time",
        Shell('"$(date -u +%Y-%m-%dT%H:%M:%SZ)"'),
    )


def send_sum_command(params: Params) -> str:
    """The runbook page's own command: hourly Send Sum over the last 24 h."""
    return statistics_command(params, "Send", "Sum", 3600)


# -- pandas from here on: notebooks and plots only ---------------------------------------------
def send_statistics_frame(aws: Aws) -> pd.DataFrame:
    """SES ``GetSendStatistics`` as a DataFrame indexed by UTC time, with derived rates."""
    # deferred: pandas and numpy (about 40 MiB, 0.3 s): only where a frame is built; `check` never loads them
    import pandas as pd

    points = ses.send_statistics(aws)
    frame = pd.DataFrame(points, columns=["Timestamp", "DeliveryAttempts", "Bounces", "Complaints", "Rejects"])
    frame["Timestamp"] = pd.to_datetime(frame["Timestamp"], utc=True)
    frame = frame.set_index("Timestamp").sort_index()
    # a 15-minute point still running at as_of is partial: never plotted or summed beside whole ones
    as_of = pd.Timestamp(aws.params.as_of_datetime())
    whole = frame.index + pd.Timedelta(minutes=15) <= as_of
    frame.attrs["notes"] = (
        [f"{int((~whole).sum())} point(s) of 15 minutes not complete at as_of ({as_of:%Y-%m-%d %H:%M} UTC) left out"]
        if (~whole).any()
        else []
    )
    frame = frame[whole]
    attempts = frame["DeliveryAttempts"].where(frame["DeliveryAttempts"] > 0)
    frame["BounceRate"] = (frame["Bounces"] / attempts).fillna(0.0)
    frame["ComplaintRate"] = (frame["Complaints"] / attempts).fillna(0.0)
    return frame


def _grid_frame(points_by_column: dict[str, list[tuple[datetime, float]]], data: dict[str, Any]) -> pd.DataFrame:
    """Series on the period grid from ``start`` (UTC): counts summed per period, zeros where absent;
    rates averaged per period and carried forward between publications (they are trailing levels)."""
    # deferred: pandas and numpy (about 40 MiB, 0.3 s): only where a frame is built; `check` never loads them
    import pandas as pd

    period = data["period"]
    index = pd.date_range(
        pd.Timestamp(data["start"]).tz_convert("UTC"),
        pd.Timestamp(data["end"]).tz_convert("UTC"),
        freq=f"{period}s",
        inclusive="left",
        name="Timestamp",
    )
    frame = pd.DataFrame(index=index)
    origin = index[0] if len(index) else None
    for column, points in points_by_column.items():
        if not points:
            frame[column] = 0.0
            continue
        times = pd.DatetimeIndex([pd.Timestamp(t) for t, _ in points]).tz_convert("UTC")
        bucket = origin + ((times - origin) // pd.Timedelta(seconds=period)) * pd.Timedelta(seconds=period)
        values = pd.Series([float(v) for _, v in points], index=bucket)
        if column in RATES:
            frame[column] = values.groupby(level=0).mean().reindex(index).ffill().fillna(0.0)
        else:
            frame[column] = values.groupby(level=0).sum().reindex(index).fillna(0.0)
    return frame


def ses_metrics_frame(aws: Aws, params: Params) -> pd.DataFrame:
    """The ``metric_series`` answer as one DataFrame indexed by UTC period start: a column per
    account-level metric (``Send``, ``Bounce``, ..., ``Reputation.BounceRate``), zeros where absent.
    Whole periods only: the one still running at ``as_of`` is left out (a note says so).

    ``frame.attrs`` holds ``period`` (s), ``as_of``, ``notes`` and ``params`` thresholds for the plots.
    """
    # deferred: pandas and numpy (about 40 MiB, 0.3 s): only where a frame is built; `check` never loads them
    import pandas as pd

    data = metric_series(aws, params)
    frame = _grid_frame({METRICS[qid][0]: points for qid, points in data["series"].items()}, data)
    if data["partial_from"] is not None:  # the period still running at as_of is never drawn beside whole ones
        frame = frame[frame.index < pd.Timestamp(data["partial_from"])]
    frame.attrs.update(
        notes=list(data["notes"]),
        period=data["period"],
        lookback_days=params.lookback_days,
        as_of=pd.Timestamp(data["as_of"]),
        thresholds={
            "bounce": (params.bounce_rate_warn, params.bounce_rate_fail),
            "complaint": (params.complaint_rate_warn, params.complaint_rate_fail),
        },
    )
    return frame


def configuration_set_frame(aws: Aws, params: Params) -> pd.DataFrame:
    """Per-configuration-set counts (columns ``(set, metric)``) from the same GetMetricData answer;
    empty when the account has no configuration sets."""
    # deferred: pandas and numpy (about 40 MiB, 0.3 s): only where a frame is built; `check` never loads them
    import pandas as pd

    data = metric_series(aws, params)
    parts = {
        cs: _grid_frame({METRICS[q][0]: p for q, p in by.items()}, data)
        for cs, by in data["configuration_sets"].items()
    }
    if not parts:
        return pd.DataFrame(index=pd.DatetimeIndex([], tz="UTC", name="Timestamp"))
    return pd.concat(parts, axis=1, names=["configuration_set", "metric"])


def configuration_set_rows(aws: Aws, params: Params) -> list[dict[str, Any]]:
    """Totals per configuration set over the lookback, with its bounce and complaint share."""
    frame = configuration_set_frame(aws, params)
    rows = []
    for config_set in dict.fromkeys(frame.columns.get_level_values(0)):
        sums = frame[config_set].sum()
        sends = float(sums.get("Send", 0.0))
        rows.append(
            {
                "configuration set": config_set,
                **{m: int(sums.get(m, 0.0)) for m in ("Send", "Delivery", "Bounce", "Complaint", "Reject")},
                "bounce share": f"{sums.get('Bounce', 0.0) / sends:.2%}" if sends else "-",
                "complaint share": f"{sums.get('Complaint', 0.0) / sends:.3%}" if sends else "-",
            }
        )
    return rows


def hourly_send_rows(frame: pd.DataFrame, hours: int = 24) -> list[dict[str, Any]]:
    """The runbook page's command answered from the frame (no extra call): Send Sum per hour, last 24 h."""
    # deferred: pandas and numpy (about 40 MiB, 0.3 s): only where a frame is built; `check` never loads them
    import pandas as pd

    period = int(frame.attrs.get("period", 3600))
    if 3600 % period:
        return [{"hour (UTC)": f"period is {period} s, not a divisor of an hour: no hourly sums", "Send (Sum)": None}]
    as_of = frame.attrs.get("as_of", frame.index[-1] + pd.Timedelta(seconds=period))
    end = as_of.floor("1h")  # whole hours only; the hour still running at as_of is a marked row, not a count
    hourly = frame["Send"][(frame.index >= end - pd.Timedelta(hours=hours)) & (frame.index < end)].resample("1h").sum()
    rows: list[dict[str, Any]] = [
        {"hour (UTC)": f"{t:%Y-%m-%d %H:%M}", "Send (Sum)": int(v)} for t, v in hourly.items()
    ]
    if as_of > end:
        rows.append(
            {
                "hour (UTC)": f"{end:%Y-%m-%d %H:%M} (partial)",
                "Send (Sum)": f"still running at as_of {as_of:%H:%M}: not counted",
            }
        )
    return rows


def quota_frame(aws: Aws, params: Params) -> pd.DataFrame:
    """Quota use over time: messages sent in the trailing 24 h (from GetSendStatistics' 15-minute
    points) against ``Max24HourSend`` (SESv2 GetAccount SendQuota), indexed by UTC time."""
    # deferred: pandas and numpy (about 40 MiB, 0.3 s): only where a frame is built; `check` never loads them
    import pandas as pd

    send = send_statistics_frame(aws)
    quota = ses.account(aws).get("SendQuota", {})
    limit = float(quota.get("Max24HourSend", 0.0))
    frame = send[["DeliveryAttempts"]].copy()
    # a full 24 h window only: the first day of the two weeks has no complete trailing day
    frame["SentLast24Hours"] = (
        send["DeliveryAttempts"]
        .rolling("24h")
        .sum()
        .where(send.index >= send.index[0] + pd.Timedelta(hours=24) if len(send) else [])
    )
    frame["Max24HourSend"] = limit
    frame["Used"] = frame["SentLast24Hours"] / limit if limit > 0 else 1.0
    frame.attrs.update(
        max_24_hour_send=limit,
        sent_last_24_hours=float(quota.get("SentLast24Hours", 0.0)),
        quota_warn=params.quota_warn,
        quota_fail=params.quota_fail,
    )
    return frame


def anomaly_rows(frame: pd.DataFrame, top: int = 3) -> list[dict[str, Any]]:
    """The largest hour-over-hour rises in bounces and complaints, with their times (UTC).

    Per metric, the ``top`` hours whose count rose most over the hour before, with the
    reputation rate published at that hour; nothing when no hour rose.
    """
    # deferred: pandas and numpy (about 40 MiB, 0.3 s): only where a frame is built; `check` never loads them
    import pandas as pd

    period = int(frame.attrs.get("period", 3600))
    rule = "1h" if 3600 % period == 0 else f"{period}s"
    rows: list[dict[str, Any]] = []
    as_of = frame.attrs.get("as_of")
    for metric, rate in (("Bounce", "Reputation.BounceRate"), ("Complaint", "Reputation.ComplaintRate")):
        counts = frame[metric].resample(rule).sum()
        if as_of is not None:  # an hour still running at as_of is never compared with whole ones
            counts = counts[counts.index + pd.Timedelta(rule) <= as_of]
        rates = frame[rate].resample(rule).max()
        jumps = counts.diff().dropna()
        jumps = jumps[jumps > 0].sort_values(ascending=False, kind="stable").head(top)
        for at, jump in jumps.items():
            before = counts.loc[at - pd.Timedelta(rule)]
            rows.append(
                {
                    "metric": metric,
                    "hour (UTC)": f"{at:%Y-%m-%d %H:%M}",
                    "before": int(before),
                    "after": int(counts.loc[at]),
                    "rise": int(jump),
                    "rise %": f"{jump / before:+.0%}" if before else "new",
                    "rate then": f"{rates.loc[at]:.2%}",
                }
            )
    return rows


def frame_notes(*frames: pd.DataFrame) -> str:
    """The frames' notes (period raised, metrics without data), one per line."""
    notes = [n for f in frames for n in f.attrs.get("notes", [])]
    period = next((f.attrs["period"] for f in frames if "period" in f.attrs), None)
    head = f"CloudWatch period: {period} s." if period else ""
    return "\n".join([head, *notes] if notes else [head, "no notes: every metric had data at the period asked"]).strip()
