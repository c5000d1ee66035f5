"""Forecasts from a least-squares trend, sans-IO: "disk full in 3.2 days at this rate"."""

from __future__ import annotations

from collections.abc import Sequence

from nocraven.schema.health import Forecast

# Fewer points, or a shorter span, and a trend is noise: no forecast rather than a wrong one.
MIN_POINTS = 5
MIN_SPAN_S = 60.0


def slope(points: Sequence[tuple[float, float]]) -> float | None:
    """Units per second of the least-squares line through (t, value) points."""
    n = len(points)
    if n < 2:
        return None
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var_t = sum((t - mean_t) ** 2 for t, _ in points)
    if var_t == 0:
        return None
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / var_t


def describe(seconds: float) -> str:
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.0f} h"
    if seconds >= 120:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def forecast_full(metric: str, label: str, points: Sequence[tuple[float, float]], capacity: float) -> Forecast | None:
    """When `used` (the points' values) reaches `capacity` at the trend's rate, from the last
    value; None when there is too little history to tell."""
    if len(points) < MIN_POINTS or points[-1][0] - points[0][0] < MIN_SPAN_S:
        return None
    rate = slope(points)
    if rate is None:
        return None
    last = points[-1][1]
    if rate <= 0:
        return Forecast(metric=metric, text=f"{label} not filling", seconds=None, rate_per_s=rate)
    seconds = max(0.0, (capacity - last) / rate)
    return Forecast(
        metric=metric, text=f"{label} full in {describe(seconds)} at this rate", seconds=seconds, rate_per_s=rate
    )
