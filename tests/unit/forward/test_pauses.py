"""The operator's pauses on disk: what is saved is what a restarted engine loads."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from nocraven.forward.pauses import FILENAME, PauseFile


def test_saved_pauses_are_loaded_by_a_new_reader(tmp_path: Path) -> None:
    PauseFile(tmp_path).save({"noc", "archive"})
    assert PauseFile(tmp_path).load() == {"noc", "archive"}
    PauseFile(tmp_path).save({"archive"})
    assert PauseFile(tmp_path).load() == {"archive"}
    PauseFile(tmp_path).save(set())
    assert PauseFile(tmp_path).load() == set()


def test_no_file_means_nothing_paused(tmp_path: Path) -> None:
    assert PauseFile(tmp_path / "fresh").load() == set()


def test_the_file_is_replaced_whole_and_private(tmp_path: Path) -> None:
    PauseFile(tmp_path).save({"noc"})
    assert (tmp_path / FILENAME).stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [FILENAME], "no temp file is left behind"


@pytest.mark.parametrize("text", ["{not json", '{"paused": "noc"}', "[]", '{"paused": [1]}'])
def test_an_unreadable_file_is_reported_and_pauses_nothing(
    tmp_path: Path, text: str, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / FILENAME).write_text(text)
    with caplog.at_level(logging.ERROR):
        assert PauseFile(tmp_path).load() == set()
    assert str(tmp_path / FILENAME) in caplog.text and "pause again" in caplog.text
