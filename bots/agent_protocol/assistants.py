"""Assistants: one per served graph (owned by nobody, visible to all), plus configurations of
them that users create (visible to their owner only)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from bots.errors import Conflict, Forbidden, NotFound
from core.migrations import migrate

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

ASSISTANT_MIGRATIONS = [
    """CREATE TABLE daert_assistants (
        assistant_id text PRIMARY KEY,
        graph_id text NOT NULL,
        name text NOT NULL,
        description text,
        config jsonb NOT NULL DEFAULT '{}',
        context jsonb NOT NULL DEFAULT '{}',
        metadata jsonb NOT NULL DEFAULT '{}',
        version integer NOT NULL DEFAULT 1,
        user_id text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    )""",
    "CREATE INDEX daert_assistants_user ON daert_assistants (user_id, created_at DESC)",
]
COLUMNS = (
    "assistant_id, graph_id, name, description, config, context, metadata, version, user_id, "
    "created_at, updated_at"
)
NAMESPACE = uuid.UUID("6f1c1f3e-5b0a-4f5e-9a53-2f4b8f1d0a11")


def system_id(graph_id: str) -> str:
    """The fixed id of a graph's own assistant (the same on every server)."""
    return str(uuid.uuid5(NAMESPACE, graph_id))


class AssistantNotFound(NotFound):
    code = "assistant_not_found"

    def __init__(self, assistant_id: str) -> None:
        super().__init__(
            f"no assistant {assistant_id[:64]!r}",
            hint="list them with POST /assistants/search; a graph's name works as an id",
        )


@dataclass(frozen=True)
class AssistantRecord:
    assistant_id: str
    graph_id: str
    name: str
    description: str | None
    config: dict[str, Any]
    context: dict[str, Any]
    metadata: dict[str, Any]
    version: int
    user_id: str | None
    created_at: datetime
    updated_at: datetime

    def to_api(self) -> dict[str, Any]:
        return {
            "assistant_id": self.assistant_id,
            "graph_id": self.graph_id,
            "name": self.name,
            "description": self.description,
            "config": self.config,
            "context": self.context,
            "metadata": self.metadata,
            "version": self.version,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


class AssistantStore:
    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool
        self._system: dict[str, AssistantRecord] = {}  # by id and by graph name: immutable

    async def setup(self, graphs: dict[str, str]) -> None:
        """Schema, and one system assistant per served graph (`graph_id -> description`)."""
        async with self.pool.connection() as conn:
            await migrate(conn, "assistants", ASSISTANT_MIGRATIONS)
            for graph_id, description in graphs.items():
                await conn.execute(
                    "INSERT INTO daert_assistants (assistant_id, graph_id, name, description, "
                    "metadata) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (assistant_id) DO UPDATE "
                    "SET description = EXCLUDED.description",
                    (system_id(graph_id), graph_id, graph_id, description,
                     Jsonb({"created_by": "system"})),
                )  # fmt: skip
        for graph_id in graphs:
            self._system.pop(graph_id, None)
            record = await self.get(graph_id, "")
            self._system[graph_id] = self._system[record.assistant_id] = record

    async def get(self, assistant_id: str, user_id: str) -> AssistantRecord:
        """By id, or by graph name (its system assistant); others' assistants are 404."""
        if assistant_id in self._system:
            return self._system[assistant_id]
        async with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                f"SELECT {COLUMNS} FROM daert_assistants WHERE assistant_id IN (%s, %s) "
                "AND (user_id IS NULL OR user_id = %s)",
                (assistant_id, system_id(assistant_id), user_id),
            )
            row = await cur.fetchone()
        if row is None:
            raise AssistantNotFound(assistant_id)
        return AssistantRecord(**row)

    async def create(
        self,
        user_id: str,
        *,
        graph_id: str,
        assistant_id: str | None,
        name: str | None,
        description: str | None,
        config: dict[str, Any],
        context: dict[str, Any],
        metadata: dict[str, Any],
        if_exists: str = "raise",
    ) -> AssistantRecord:
        new = assistant_id or str(uuid.uuid4())
        async with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                "INSERT INTO daert_assistants (assistant_id, graph_id, name, description, config, "
                "context, metadata, user_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                f"ON CONFLICT (assistant_id) DO NOTHING RETURNING {COLUMNS}",
                (new, graph_id, name or "Untitled", description, Jsonb(config), Jsonb(context),
                 Jsonb(metadata), user_id),
            )  # fmt: skip
            row = await cur.fetchone()
        if row is None:
            if if_exists == "do_nothing":
                return await self.get(new, user_id)
            raise Conflict(
                f"assistant {new!r} already exists",
                hint="pick another assistant_id, or send if_exists='do_nothing'",
                code="assistant_exists",
            )
        return AssistantRecord(**row)

    async def update(
        self, assistant_id: str, user_id: str, changes: dict[str, Any]
    ) -> AssistantRecord:
        current = await self.get(assistant_id, user_id)
        if current.user_id is None:
            raise Forbidden(
                "a graph's own assistant cannot be changed",
                hint="create a configuration of it instead: POST /assistants",
                code="assistant_read_only",
            )
        fields = {
            "graph_id": changes.get("graph_id") or current.graph_id,
            "name": changes.get("name") or current.name,
            "description": changes.get("description", current.description),
            "config": Jsonb(changes["config"] if changes.get("config") is not None
                            else current.config),
            "context": Jsonb(changes["context"] if changes.get("context") is not None
                             else current.context),
            "metadata": Jsonb({**current.metadata, **(changes.get("metadata") or {})}),
        }  # fmt: skip
        async with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                "UPDATE daert_assistants SET graph_id = %(graph_id)s, name = %(name)s, "
                "description = %(description)s, config = %(config)s, context = %(context)s, "
                "metadata = %(metadata)s, version = version + 1, updated_at = now() "
                f"WHERE assistant_id = %(id)s RETURNING {COLUMNS}",
                {**fields, "id": current.assistant_id},
            )
            row = await cur.fetchone()
        if row is None:  # pragma: no cover - RETURNING always returns the row
            raise RuntimeError("the database returned no row")
        return AssistantRecord(**row)

    async def delete(self, assistant_id: str, user_id: str) -> None:
        current = await self.get(assistant_id, user_id)
        if current.user_id is None:
            raise Forbidden(
                "a graph's own assistant cannot be deleted",
                hint="delete the configurations you created instead",
                code="assistant_read_only",
            )
        async with self.pool.connection() as conn:
            await conn.execute(
                "DELETE FROM daert_assistants WHERE assistant_id = %s", (current.assistant_id,)
            )

    async def search(
        self,
        user_id: str,
        *,
        graph_id: str | None = None,
        name: str | None = None,
        metadata: dict[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
    ) -> list[AssistantRecord]:
        async with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                f"SELECT {COLUMNS} FROM daert_assistants "
                "WHERE (user_id IS NULL OR user_id = %(u)s) "
                "AND (%(g)s::text IS NULL OR graph_id = %(g)s) "
                "AND (%(n)s::text IS NULL OR name ILIKE '%%' || %(n)s || '%%') "
                "AND metadata @> %(m)s ORDER BY user_id NULLS FIRST, created_at DESC "
                "LIMIT %(l)s OFFSET %(o)s",
                {"u": user_id, "g": graph_id, "n": name, "m": Jsonb(metadata or {}),
                 "l": limit, "o": offset},
            )  # fmt: skip
            rows = await cur.fetchall()
        return [AssistantRecord(**r) for r in rows]
