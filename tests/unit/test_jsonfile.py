"""kf's cache files: a damaged one reads as empty, a write is private and whole, an unwritable one is no error."""

from __future__ import annotations

import os
import stat

import pytest

from kfshell import jsonfile


def test_round_trip_is_private(tmp_path):
    path = tmp_path / "kf" / "cache.json"
    assert jsonfile.write_private(path, {"a": [1, 2]}) is True
    assert jsonfile.read_dict(path) == {"a": [1, 2]}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert os.listdir(path.parent) == ["cache.json"]  # no temporary file left behind


@pytest.mark.parametrize("text", ["", "{not json", "[1, 2]", "\x00\x01"])
def test_damaged_or_foreign_file_reads_as_empty(tmp_path, text):
    path = tmp_path / "cache.json"
    path.write_text(text)
    assert jsonfile.read_dict(path) == {}


def test_missing_file_reads_as_empty(tmp_path):
    assert jsonfile.read_dict(tmp_path / "absent.json") == {}


def test_value_json_cannot_hold_is_not_written(tmp_path):
    path = tmp_path / "cache.json"
    jsonfile.write_private(path, {"kept": True})
    assert jsonfile.write_private(path, {"bad": object()}) is False
    assert jsonfile.read_dict(path) == {"kept": True}  # the old cache survives


def test_unwritable_directory_is_not_an_error(tmp_path):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o500)
    try:
        if os.access(parent, os.W_OK):  # root ignores the mode: use a path under a file instead
            blocker = tmp_path / "file"
            blocker.write_text("x")
            assert jsonfile.write_private(blocker / "cache.json", {"a": 1}) is False
        else:
            assert jsonfile.write_private(parent / "cache.json", {"a": 1}) is False
    finally:
        parent.chmod(0o700)
