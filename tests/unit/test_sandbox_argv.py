"""The sandbox's mount order: an interpreter under /tmp (a checkout there) stays visible inside."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tools.code_exec.bubblewrap import LocalSandbox


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
def test_binds_come_after_the_private_tmp(tmp_path: Path) -> None:
    venv = tmp_path / "checkout" / ".venv"
    venv.mkdir(parents=True)
    assert str(venv).startswith("/tmp/")  # pytest's tmp_path lives under /tmp here
    box = LocalSandbox()
    box.roots = [venv]
    argv = box._argv(tmp_path / "run", tmp_path / "run" / "connection.json")
    private_tmp = argv.index("--tmpfs") + 1
    assert argv[private_tmp] == "/tmp"
    assert argv.index(str(venv)) > private_tmp
    assert argv.index(str(tmp_path / "run")) > private_tmp
