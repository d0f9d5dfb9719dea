"""Aegra (`aegra-cli`): an open Agent-Protocol server on PostgreSQL.

    DATABASE_URL=postgresql://.../aegra aegra serve --host 127.0.0.1 --port P -c aegra.json

run in a project dir whose aegra.json has the same shape as a langgraph.json
(`{"dependencies": ["."], "graphs": {"trivial": "./trivial_graph.py:graph"}}`). Aegra runs its
Alembic migrations at startup (RUN_MIGRATIONS_ON_STARTUP, on by default) and registers a
default assistant per graph. It gets a database of its own on the PostgreSQL the bench is
given (`CREATE DATABASE aegra` when missing), so its tables never mix with daert's. Without
Redis (REDIS_BROKER_ENABLED=false, its default) runs execute as in-process asyncio tasks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from eval.bench.peers import Peer, PeerError

SPEC = ["aegra-cli"]
DATABASE = "aegra"


@dataclass
class Aegra(Peer):
    """`aegra serve` on the trivial graph, with its own database."""

    database_url: str = ""

    def command(self, port: int) -> list[str]:
        return [
            str(self.bin / "aegra"),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "-c",
            self.config_name,
        ]

    def extra_env(self) -> dict[str, str]:
        return {
            "DATABASE_URL": self.database_url,
            "AEGRA_CONFIG": self.config_name,
            "AUTH_TYPE": "noop",
            "REDIS_BROKER_ENABLED": "false",
        }


def with_database(url: str, database: str) -> str:
    """The same server URL naming another database."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


def ensure_database(postgres_url: str, database: str = DATABASE) -> str:
    """Create `database` on the server of `postgres_url` when missing; return its URL."""
    try:
        with psycopg.connect(postgres_url, autocommit=True, connect_timeout=10) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
            ).fetchone()
            if exists is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    except psycopg.Error as exc:
        raise PeerError(f"PostgreSQL for Aegra ({database}): {exc}") from exc
    return with_database(postgres_url, database)


def make(
    workdir: Path,
    uv: list[str],
    python: str,
    database_url: str,
    spec: list[str] | None = None,
) -> Aegra:
    return Aegra(
        name="aegra",
        title="Aegra",
        spec=spec or SPEC,
        config_name="aegra.json",
        home=workdir / "peers" / "aegra",
        uv=uv,
        python=python,
        database_url=database_url,
    )
