"""The data directory: made on first use, checked on every start, never wiped by daert."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from core.errors import ConfigError
from daert import __version__

MARKER = ".daert-data.json"
FORMAT = 1


def ensure_data_dir(path: Path) -> None:
    """Create `path` if needed and make sure it is a writable daert data dir, not someone else's."""
    if path.exists() and not path.is_dir():
        raise ConfigError(
            f"data dir {path} exists but is not a directory",
            hint="set DAERT_DATA_DIR to a directory path",
            code="data_dir_invalid",
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as err:
        raise ConfigError(
            f"data dir {path} is not writable: {err.strerror or err}",
            hint="fix its permissions or set DAERT_DATA_DIR to a directory you can write",
            code="data_dir_not_writable",
        ) from None
    marker = path / MARKER
    if marker.exists():
        try:
            data = json.loads(marker.read_text())
            fmt = int(data["format"])
        except (ValueError, KeyError, TypeError, OSError):
            raise ConfigError(
                f"{marker} is damaged",
                hint="restore it from a backup, or point DAERT_DATA_DIR at another directory",
                code="data_dir_corrupt",
            ) from None
        if fmt > FORMAT:
            raise ConfigError(
                f"data dir {path} was written by a newer daert "
                f"(format {fmt}, this one reads {FORMAT})",
                hint="upgrade daert, or point DAERT_DATA_DIR at another directory",
                code="data_dir_too_new",
            )
        return
    leftovers = [p.name for p in path.iterdir() if not p.name.startswith(".write-test-")]
    if leftovers:
        raise ConfigError(
            f"data dir {path} is not empty and was not made by daert "
            f"(it holds {', '.join(sorted(leftovers)[:5])})",
            hint="point DAERT_DATA_DIR at an empty or a daert data directory; "
            "daert will not write into a foreign one",
            code="data_dir_foreign",
        )
    tmp = path / f"{MARKER}.tmp{os.getpid()}"
    tmp.write_text(json.dumps({"format": FORMAT, "created_by": f"daert {__version__}"}))
    tmp.replace(marker)
