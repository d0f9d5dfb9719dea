"""The CLI latency benchmark's helpers: counting, summarizing, and reading a streamed answer."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from eval.bench.cli import (
    Sample,
    Summary,
    count_upward_imports,
    exits_text,
    ratio,
    rows,
    summarize,
    time_command,
    time_streamed,
    tracked_files,
)


def test_upward_imports_counts_only_daert_imports_in_lower_layers(tmp_path: Path) -> None:
    (tmp_path / "agents" / "sub").mkdir(parents=True)
    (tmp_path / "agents" / "a.py").write_text(
        "from daert.settings import Settings\n"
        "    import daert\n"  # indented: inside a function
        "import daert.cli as cli\n"
        "# from daert import x\n"  # a comment
        "from daertx import y\n"  # another package
        "from core.errors import DaertError\n"
        'text = "from daert import z"\n'
    )
    (tmp_path / "agents" / "sub" / "b.py").write_text("from daert import runtime\n")
    (tmp_path / "agents" / "notes.md").write_text("from daert import docs\n")
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "c.py").write_text("import os\n")
    for shell in ("daert", "bots"):  # the shell itself and a layer above: not counted
        (tmp_path / shell).mkdir()
        (tmp_path / shell / "d.py").write_text("from daert import cli\n")

    assert count_upward_imports(tmp_path) == {"agents": 4, "core": 0}


def test_tracked_files_counts_the_index_not_the_tree(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "a.py").write_text("")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "b name.txt").write_text("")
    (tmp_path / "untracked.py").write_text("")
    subprocess.run(["git", "-C", str(tmp_path), "add", "a.py", "dir"], check=True)

    assert tracked_files(tmp_path) == 2
    assert tracked_files(tmp_path / "dir" / "nowhere") is None


def test_summaries_skip_missing_values_and_keep_every_exit() -> None:
    assert summarize([3.0, 1.0, 2.0, 10.0], [0, 0, 1, 0]) == Summary(2.5, 1.0, (0, 0, 1, 0))
    assert summarize([None, 4.0, None], [1, 0, None]) == Summary(4.0, 4.0, (1, 0, None))
    assert summarize([None], [None]) == Summary(None, None, (None,))
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(None, 2.0) is None
    assert ratio(1.0, 0.0) is None


def test_ask_gives_a_first_token_row_and_a_total_row() -> None:
    found = rows(
        {
            "status": [Sample(1.0, 0), Sample(3.0, 0)],
            "ask": [Sample(5.0, 0, first_output=2.0), Sample(9.0, 0, first_output=4.0)],
        }
    )
    assert found == {
        "status": Summary(2.0, 1.0, (0, 0)),
        "ask: first token": Summary(3.0, 2.0, (0, 0)),
        "ask: total": Summary(7.0, 5.0, (0, 0)),
    }


def test_exit_text_shows_every_failure_with_its_count() -> None:
    assert exits_text((0, 0, 0)) == "0"
    assert exits_text((0, 1, 1, None)) == "0 x1, 1 x2, timeout x1"
    assert Summary(1.0, 1.0, (0, 2)).failed
    assert not Summary(1.0, 1.0, (0, 0)).failed


def _script(tmp_path: Path, body: str) -> list[str]:
    path = tmp_path / "fake.py"
    path.write_text("import sys, time\n" + body)
    return [sys.executable, str(path)]


def test_first_output_is_the_first_visible_byte_not_whitespace_or_stderr(tmp_path: Path) -> None:
    silent = _script(
        tmp_path,
        "sys.stdout.write(' \\n\\t'); sys.stdout.flush()\n"
        "sys.stderr.write('route: chat\\n' * 20000); sys.stderr.flush()\n",
    )
    found = time_streamed(silent, tmp_path, timeout=60)
    assert found.returncode == 0
    assert found.first_output is None

    answering = _script(
        tmp_path, "sys.stdout.write('\\n'); sys.stdout.flush()\nprint('Hello!')\nsys.exit(3)\n"
    )
    found = time_streamed(answering, tmp_path, timeout=60)
    assert found.returncode == 3
    assert found.first_output is not None
    assert found.first_output <= found.seconds


def test_a_hung_process_is_killed_and_its_stderr_kept(tmp_path: Path) -> None:
    hung = _script(
        tmp_path,
        "print('partial', flush=True)\nprint('model is slow', file=sys.stderr, flush=True)\n"
        "time.sleep(600)\n",
    )
    streamed = time_streamed(hung, tmp_path, timeout=1.5)
    assert streamed.returncode is None
    assert streamed.first_output is not None
    assert "model is slow" in streamed.stderr_tail

    plain = time_command(hung, tmp_path, timeout=1.5)
    assert plain.returncode is None
    assert "model is slow" in plain.stderr_tail
