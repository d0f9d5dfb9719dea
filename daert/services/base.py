"""The port every embedded service implements, and helpers they share."""

from __future__ import annotations

import importlib.util
import os
import secrets
from pathlib import Path
from typing import Protocol

from core.errors import ServiceError
from core.system import system_user
from daert.services.process import LaunchSpec

SERVICE_USER = "daert"


class EmbeddedService(Protocol):
    """A server daert starts itself on loopback when no external URL is configured."""

    name: str
    title: str
    stop_signal: int

    def prepare(self) -> None:
        """Create or validate on-disk data; raise ServiceError on foreign or damaged data."""

    def launch(self, port: int) -> LaunchSpec:
        """The command that runs the server in the foreground on `port`."""

    def url(self, port: int) -> str:
        """The client URL (with credentials) for a server on `port`."""

    def ready(self, port: int) -> bool:
        """True once the server answers a real request."""

    def finalize(self, port: int) -> None:
        """One-time setup that needs the running server (extensions, databases)."""

    def version(self) -> str:
        """The server's version string."""

    def find_running(self) -> tuple[int, int] | None:
        """(pid, port) of a server already running on our data but missing from the state."""


def package_dir(module: str, extra: str = "embedded") -> Path:
    """Directory of an installed package, found without importing it (no I/O at import)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ServiceError(
            f"the Python package {module!r} is not installed",
            hint=f"install the embedded services with `make run` or `pip install 'daert[{extra}]'`",
            code="embedded_package_missing",
        )
    return Path(next(iter(spec.submodule_search_locations)))


def service_user() -> str | None:
    """Servers that refuse root (PostgreSQL) run as an unprivileged `daert` system user."""
    if os.geteuid() != 0:
        return None
    return system_user(SERVICE_USER).pw_name


def allow_traversal(path: Path) -> None:
    """Let the service user reach `path`: add search (x, not read) permission to its ancestors."""
    for parent in path.absolute().parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


def read_or_create_secret(path: Path) -> str:
    """A password kept in a 0600 file in the data dir, made once."""
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value
