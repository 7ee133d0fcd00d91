"""The supervisor's charts as PNG bytes: matplotlib's object API on the Agg canvas.

No pyplot: a `Figure` with its own `FigureCanvasAgg` keeps no global state, so charts drawn on
two room workers at once cannot touch each other. matplotlib is imported on first use (it costs
~0.5 s), so the bot's start and the command path do not pay for it.

Each chart's title is the same sentence as the text answer's line it illustrates, and is also
written into the PNG's `Title` text chunk: tests (and anyone scripting) read it back.
"""

from __future__ import annotations

import io
from datetime import tzinfo
from typing import Any

from bot.domain.desk import QueueSeries
from bot.domain.reports import MEASURES, Report

WIDTH, HEIGHT, DPI = 8.0, 4.0, 100  # 800 x 400 px: readable in a chat preview
BLUE, ORANGE, GREY = "#1d74f5", "#f5931d", "#9ea2a8"  # Rocket.Chat's own palette


def _figure(left: float = 0.08) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH, HEIGHT), dpi=DPI)
    FigureCanvasAgg(fig)
    # fixed margins: `tight_layout` measured every label first and cost a third of a chart
    fig.subplots_adjust(left=left, right=0.98, bottom=0.13, top=0.88)
    ax = fig.subplots()
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def _png(fig: Any, title: str) -> bytes:
    fig.suptitle(title, fontsize=11)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Title": title, "Software": "Omnicat"})
    return buf.getvalue()


def queue_chart(series: QueueSeries, tz: tzinfo, title: str) -> bytes:
    """Arrivals per bucket (bars) and the queue length at each bucket's end (steps)."""
    fig, ax = _figure()
    ends = [e.astimezone(tz).replace(tzinfo=None) for e in series.ends]
    width = series.step.total_seconds() / 86400 * 0.8  # in days, matplotlib's date unit
    starts = [e - series.step for e in ends]
    ax.bar(starts, series.arrivals, width=width, align="edge", color=GREY, label="arrivals")
    ax.step(ends, series.length, where="pre", color=BLUE, linewidth=2, label="waiting")
    from matplotlib.dates import DateFormatter

    ax.xaxis.set_major_formatter(DateFormatter("%H:%M"))
    ax.set_ylabel("conversations")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.legend(loc="upper left", frameon=False)
    return _png(fig, title)


def volume_chart(report: Report, tz_name: str, title: str) -> bytes:
    """Opened and closed by hour of day in the reader's zone."""
    fig, ax = _figure()
    hours = list(range(24))
    opened = [g.opened for g in report.by_hour]
    closed = [g.closed for g in report.by_hour]
    ax.bar([h - 0.2 for h in hours], opened, width=0.4, color=BLUE, label="opened")
    ax.bar([h + 0.2 for h in hours], closed, width=0.4, color=ORANGE, label="closed")
    ax.set_xticks(hours[::2], [f"{h:02d}" for h in hours[::2]])
    ax.set_xlim(-0.7, 23.7)
    ax.set_xlabel(f"hour of day ({tz_name})")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.legend(loc="upper right", frameon=False, ncols=2)
    return _png(fig, title)


def times_chart(report: Report, title: str) -> bytes:
    """p50 and p90 of each time measure, in minutes."""
    fig, ax = _figure(left=0.17)
    labels = [m.label for m in MEASURES]
    dists = [report.total.measures[m.key] for m in MEASURES]
    rows = list(range(len(labels)))
    p50 = [(d.p50 or 0) / 60 for d in dists]
    p90 = [(d.p90 or 0) / 60 for d in dists]
    ax.barh([r + 0.2 for r in rows], p50, height=0.4, color=BLUE, label="p50")
    ax.barh([r - 0.2 for r in rows], p90, height=0.4, color=ORANGE, label="p90")
    ax.set_yticks(rows, labels)
    ax.invert_yaxis()
    ax.set_xlabel("minutes")
    ax.legend(loc="lower right", frameon=False)
    return _png(fig, title)
