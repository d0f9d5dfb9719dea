"""`daert exec` as a person runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def test_exec_files_share_a_session_and_images_become_files(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(
        "import matplotlib.pyplot as plt\nx = 6\nplt.plot([1, 2])\nplt.show()"
    )
    (tmp_path / "b.py").write_text("print('x is', x)\nx * 7")
    done = subprocess.run(
        [sys.executable, "-m", "daert", "exec", str(tmp_path / "a.py"), str(tmp_path / "b.py"),
         "--out", str(tmp_path / "img"), "--json"],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert [r["result"] for r in data["results"]] == [None, "42"]
    assert data["results"][1]["stdout"] == "x is 6\n"
    [image] = data["images"]
    assert Path(image).read_bytes().startswith(b"\x89PNG")


def test_exec_reports_errors_with_exit_code_1() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "daert", "exec", "-"],
        input="open('/etc/shadow')", capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "FileNotFoundError" in done.stderr
