"""Short helper commands and system accounts, shared by the embedded services and the sandbox."""

from __future__ import annotations

import pwd
import subprocess

from core.errors import ServiceError


def run_checked(
    argv: list[str], *, what: str, user: str | None = None, timeout: float = 120
) -> str:
    """Run a short helper command; a failure becomes a ServiceError with its output."""
    # Drop root's groups too: with gid 0 left, group permission bits (not "other") would apply.
    group = pwd.getpwnam(user).pw_gid if user is not None else None
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            user=user,
            group=group,
            extra_groups=[] if user is not None else None,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise ServiceError(f"{what} failed: {err}", code="service_setup_failed") from err
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()
        raise ServiceError(
            f"{what} failed (exit {done.returncode}):\n{output[-2000:]}",
            hint="the output above says why; nothing in the data directory was removed",
            code="service_setup_failed",
        )
    return done.stdout.strip()


def system_user(name: str) -> pwd.struct_passwd:
    """An unprivileged system account, created on first use (needs root)."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        run_checked(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            what=f"creating the system user {name!r}",
        )
        return pwd.getpwnam(name)
