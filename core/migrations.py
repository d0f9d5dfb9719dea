"""Schema migrations: per component, a plain list of SQL whose position is the version."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

LEDGER = """
CREATE TABLE IF NOT EXISTS daert_migrations (
    component text PRIMARY KEY,
    version integer NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


async def migrate(conn: psycopg.AsyncConnection, component: str, steps: Sequence[str]) -> int:
    """Apply the steps of `component` not applied yet, in one transaction; return the version."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('daert_migrations'))")
        await conn.execute(LEDGER)
        row = await (
            await conn.execute(
                "SELECT version FROM daert_migrations WHERE component = %s", (component,)
            )
        ).fetchone()
        current = int(row[0]) if row else 0
        if current > len(steps):
            raise RuntimeError(
                f"the database has {component} schema version {current}, this daert knows "
                f"{len(steps)}: upgrade daert"
            )
        for sql in steps[current:]:
            await conn.execute(sql)
        await conn.execute(
            "INSERT INTO daert_migrations (component, version) VALUES (%s, %s) "
            "ON CONFLICT (component) DO UPDATE SET version = EXCLUDED.version, applied_at = now()",
            (component, len(steps)),
        )
    return len(steps)
