"""The sandbox's bubblewrap command line: mount order, traversable parents, dropping root."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.code_exec.bubblewrap import LocalSandbox, _become, _namespaces, _traversable_parents

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")


@pytest.fixture
def under_tmp() -> Iterator[Path]:
    """A directory under /tmp itself, whatever TMPDIR says."""
    path = Path(tempfile.mkdtemp(dir="/tmp"))
    yield path
    shutil.rmtree(path)


def test_binds_come_after_the_private_tmp(under_tmp: Path) -> None:
    venv = under_tmp / "checkout" / ".venv"
    venv.mkdir(parents=True)
    box = LocalSandbox()
    box.roots = [venv]
    argv = box._argv(under_tmp / "run", under_tmp / "run" / "connection.json", None)
    private_tmp = argv.index("--tmpfs") + 1
    assert argv[private_tmp] == "/tmp"
    assert argv.index(str(venv)) > private_tmp
    assert argv.index(str(under_tmp / "run")) > private_tmp


def test_parents_of_binds_are_made_traversable_inside_only() -> None:
    binds = [Path("/usr"), Path("/root/.pyenv/versions/3.12.1"), Path("/root/.pyenv/versions/x")]
    argv = _traversable_parents(binds)
    made = [argv[i + 3] for i in range(0, len(argv), 4)]
    assert made == ["/root", "/root/.pyenv", "/root/.pyenv/versions"]  # each once, top first
    assert argv[:3] == ["--perms", "0755", "--dir"]
    assert _traversable_parents([Path("/tmp/x/.venv")]) == ["--perms", "0755", "--dir", "/tmp/x"]


def test_root_binds_without_a_user_namespace_then_drops_to_the_sandbox_user() -> None:
    unprivileged = _namespaces(None)
    assert "--unshare-all" in unprivileged
    assert "--cap-add" not in unprivileged
    assert _become(None) == []
    as_root = _namespaces((990, 990))
    assert "--unshare-all" not in as_root  # a user namespace would map the sandbox uid to root
    assert {"--unshare-net", "--unshare-pid", "--unshare-ipc"} <= set(as_root)
    if shutil.which("setpriv"):
        become = _become((990, 991))
        assert become[1:3] == ["--reuid=990", "--regid=991"]
        assert {"--clear-groups", "--no-new-privs", "--bounding-set=-all"} <= set(become)
        assert become[-1] == "--"
