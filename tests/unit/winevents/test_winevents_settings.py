"""The `[winevents]` section: new keys validated with reasons, secrets masked."""

from __future__ import annotations

import pytest

from nocraven import config
from nocraven.config import ConfigError


def refuse(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config.from_toml_text(text, "test.toml")
    return info.value.problems


def test_defaults() -> None:
    settings = config.from_toml_text("", "t").winevents
    assert settings.listen == "0.0.0.0:8084"
    assert settings.tokens == []
    assert (settings.tls_cert, settings.tls_key) == ("", "")
    assert settings.max_body_bytes == 16 * 1024 * 1024
    assert settings.es_version == "8.19.0"


def test_tokens_are_checked_and_masked() -> None:
    cfg = config.from_toml_text(
        "[winevents]\ntokens = ['dc01:dc01-secret-0123456789', 'plain-secret-0123456789']\n", "t"
    )
    assert config.to_dict(cfg)["winevents"]["tokens"] == ["***", "***"]
    (problem,) = refuse("[winevents]\ntokens = ['dc01:short']\n")
    assert "winevents.tokens" in problem and "at least 16 characters" in problem
    assert "short" not in problem, "a refused secret is not echoed back"


def test_tls_needs_both_files_and_limits_are_bounded() -> None:
    (problem,) = refuse("[winevents]\ntls_cert = '/etc/nocraven/win.pem'\n")
    assert "tls_key" in problem
    (problem,) = refuse("[winevents]\nmax_body_bytes = 10\n")
    assert "winevents.max_body_bytes" in problem
    (problem,) = refuse("[winevents]\nes_version = 'eight'\n")
    assert "MAJOR.MINOR.PATCH" in problem
