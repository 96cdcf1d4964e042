"""Send statistics and CloudWatch ``AWS/SES`` metrics.

One ``GetMetricData`` request asks for every account-level SES metric at once (paging on
``NextToken``), instead of the runbook page's one ``get-metric-statistics`` per metric.
``metric_series`` returns plain lists for the checks; the ``*_frame`` functions return pandas
DataFrames for notebooks and import pandas only when called.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from . import ses

if TYPE_CHECKING:
    import pandas as pd

    from .aws import Aws
    from .params import Params

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
# CloudWatch keeps 1-minute data 15 days, 5-minute data 63 days, 1-hour data 455 days.
RETENTION = ((60, timedelta(days=15)), (300, timedelta(days=63)), (3600, timedelta(days=455)))


def effective_period(period_s: int, start: datetime, now: datetime) -> tuple[int, str | None]:
    """The period CloudWatch can still answer for data as old as ``start``, with a note if raised."""
    age = now - start
    needed = next((p for p, keep in RETENTION if age <= keep), 3600)
    period = max(period_s, needed)
    if period % 60:
        period = (period // 60 + 1) * 60
    note = None
    if period != period_s:
        note = (f"period raised from {period_s} s to {period} s: CloudWatch keeps {needed}-second data "
                f"only {dict((p, k.days) for p, k in RETENTION)[needed]} days")
    return period, note


def metric_series(aws: "Aws", params: "Params") -> dict[str, Any]:
    """CloudWatch ``GetMetricData`` for all account-level SES metrics over ``lookback_days``.

    Returns ``{"period": s, "start", "end", "notes": [...], "series": {id: [(time, value), ...]}}``,
    oldest first. A metric with no data at all (no bounce ever) is an empty series and a note.
    """
    end = params.as_of_datetime()
    start = end - timedelta(days=params.lookback_days)
    period, note = effective_period(params.metrics_period_s, start, datetime.now(end.tzinfo) if params.as_of is None else end)
    queries = [{"Id": qid, "MetricStat": {"Metric": {"Namespace": NAMESPACE, "MetricName": name}, "Period": period, "Stat": stat},
                "ReturnData": True} for qid, (name, stat) in METRICS.items()]
    pages = aws.paginate("cloudwatch", "GetMetricData", "MetricDataResults", MetricDataQueries=queries,
                         StartTime=start, EndTime=end, ScanBy="TimestampAscending")
    series: dict[str, list[tuple[datetime, float]]] = {qid: [] for qid in METRICS}
    for result in pages:
        series[result["Id"]].extend(zip(result.get("Timestamps", []), result.get("Values", [])))
    notes = [note] if note else []
    for qid, points in series.items():
        points.sort(key=lambda p: p[0])
        if not points:
            notes.append(f"{METRICS[qid][0]}: no data in the period (never happened, or not published yet); shown as zero")
    return {"period": period, "start": start, "end": end, "notes": notes, "series": series}


def latest(series: list[tuple[datetime, float]]) -> tuple[datetime, float] | None:
    """The most recent point of a series, if any."""
    return series[-1] if series else None


def send_statistics_frame(aws: "Aws") -> "pd.DataFrame":
    """SES ``GetSendStatistics`` as a DataFrame indexed by UTC time, with derived rates."""
    import pandas as pd

    points = ses.send_statistics(aws)
    frame = pd.DataFrame(points, columns=["Timestamp", "DeliveryAttempts", "Bounces", "Complaints", "Rejects"])
    frame["Timestamp"] = pd.to_datetime(frame["Timestamp"], utc=True)
    frame = frame.set_index("Timestamp").sort_index()
    attempts = frame["DeliveryAttempts"].where(frame["DeliveryAttempts"] > 0)
    frame["BounceRate"] = (frame["Bounces"] / attempts).fillna(0.0)
    frame["ComplaintRate"] = (frame["Complaints"] / attempts).fillna(0.0)
    return frame


def ses_metrics_frame(aws: "Aws", params: "Params") -> "pd.DataFrame":
    """The ``metric_series`` answer as one DataFrame: a column per metric, zeros where absent."""
    import pandas as pd

    data = metric_series(aws, params)
    index = pd.date_range(data["start"], data["end"], freq=f"{data['period']}s", tz="UTC", inclusive="left")
    frame = pd.DataFrame(index=index)
    for qid, points in data["series"].items():
        column = pd.Series({pd.Timestamp(t).tz_convert("UTC"): v for t, v in points}, dtype=float)
        frame[METRICS[qid][0]] = column.reindex(index).fillna(0.0) if len(column) else 0.0
    frame.index.name = "Timestamp"
    frame.attrs["notes"] = data["notes"]
    frame.attrs["period"] = data["period"]
    return frame
