from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import ConfigError
from daert.services.datadir import MARKER, ensure_data_dir


def test_fresh_dir_gets_a_marker(data_dir: Path) -> None:
    ensure_data_dir(data_dir)
    assert json.loads((data_dir / MARKER).read_text())["format"] == 1
    ensure_data_dir(data_dir)  # idempotent


def test_foreign_dir_is_refused_and_left_alone(data_dir: Path) -> None:
    data_dir.mkdir()
    (data_dir / "thesis.tex").write_text("precious")
    with pytest.raises(ConfigError) as caught:
        ensure_data_dir(data_dir)
    assert caught.value.code == "data_dir_foreign"
    assert "thesis.tex" in caught.value.message
    assert (data_dir / "thesis.tex").read_text() == "precious"
    assert not (data_dir / MARKER).exists()


def test_a_file_is_not_a_data_dir(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(ConfigError) as caught:
        ensure_data_dir(target)
    assert caught.value.code == "data_dir_invalid"


def test_unwritable_location(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a directory should be")
    with pytest.raises(ConfigError) as caught:
        ensure_data_dir(blocker / "data")
    assert caught.value.code == "data_dir_not_writable"


def test_newer_format_is_refused(data_dir: Path) -> None:
    data_dir.mkdir()
    (data_dir / MARKER).write_text(json.dumps({"format": 99}))
    with pytest.raises(ConfigError) as caught:
        ensure_data_dir(data_dir)
    assert caught.value.code == "data_dir_too_new"


def test_damaged_marker_is_reported(data_dir: Path) -> None:
    data_dir.mkdir()
    (data_dir / MARKER).write_text("{not json")
    with pytest.raises(ConfigError) as caught:
        ensure_data_dir(data_dir)
    assert caught.value.code == "data_dir_corrupt"
