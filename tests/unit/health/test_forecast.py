"""Forecast arithmetic on synthetic samples: the least-squares rate, the time left, the wording."""

from __future__ import annotations

import pytest

from nocraven.health.forecast import describe, forecast_full, slope

GB = 1_000_000_000


def test_slope_of_a_straight_line_and_of_noisy_points() -> None:
    assert slope([(t, 3.0 * t + 7) for t in range(10)]) == pytest.approx(3.0)
    noisy = [(float(t), 2.0 * t + (1 if t % 2 else -1)) for t in range(100)]
    assert slope(noisy) == pytest.approx(2.0, abs=0.01)
    assert slope([(5.0, 1.0), (5.0, 2.0)]) is None  # no time span
    assert slope([(1.0, 1.0)]) is None


def test_disk_full_in_days_at_this_rate() -> None:
    # 1 GB an hour, sampled every minute for an hour; 77.8 GB left of 100 GB
    rate = GB / 3600
    points = [(60.0 * i, 20 * GB + rate * 60 * i) for i in range(61)]
    result = forecast_full("disk", "disk", points, capacity=100 * GB)
    assert result is not None
    left = 100 * GB - points[-1][1]
    assert result.rate_per_s == pytest.approx(rate)
    assert result.seconds == pytest.approx(left / rate)  # 79 hours
    assert result.text == "disk full in 3.3 days at this rate"


def test_buffer_full_in_hours() -> None:
    points = [(10.0 * i, 1000.0 * i) for i in range(30)]  # 100 B/s, last 29,000 B
    result = forecast_full("buffer", "buffer", points, capacity=29_000 + 100 * 9 * 3600)
    assert result is not None and result.seconds == pytest.approx(9 * 3600)
    assert result.text == "buffer full in 9 h at this rate"


def test_not_filling_and_too_little_history() -> None:
    shrinking = [(10.0 * i, 5000.0 - i) for i in range(10)]
    result = forecast_full("disk", "disk", shrinking, capacity=10_000)
    assert result is not None and result.seconds is None and result.text == "disk not filling"
    assert forecast_full("disk", "disk", [(0.0, 1.0), (1.0, 2.0)], 10) is None  # 2 points
    assert forecast_full("disk", "disk", [(float(i), float(i)) for i in range(10)], 100) is None  # 9 s span


def test_already_past_capacity_is_zero_seconds() -> None:
    points = [(10.0 * i, 100.0 + i) for i in range(10)]
    result = forecast_full("buffer", "buffer", points, capacity=50)
    assert result is not None and result.seconds == 0 and result.text == "buffer full in 0 s at this rate"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(30, "30 s"), (600, "10 min"), (9 * 3600, "9 h"), (3.2 * 86400, "3.2 days")],
)
def test_describe(seconds: float, text: str) -> None:
    assert describe(seconds) == text
