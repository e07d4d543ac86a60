"""Small charts drawn on the server as SVG (no JavaScript): new articles per crawl run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

WIDTH, HEIGHT = 320, 64  # a sparkline-sized chart beside a source's row
BAR_GAP = 1  # pixels between bars
FAILED_MARK = 4  # height of the red mark drawn for a failed run (it found nothing by failing)


@dataclass(frozen=True)
class Bar:
    """One run: its label (shown as a tooltip), new articles, and whether it failed."""

    label: str
    value: int
    failed: bool = False


def bar_chart(bars: Sequence[Bar], *, title: str, slots: int = 30, width: int = WIDTH, height: int = HEIGHT) -> dict:
    """The geometry of a bar chart of bars, oldest left, for the template to draw.

    The chart has room for `slots` bars (or more, when more are given), so a source with
    few runs shows few thin bars rather than one wide block.

    Returns {"width", "height", "title", "max", "bars": [{"x", "y", "w", "h", "label", "failed"}]}.
    The template writes the SVG elements, so every label is escaped by Jinja2.
    """
    top = max((b.value for b in bars), default=0)
    slot = width / max(len(bars), slots, 1)
    drawn = []
    for i, bar in enumerate(bars):
        h = FAILED_MARK if bar.failed and not bar.value else (height - 12) * bar.value / top if top else 0
        drawn.append({"x": round(i * slot, 1), "w": round(max(slot - BAR_GAP, 1), 1), "h": round(h, 1),
                      "y": round(height - h, 1), "label": bar.label, "failed": bar.failed, "value": bar.value})
    return {"width": width, "height": height, "title": title, "max": top, "bars": drawn}
