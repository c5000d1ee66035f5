"""The `[diag]` section: limits a person may set, refused by key when out of range."""

from __future__ import annotations

import pytest

from nocraven.config import ConfigError, from_toml_text


def test_defaults_allow_three_jobs_of_at_most_fifteen_minutes() -> None:
    diag = from_toml_text("", "test").diag
    assert (diag.max_running, diag.max_job_seconds) == (3, 900.0)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[diag]\nmax_running = 0\n", "diag.max_running"),
        ("[diag]\nmax_job_seconds = 0.5\n", "diag.max_job_seconds"),
        ("[diag]\nmax_jobs = 4\n", "diag.max_jobs"),
    ],
)
def test_bad_values_are_refused_by_key(text: str, key: str) -> None:
    with pytest.raises(ConfigError) as refused:
        from_toml_text(text, "test")
    assert key in str(refused.value)
