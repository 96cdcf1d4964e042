"""CloudWatch and send statistics: one GetMetricData, right sums, period raising, plots in the outputs."""

from __future__ import annotations

import base64
import io
import sys
from datetime import datetime, timedelta, timezone

import nbformat
import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.image import imread

from ses_runbook.checks import Context, run_one, select
from ses_runbook.core.aws import Aws
from ses_runbook.runs import plots
from ses_runbook.sources import metrics
from support import ROOT

NOW = datetime(2026, 11, 1, tzinfo=timezone.utc)
# The world's "now" is fixed, so no result depends on the hour the suite runs. At 10:00 UTC the
# bounce-spike scenario's spike starts at 14:00 UTC, in busy hours, where its rise is the day's largest.
SPIKE = ("bounce-spike", "2026-11-01T10:00:00Z")


def _params(sandbox, **update):
    """The sandbox's parameters (at the world's own fixed "now", so the 14-day view covers its traffic exactly)."""
    assert sandbox.params.as_of_datetime() == sandbox.box.world.as_of
    return sandbox.params.model_copy(update=update)


# -- effective_period: pure arithmetic ---------------------------------------------------------
@pytest.mark.parametrize(
    "asked, days, expected",
    [
        (60, 1, 60),
        (60, 15, 60),
        (60, 16, 300),
        (60, 63, 300),
        (60, 64, 3600),
        (60, 455, 3600),
        (3600, 455, 3600),
        (90, 1, 120),
        (600, 20, 600),
        (420, 20, 600),
        (7200, 100, 7200),
    ],
)
def test_effective_period_by_retention(asked, days, expected) -> None:
    period, note = metrics.effective_period(asked, NOW - timedelta(days=days), NOW)
    assert period == expected
    assert (note is None) == (period == asked)
    if note:
        assert f"from {asked} s to {expected} s" in note


def test_effective_period_respects_datapoints_per_call() -> None:
    start = NOW - timedelta(days=14)
    period, note = metrics.effective_period(60, start, NOW, end=NOW, queries=8)  # 20,160 points x 8 > 100,800
    assert period == 120 and "100,800" in note
    assert (14 * 86400 / period + 2) * 8 <= metrics.MAX_DATAPOINTS
    period, note = metrics.effective_period(3600, NOW - timedelta(days=455), NOW, end=NOW, queries=18)
    assert period == 7200 and "datapoints" in note  # 10,920 hours x 18 queries does not fit
    assert metrics.effective_period(3600, start, NOW, end=NOW, queries=8) == (3600, None)


# -- against the sandbox ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "sandbox",
    [SPIKE, ("bounce-spike", "2026-11-01T10:02:00Z"), ("bounce-spike", "2026-11-01T10:59:59Z")],
    indirect=True,
    ids=["on-the-hour", "just-after", "just-before-the-next"],
)
def test_frames_sum_to_the_scenario_traffic_with_one_metric_call(sandbox) -> None:
    params = _params(sandbox, lookback_days=14)
    as_of = sandbox.box.world.as_of
    whole_until = as_of.replace(minute=0)  # the hour still running at as_of is partial: left out
    world = [p for p in sandbox.box.world.points if p.timestamp < whole_until]
    aws = Aws(params)
    frame = metrics.ses_metrics_frame(aws, params)
    for column, attr in (
        ("Send", "sends"),
        ("Delivery", "deliveries"),
        ("Bounce", "bounces"),
        ("Complaint", "complaints"),
        ("Reject", "rejects"),
    ):
        assert frame[column].sum() == pytest.approx(sum(getattr(p, attr) for p in world)), column
    assert str(frame.index.tz) == "UTC" and frame.attrs["period"] == 3600
    assert frame["RenderingFailure"].sum() == 0 and any("RenderingFailure" in n for n in frame.attrs["notes"])
    # the same answer feeds the checks, the runbook's hourly command and the anomaly rows: no second call
    metrics.metric_series(aws, params)
    hourly = [r for r in metrics.hourly_send_rows(frame) if isinstance(r["Send (Sum)"], int)]
    assert len(hourly) == 24
    first = datetime.strptime(hourly[0]["hour (UTC)"], "%Y-%m-%d %H:%M").replace(tzinfo=timezone.utc)
    assert first + timedelta(hours=24) <= as_of < first + timedelta(hours=25)  # 24 whole hours up to as_of
    assert sum(r["Send (Sum)"] for r in hourly) == sum(p.sends for p in world if p.timestamp >= first)
    assert aws.stats()["by_operation"]["cloudwatch.GetMetricData"] == 1
    assert sandbox.box.layer.calls["cloudwatch.GetMetricData"] == 1
    # the spike: the largest bounce jump is at its start (20 h before the end), above the warn level
    rows = [r for r in metrics.anomaly_rows(frame) if r["metric"] == "Bounce"]
    spike_start = sandbox.box.world.as_of - timedelta(hours=20)
    assert abs(
        datetime.strptime(rows[0]["hour (UTC)"], "%Y-%m-%d %H:%M").replace(tzinfo=timezone.utc) - spike_start
    ) <= timedelta(hours=1)
    assert frame["Reputation.BounceRate"].iloc[-1] >= params.bounce_rate_fail


@pytest.mark.parametrize("sandbox", [SPIKE], indirect=True)
def test_send_statistics_and_quota_frames(sandbox) -> None:
    params = _params(sandbox)
    aws = Aws(params)
    send = metrics.send_statistics_frame(aws)
    world = sandbox.box.world.points
    assert str(send.index.tz) == "UTC" and send.index.is_monotonic_increasing
    assert send["Bounces"].sum() == sum(p.bounces for p in world)
    quota = metrics.quota_frame(aws, params)
    assert quota.attrs["max_24_hour_send"] == 50000
    assert quota["SentLast24Hours"].iloc[-1] == pytest.approx(sum(p.sends for p in world[-96:]))


@pytest.mark.parametrize("sandbox", [SPIKE], indirect=True)
def test_455_days_raise_the_period_with_a_note(sandbox) -> None:
    params = _params(sandbox, lookback_days=455, metrics_period_s=60)
    plan = metrics.metric_plan(Aws(params), params)
    assert plan["period"] >= 3600 and plan["period"] % 3600 == 0
    assert any("period raised from 60 s" in n for n in plan["notes"])
    assert (plan["end"] - plan["start"]).total_seconds() / plan["period"] * len(
        metrics.METRICS
    ) <= metrics.MAX_DATAPOINTS


@pytest.mark.parametrize("sandbox", [SPIKE], indirect=True)
def test_configuration_sets_in_the_same_call(sandbox) -> None:
    box = sandbox.box
    box.client("sesv2").create_configuration_set(ConfigurationSetName="transactional")
    box.client("sesv2").create_configuration_set(ConfigurationSetName="silent")
    at = box.world.as_of - timedelta(hours=2)
    box.client("cloudwatch").put_metric_data(
        Namespace="AWS/SES",
        MetricData=[
            {
                "MetricName": "Send",
                "Timestamp": at,
                "Value": 40.0,
                "Unit": "Count",
                "Dimensions": [{"Name": "ses:configuration-set", "Value": "transactional"}],
            },
            {
                "MetricName": "Bounce",
                "Timestamp": at,
                "Value": 4.0,
                "Unit": "Count",
                "Dimensions": [{"Name": "ses:configuration-set", "Value": "transactional"}],
            },
        ],
    )
    box.layer.reset_calls()
    params = _params(sandbox)
    aws = Aws(params)
    rows = {r["configuration set"]: r for r in metrics.configuration_set_rows(aws, params)}
    data = metrics.metric_series(aws, params)
    assert rows["transactional"]["Send"] == 40 and rows["transactional"]["Bounce"] == 4
    assert rows["silent"]["Send"] == 0 and any("silent" in n for n in data["notes"])
    assert aws.stats()["by_operation"]["cloudwatch.GetMetricData"] == 1
    assert box.layer.calls["cloudwatch.GetMetricData"] == 1
    # (not asserted: that the account-level Send excludes the per-set points. CloudWatch matches the exact
    # dimension set, but moto's GetMetricData adds every dimension's points to a query without dimensions.)


def test_check_path_imports_neither_pandas_nor_matplotlib() -> None:
    import subprocess

    code = (
        "import sys, ses_runbook.frontends.cli, ses_runbook.checks.suite, ses_runbook.sources.metrics, ses_runbook.checks.reputation, ses_runbook.runs.runner;"
        "print([m for m in ('pandas', 'matplotlib') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# -- plots ------------------------------------------------------------------------------------
@pytest.mark.parametrize("sandbox", [SPIKE], indirect=True)
def test_rate_figure_shades_the_spike(sandbox, tmp_path) -> None:
    params = _params(sandbox)
    frame = metrics.ses_metrics_frame(Aws(params), params)
    fig = plots.rates_figure(frame, params)
    bounce_ax = fig.axes[0]
    assert "UTC" in plots.title(fig) and "%" in bounce_ax.get_ylabel()
    assert len(bounce_ax.patches) >= 2  # warn and fail spans shaded
    assert {round(line.get_ydata()[0], 4) for line in bounce_ax.lines[1:]} == {0.05, 0.10}
    # the saved PNG shows it: 10 x 6 inches at 100 dpi, the spike's periods shaded in the bounce panel
    # (warn colour alone, then fail over warn), nothing shaded in the complaint panel
    image = imread(plots.save(fig, tmp_path / "rates.png"))
    assert image.shape[:2] == (600, 1000)
    pixels = np.rint(image[..., :3] * 255)
    alpha = bounce_ax.patches[0].get_alpha()
    warned = 255 * (1 - alpha) + np.array(to_rgb(plots.WARN_COLOUR)) * 255 * alpha
    failed = warned * (1 - alpha) + np.array(to_rgb(plots.FAIL_COLOUR)) * 255 * alpha

    def bands(region, colour) -> int:
        """Columns shaded over most of the panel's height (a legend's line sample is a few pixels, not a band)."""
        return int(((np.abs(region - colour).max(axis=-1) <= 2).sum(axis=0) >= 100).sum())

    top, bottom = pixels[:300], pixels[300:]
    assert bands(top, warned) >= 3 and bands(top, failed) >= 10, (bands(top, warned), bands(top, failed))
    assert bands(bottom, warned) == bands(bottom, failed) == 0


def test_executed_notebook_has_pngs_and_the_report_folder_too(sandbox, tmp_path) -> None:
    from ses_runbook.runs.runner import run_suite

    path = ROOT / "notebooks" / "07_cloudwatch_metrics.ipynb"
    committed = nbformat.read(path, as_version=4)
    assert (
        sum("image/png" in o.get("data", {}) for c in committed.cells if c.cell_type == "code" for o in c.outputs) >= 3
    )
    suite = run_suite(_params(sandbox), [path], out=tmp_path, jobs=1, quiet=True)
    assert suite.notebooks[0].error is None
    executed = nbformat.read(tmp_path / path.name, as_version=4)
    pngs = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(pngs) == 3
    files = sorted(tmp_path.glob("07_cloudwatch_metrics-*.png"))
    assert [f.name for f in files] == [f"07_cloudwatch_metrics-{n}.png" for n in (1, 2, 3)]
    # each file is the notebook's image, and each image shows the figure the library draws from the same
    # CloudWatch data and quota, pixel for pixel, in the page's order: activity, reputation rates, quota use
    params = _params(sandbox)
    aws = Aws(params)
    frame = metrics.ses_metrics_frame(aws, params)
    drawn = [
        plots.metrics_figure(frame),
        plots.rates_figure(frame, params),
        plots.quota_figure(metrics.quota_frame(aws, params)),
    ]
    assert [plots.title(f).split(",")[0] for f in drawn] == [
        "SES sending",
        "SES reputation rates",
        "24-hour sending quota use (GetSendStatistics + GetAccount SendQuota)",
    ]
    for fig, file, output in zip(drawn, files, pngs, strict=True):
        assert file.read_bytes() == base64.b64decode(output["data"]["image/png"]), file.name
        assert np.array_equal(imread(file), imread(io.BytesIO(plots.png_bytes(fig)))), plots.title(fig)
    assert suite.summary["run"]["aws_calls"]["by_operation"]["cloudwatch.GetMetricData"] == 1
    assert "data:image/png" in (tmp_path / "07_cloudwatch_metrics.html").read_text(encoding="utf-8")


# -- the period still running at as_of (issue 16) ------------------------------------------------
@pytest.mark.parametrize(
    "sandbox, as_of",
    [
        # a few minutes into the hour (and into a 15-minute point); exactly at the top of the hour
        (("healthy", "2026-11-01T10:15:00Z"), "2026-11-01T10:07:00Z"),
        (("healthy", "2026-11-01T10:00:00Z"), "2026-11-01T10:00:00Z"),
    ],
    indirect=["sandbox"],
    ids=["2026-11-01T10:15:00Z-2026-11-01T10:07:00Z", "2026-11-01T10:00:00Z-2026-11-01T10:00:00Z"],
)
def test_partial_period_is_never_drawn_or_compared_as_a_whole_one(sandbox, as_of) -> None:
    params = sandbox.load(as_of=as_of)  # the world's "now" is the sandbox's; the run's is at or before it
    at = params.as_of_datetime()
    top = at.replace(minute=0)
    aws = Aws(params)
    frame = metrics.ses_metrics_frame(aws, params)
    period = timedelta(seconds=frame.attrs["period"])
    # plots and jump detection see whole periods only, and the last one is not a collapse
    assert frame.index[-1].to_pydatetime() + period <= at
    assert frame["Send"].iloc[-1] >= 0.25 * frame["Send"].tail(24).mean()
    line = plots.metrics_figure(frame).axes[0].lines[0]
    assert line.get_xdata()[-1] + period <= at
    assert all(
        datetime.strptime(r["hour (UTC)"], "%Y-%m-%d %H:%M").replace(tzinfo=timezone.utc) + timedelta(hours=1) <= at
        for r in metrics.anomaly_rows(frame)
    )
    # the page's hourly table: 24 whole hours, then the running hour marked partial (no count to compare)
    hourly = metrics.hourly_send_rows(frame)
    whole = [r for r in hourly if isinstance(r["Send (Sum)"], int)]
    assert len(whole) == 24 and whole[-1]["hour (UTC)"] == f"{top - timedelta(hours=1):%Y-%m-%d %H:%M}"
    assert whole[-1]["Send (Sum)"] > 0
    partial = [r for r in hourly if not isinstance(r["Send (Sum)"], int)]
    if at == top:
        assert partial == [] and not any("still running" in n for n in frame.attrs["notes"])
    else:
        assert [r["hour (UTC)"] for r in partial] == [f"{top:%Y-%m-%d %H:%M} (partial)"]
        assert any("still running at as_of" in n for n in frame.attrs["notes"])
    # the 15-minute send statistics and the quota use end with a whole point too
    send = metrics.send_statistics_frame(aws)
    assert send.index[-1].to_pydatetime() + timedelta(minutes=15) <= at
    quota = metrics.quota_frame(aws, params)
    assert quota.index[-1] == send.index[-1] and quota["SentLast24Hours"].iloc[-1] > 0
    # the reputation verdicts name the whole period they used
    ctx = Context(params=params, aws=aws)
    for check_id in ("reputation.bounce_rate", "reputation.complaint_rate"):
        result = run_one(select([check_id])[0], ctx)
        named = f"{top - timedelta(hours=1):%Y-%m-%d %H:%M}-{top:%H:%M} UTC"
        assert result.details["period"] == named and named in result.summary, result.summary
