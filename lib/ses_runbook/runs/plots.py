"""matplotlib figures built from the ``metrics`` frames; each returns a Figure, callers show or save it.

No pyplot: every figure is a ``matplotlib.figure.Figure`` of its own (no global state, safe in
threads and kernels). Times are UTC and say so; every axis names its unit.
"""

from __future__ import annotations

import base64
import io
from datetime import timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ses_runbook.checks.message import COMPLAINT_LIMIT
from ses_runbook.core import files
from ses_runbook.core.display import STATUS_COLOUR

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

WARN_COLOUR, FAIL_COLOUR = "#bf8700", "#cf222e"
COLOURS = {"Send": "#0969da", "Delivery": "#1a7f37", "Bounce": "#cf222e", "Complaint": "#8250df", "Reject": "#6e7781"}


def _figure(height: float, rows: int = 1) -> tuple[Figure, Any]:
    # deferred: matplotlib (about 30 MiB): only where a figure is drawn
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, height), dpi=100, layout="constrained")
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    return fig, axes


def _time_axis(ax: Axes) -> None:
    """Concise dates in UTC on the x axis."""

    # deferred: matplotlib (about 30 MiB): only where a figure is drawn
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(tz=timezone.utc, minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=timezone.utc))
    ax.set_xlabel("time (UTC)")
    ax.grid(True, alpha=0.3)


def _x(frame: pd.DataFrame) -> Any:
    return frame.index.to_pydatetime()


def _period_label(frame: pd.DataFrame) -> str:
    period = int(frame.attrs.get("period", 3600))
    return f"{period // 3600} h" if period % 3600 == 0 else f"{period // 60} min"


def send_statistics_figure(frame: pd.DataFrame) -> Figure:
    """Delivery attempts, bounces, complaints and rejects per 15 minutes (SES GetSendStatistics)."""
    fig, (ax,) = _figure(3.5)
    for column in ("DeliveryAttempts", "Bounces", "Complaints", "Rejects"):
        if column in frame:
            ax.plot(_x(frame), frame[column], label=column, linewidth=1)
    ax.set_title("SES send statistics, 15-minute points (UTC)")
    ax.set_ylabel("messages per 15 min")
    ax.legend(loc="upper left")
    _time_axis(ax)
    return fig


def metrics_figure(frame: pd.DataFrame) -> Figure:
    """Sends and deliveries (top), bounces, complaints and rejects (bottom) per CloudWatch period."""
    fig, (top, bottom) = _figure(6, rows=2)
    unit = f"messages per {_period_label(frame)}"
    for ax, columns in ((top, ("Send", "Delivery")), (bottom, ("Bounce", "Complaint", "Reject"))):
        for column in columns:
            total = frame[column].sum()
            ax.plot(
                _x(frame),
                frame[column],
                label=f"{column} ({total:,.0f} in total)",
                color=COLOURS[column],
                linewidth=1.2,
            )
        ax.set_ylabel(unit)
        ax.set_ylim(bottom=0)
        ax.legend(loc="upper left", fontsize="small")
        _time_axis(ax)
    top.set_title("Sends and deliveries")
    bottom.set_title("Bounces, complaints and rejects")
    fig.suptitle(
        f"SES sending, CloudWatch AWS/SES, last {frame.attrs.get('lookback_days', '?')} days "
        f"({_period_label(frame)} periods, UTC)"
    )
    return fig


def _breaches(ax: Axes, x: Any, values: Any, level: float, colour: str, period_s: int) -> int:
    """Shade the spans where ``values >= level``; returns how many periods breached."""

    count, start = 0, None
    step = timedelta(seconds=period_s)
    for i, value in enumerate(values):
        if value >= level:
            count += 1
            start = x[i] if start is None else start
        if start is not None and (value < level or i == len(values) - 1):
            end = x[i] + step if value >= level else x[i]
            ax.axvspan(start, end, color=colour, alpha=0.15, linewidth=0)
            start = None
    return count


def rates_figure(frame: pd.DataFrame, params: Any | None = None) -> Figure:
    """Bounce and complaint rate (CloudWatch Reputation.*) against the warn and fail levels,
    the periods at or above them shaded."""
    # deferred: matplotlib (about 30 MiB): only where a figure is drawn
    from matplotlib.ticker import PercentFormatter

    thresholds = frame.attrs.get("thresholds", {})
    if params is not None:
        thresholds = {
            "bounce": (params.bounce_rate_warn, params.bounce_rate_fail),
            "complaint": (params.complaint_rate_warn, params.complaint_rate_fail),
        }
    fig, axes = _figure(6, rows=2)
    period = int(frame.attrs.get("period", 3600))
    x = _x(frame)
    for ax, key, column in zip(
        axes, ("bounce", "complaint"), ("Reputation.BounceRate", "Reputation.ComplaintRate"), strict=False
    ):
        warn, fail = thresholds.get(key, (0.05, 0.10) if key == "bounce" else (0.001, 0.005))
        values = frame[column].to_numpy()
        ax.plot(
            x, values, color=COLOURS["Bounce" if key == "bounce" else "Complaint"], linewidth=1.5, label=f"{key} rate"
        )
        ax.axhline(warn, color=WARN_COLOUR, linestyle="--", linewidth=1.2, label=f"warn {warn:.2%} (AWS review)")
        ax.axhline(fail, color=FAIL_COLOUR, linestyle="--", linewidth=1.2, label=f"fail {fail:.2%} (AWS may pause)")
        if key == "complaint":  # the mailbox providers' own line (10_mail_tester's checklist)
            ax.axhline(
                COMPLAINT_LIMIT,
                color="#57606a",
                linestyle=":",
                linewidth=1.2,
                label=f"Gmail/Yahoo spam rate {COMPLAINT_LIMIT:.1%} (bulk-sender rules)",
            )
        warned = _breaches(ax, x, values, warn, WARN_COLOUR, period)
        failed = _breaches(ax, x, values, fail, FAIL_COLOUR, period)
        peak = float(values.max()) if len(values) else 0.0
        ax.set_ylim(0, max(fail, peak) * 1.15 or 1)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=1 if key == "bounce" else 2))
        ax.set_ylabel(f"{key} rate (% of sends)")
        state = (
            f"{failed} period(s) at or above fail, {warned} at or above warn (shaded)"
            if warned
            else "never at or above warn"
        )
        ax.set_title(f"{key.capitalize()} rate, peak {peak:.2%}: {state}")
        ax.legend(loc="upper left", fontsize="small")
        _time_axis(ax)
    fig.suptitle(f"SES reputation rates, CloudWatch AWS/SES Reputation.*, {_period_label(frame)} averages (UTC)")
    return fig


def quota_figure(frame: pd.DataFrame) -> Figure:
    """Messages sent in the trailing 24 h against Max24HourSend and the warn level."""
    # deferred: matplotlib (about 30 MiB): only where a figure is drawn
    from matplotlib.ticker import StrMethodFormatter

    fig, (ax,) = _figure(3.8)
    limit = float(frame.attrs.get("max_24_hour_send", frame["Max24HourSend"].max() if len(frame) else 0.0))
    warn = float(frame.attrs.get("quota_warn", 0.8))
    x = _x(frame)
    ax.plot(x, frame["SentLast24Hours"], color=COLOURS["Send"], linewidth=1.5, label="sent in the trailing 24 h")
    ax.axhline(limit, color=FAIL_COLOUR, linestyle="--", linewidth=1.2, label=f"Max24HourSend {limit:,.0f}")
    ax.axhline(limit * warn, color=WARN_COLOUR, linestyle="--", linewidth=1.2, label=f"warn {warn:.0%} of quota")
    if len(frame):
        _breaches(ax, x, frame["SentLast24Hours"].fillna(0.0).to_numpy(), limit * warn, WARN_COLOUR, 900)
    peak = float(frame["SentLast24Hours"].max()) if frame["SentLast24Hours"].notna().any() else 0.0
    ax.set_ylim(0, max(limit, peak) * 1.1 or 1)
    ax.set_ylabel("messages per 24 h")
    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.legend(loc="upper left", fontsize="small")
    used = peak / limit if limit else 0.0
    ax.set_title(f"24-hour sending quota use (GetSendStatistics + GetAccount SendQuota), peak {used:.0%} (UTC)")
    _time_axis(ax)
    return fig


def title(fig: Figure) -> str:
    """The figure's title: its suptitle, else its first axes' title."""
    text = fig.get_suptitle()
    if not text and fig.axes:
        text = fig.axes[0].get_title()
    return text or "figure"


def png_bytes(fig: Figure, dpi: int = 100) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def save(fig: Figure, path: str | Path, dpi: int = 100) -> Path:
    """Write the figure as PNG (parents created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png_bytes(fig, dpi))
    return path


def extract_pngs(notebook_node: Any, out_dir: str | Path, stem: str) -> list[Path]:
    """Write every ``image/png`` output of an executed notebook to ``out_dir/stem-N.png`` (N from 1)."""

    out_dir = Path(out_dir)
    written: list[Path] = []
    for cell in notebook_node.get("cells", []):
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            data = output.get("data", {}).get("image/png")
            if not data:
                continue
            target = out_dir / f"{stem}-{len(written) + 1}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            files.write_bytes(target, base64.b64decode("".join(data) if isinstance(data, list) else data))
            written.append(target)
    return written


def feedback_figure(timeline: pd.DataFrame, rates: pd.DataFrame, since: Any = None) -> Figure:
    """Notifications per hour by kind (top; from the feedback queue) above the CloudWatch bounce and
    complaint rates (bottom) over the same span: which addresses' feedback made the rate move."""
    # deferred: matplotlib (about 30 MiB): only where a figure is drawn
    from matplotlib.ticker import PercentFormatter

    fig, (top, bottom) = _figure(6, rows=2)
    colours = {
        "Bounce Permanent": "#cf222e",
        "Bounce Transient": "#bf8700",
        "Complaint": "#8250df",
        "Delivery": "#1a7f37",
    }
    if not timeline.empty:
        for column in timeline.columns:
            top.plot(
                timeline.index.to_pydatetime(),
                timeline[column],
                label=f"{column} ({int(timeline[column].sum()):,})",
                color=colours.get(column),
                linewidth=1.2,
            )
        top.legend(loc="upper left", fontsize="small")
    top.set_ylabel("notifications per hour")
    top.set_ylim(bottom=0)
    top.set_title("Notifications on the feedback queue, by kind")
    _time_axis(top)
    if since is None and not timeline.empty:
        since = timeline.index.min()
    window = rates if since is None or rates.empty else rates[rates.index >= since]
    x = _x(window)
    bottom.plot(x, window["Reputation.BounceRate"], color=COLOURS["Bounce"], linewidth=1.4, label="bounce rate")
    bottom.plot(
        x,
        window["Reputation.ComplaintRate"] * 10,
        color=COLOURS["Complaint"],
        linewidth=1.4,
        label="complaint rate x 10",
    )
    bottom.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
    bottom.set_ylabel("rate (% of sends)")
    bottom.set_ylim(bottom=0)
    bottom.set_title("CloudWatch Reputation.BounceRate and ComplaintRate (complaints scaled x 10)")
    bottom.legend(loc="upper left", fontsize="small")
    _time_axis(bottom)
    fig.suptitle("Bounce and complaint notifications beside the reputation rates (UTC)")
    return fig


# -- history (frames from ``history.timeline_frame`` / ``history.trend_frame``) ------------------
def status_timeline_figure(frame: pd.DataFrame) -> Figure | None:
    """Checks x runs, each cell coloured by its status (grey: not checked in that run); None
    without runs (``history.runs_note`` says so in a sentence)."""
    # deferred: pandas and numpy (about 40 MiB, 0.3 s): only where a frame is built; `check` never loads them
    import numpy as np
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    order = ["", "ok", "skip", "warn", "fail", "error"]
    colours = ["#eeeeee"] + [STATUS_COLOUR[s] for s in order[1:]]
    rows, columns = frame.shape
    if not rows or not columns:
        return None
    fig, (ax,) = _figure(max(2.5, 0.3 * rows + 1.5))
    codes = np.vectorize(lambda s: order.index(s) if s in order else 0)(frame.to_numpy(dtype=object))
    ax.imshow(codes, cmap=ListedColormap(colours), vmin=0, vmax=len(order) - 1, aspect="auto", interpolation="nearest")
    ax.set_yticks(range(rows), list(frame.index))
    ax.set_xticks(range(columns), list(frame.columns), rotation=30, ha="right", fontsize=8)
    ax.set_xlabel("run (oldest first)")
    ax.legend(
        handles=[Patch(color=STATUS_COLOUR[s], label=s) for s in order[1:]],
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
        fontsize=8,
    )
    return fig


TREND_UNITS = {
    "bounce_rate": "share of sends",
    "complaint_rate": "share of deliveries",
    "quota_used": "share of Max24HourSend",
    "suppressed": "addresses",
    "identities": "identities",
    "aws_calls": "calls",
    "duration_s": "seconds",
}


def trend_figure(frame: pd.DataFrame, thresholds: dict[str, dict[str, float]]) -> Figure | None:
    """One panel per key figure over the runs, warn and fail levels drawn where they exist; None
    without runs."""
    if frame.empty:
        return None
    names = [n for n in TREND_UNITS if n in frame.columns]
    fig, axes = _figure(1.6 * len(names) + 0.8, rows=len(names))
    for ax, name in zip(axes, names, strict=False):
        series = frame[name].astype(float)
        if series.notna().any():
            ax.plot(frame.index, series, marker="o", color="#0969da")
        for level, colour in (("warn", WARN_COLOUR), ("fail", FAIL_COLOUR)):
            if name in thresholds:
                ax.axhline(
                    thresholds[name][level],
                    color=colour,
                    linestyle="--",
                    linewidth=1,
                    label=f"{level} {thresholds[name][level]:g}",
                )
        if name in thresholds:
            ax.legend(loc="upper left", fontsize=7)
        ax.set_ylabel(f"{name}\n({TREND_UNITS[name]})", fontsize=8)
        ax.grid(True, alpha=0.3)
    if len(frame.index):
        _time_axis(axes[-1])
    return fig
