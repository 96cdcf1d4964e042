"""matplotlib figures built from the ``metrics`` frames; each returns a Figure, callers show or save it."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure


def send_statistics_figure(frame: "pd.DataFrame") -> "Figure":
    """Delivery attempts, bounces, complaints and rejects per 15 minutes (SES GetSendStatistics)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.5), dpi=100)
    ax = fig.subplots()
    for column in ("DeliveryAttempts", "Bounces", "Complaints", "Rejects"):
        if column in frame:
            ax.plot(frame.index, frame[column], label=column, linewidth=1)
    ax.set_title("SES send statistics, 15-minute points (UTC)")
    ax.set_xlabel("time (UTC)")
    ax.set_ylabel("messages per 15 min")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig
