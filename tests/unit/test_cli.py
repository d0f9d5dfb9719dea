from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def daert(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "daert", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        timeout=120,
        check=False,
    )


def listed_commands(help_text: str) -> dict[str, str]:
    """The rows of the help's Commands panel: name -> its one-line description."""
    panel = help_text.split("─ Commands ", maxsplit=1)[-1]
    rows = re.findall(r"^│ ([a-z][a-z-]*) +(\S.*?) *│$", panel, re.M)
    return dict(rows)


def test_help_lists_every_command_with_what_it_does() -> None:
    import typer

    from daert.cli.commands import app

    done = daert("--help")
    assert done.returncode == 0
    tree = typer.main.get_command(app)
    commands = {n for n, c in getattr(tree, "commands", {}).items() if not c.hidden}
    listed = listed_commands(done.stdout)
    assert set(listed) == commands
    assert all(len(text) > 20 for text in listed.values()), listed
    assert "DAERT_DATA_DIR" in done.stdout


@pytest.mark.parametrize("group", ["models", "kg", "memory", "threads", "cache", "keys"])
def test_each_group_lists_its_sub_commands(group: str) -> None:
    import typer

    from daert.cli.commands import app

    sub = getattr(typer.main.get_command(app), "commands", {})[group]
    done = daert(group, "--help")
    assert done.returncode == 0, done.stderr
    assert set(listed_commands(done.stdout)) == set(getattr(sub, "commands", {}))


def test_bad_setting_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    done = daert("status", env={"DAERT_PORT": "eighty", "DAERT_DATA_DIR": str(tmp_path)})
    assert done.returncode == 2
    assert "config_invalid" in done.stderr and "DAERT_PORT" in done.stderr
    assert "Traceback" not in done.stderr


def test_foreign_data_dir_exits_non_zero_and_keeps_files(tmp_path: Path) -> None:
    (tmp_path / "keep.me").write_text("mine")
    done = daert("--data-dir", str(tmp_path), "up")
    assert done.returncode == 2
    assert "data_dir_foreign" in done.stderr
    assert (tmp_path / "keep.me").read_text() == "mine"


def test_doctor_fails_when_nothing_runs(tmp_path: Path) -> None:
    done = daert("--data-dir", str(tmp_path / "d"), "doctor")
    assert done.returncode == 1
    assert "daert up" in done.stdout


def test_config_masks_secrets(tmp_path: Path) -> None:
    env = {
        "DAERT_DATA_DIR": str(tmp_path),
        "DAERT_REDIS_URL": "redis://:hunter2@10.0.0.9:6379/0",
        "DAERT_API_KEY": "topsecretkey",
    }
    done = daert("config", "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert "hunter2" not in done.stdout and "topsecretkey" not in done.stdout
    assert "10.0.0.9" in done.stdout


@pytest.mark.skipif(shutil.which("python3.11") is None, reason="no Python 3.11 on this machine")
def test_python_311_gets_a_clear_message() -> None:
    done = subprocess.run(
        ["python3.11", "-m", "daert", "status"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "python_too_old" in done.stderr and "3.12" in done.stderr


def test_cypher_params_must_be_an_object(tmp_path: Path) -> None:
    done = daert(
        "--data-dir", str(tmp_path), "kg", "cypher", "MATCH (n) RETURN n", "--params", "[1]"
    )
    assert done.returncode == 2
    assert "JSON object" in done.stderr and "Traceback" not in done.stderr
