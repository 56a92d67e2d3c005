"""The overview's 12-month chart drawn on the server as SVG: the figures
come from ``bridge.billing.metrics.history``; here is only where they go
on the drawing (no script, so the page's strict CSP holds)."""

from __future__ import annotations

from dataclasses import dataclass

WIDTH = 720
HEIGHT = 240
LEFT = 8
RIGHT = 8
TOP = 16
BOTTOM = 28  # room for the month labels


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Point:
    x: float
    y: float


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]  # each month's net billing
    points: list[Point]  # MRR at each month's end
    labels: list[Point]  # where each month's name goes
    grid: list[float]  # y of the grid lines (top, middle, base)
    top_value: int  # the value at the top grid line (minor units)

    @property
    def polyline(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


def nice_ceiling(value: int) -> int:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above ``value``."""
    if value <= 0:
        return 0
    magnitude = 1
    while magnitude * 10 <= value:
        magnitude *= 10
    for step in (1, 2, 2.5, 5, 10):
        top = int(step * magnitude)
        if top >= value:
            return top
    return 10 * magnitude


def layout(mrr: list[int], billing: list[int]) -> Chart:
    """Bars for billing and a line for MRR on one scale, months left to right."""
    count = max(len(mrr), 1)
    top_value = nice_ceiling(max([*mrr, *billing, 0]))
    plot_height = HEIGHT - TOP - BOTTOM
    base = TOP + plot_height
    slot = (WIDTH - LEFT - RIGHT) / count

    def y(value: int) -> float:
        if top_value == 0:
            return base
        return base - max(value, 0) / top_value * plot_height

    bars, points, labels = [], [], []
    for k in range(len(mrr)):
        centre = LEFT + slot * k + slot / 2
        bar_width = slot * 0.55
        bar_top = y(billing[k])
        bars.append(Bar(centre - bar_width / 2, bar_top, bar_width, base - bar_top))
        points.append(Point(centre, y(mrr[k])))
        labels.append(Point(centre, HEIGHT - 8))
    return Chart(
        WIDTH,
        HEIGHT,
        bars,
        points,
        labels,
        [TOP, TOP + plot_height / 2, base],
        top_value,
    )
