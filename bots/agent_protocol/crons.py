"""Crons as the Agent-Protocol stores them: a cron expression in a time zone, an assistant, a
run payload, an optional thread. Stored and listed here; they fire through the scheduler."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from bots.errors import NotFound
from core.errors import InputError
from core.migrations import migrate

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

CRON_MIGRATIONS = [
    """CREATE TABLE daert_crons (
        cron_id text PRIMARY KEY,
        assistant_id text NOT NULL,
        thread_id text,
        user_id text NOT NULL,
        schedule text NOT NULL,
        timezone text NOT NULL DEFAULT 'UTC',
        payload jsonb NOT NULL DEFAULT '{}',
        metadata jsonb NOT NULL DEFAULT '{}',
        end_time timestamptz,
        enabled boolean NOT NULL DEFAULT true,
        on_run_completed text,
        next_run_date timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    )""",
    "CREATE INDEX daert_crons_user ON daert_crons (user_id, created_at DESC)",
    "CREATE INDEX daert_crons_due ON daert_crons (next_run_date) WHERE enabled",
]
COLUMNS = (
    "cron_id, assistant_id, thread_id, user_id, schedule, timezone, payload, metadata, end_time, "
    "enabled, on_run_completed, next_run_date, created_at, updated_at"
)


class CronNotFound(NotFound):
    code = "cron_not_found"

    def __init__(self, cron_id: str) -> None:
        super().__init__(f"no cron {cron_id[:64]!r}", hint="list them: POST /runs/crons/search")


def check_zone(name: str | None) -> str:
    zone = name or "UTC"
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise InputError(
            f"unknown time zone {zone[:64]!r}",
            hint="use an IANA name, e.g. Europe/Madrid or America/New_York",
            code="invalid_timezone",
        ) from err
    return zone


def next_fire(schedule: str, zone: str, after: datetime | None = None) -> datetime:
    """The next time `schedule` fires in `zone`, as an aware UTC datetime (400 if invalid)."""
    from croniter import croniter  # noqa: PLC0415

    if len(schedule.split()) != 5 or not croniter.is_valid(schedule):
        raise InputError(
            f"invalid cron expression {schedule[:64]!r}",
            hint="use 5 fields: minute hour day-of-month month day-of-week, e.g. '0 8 * * 1-5'",
            code="invalid_schedule",
        )
    start = (after or datetime.now(UTC)).astimezone(ZoneInfo(zone))
    fire: datetime = croniter(schedule, start).get_next(datetime)
    return fire.astimezone(UTC)


@dataclass(frozen=True)
class CronRecord:
    cron_id: str
    assistant_id: str
    thread_id: str | None
    user_id: str
    schedule: str
    timezone: str
    payload: dict[str, Any]
    metadata: dict[str, Any]
    end_time: datetime | None
    enabled: bool
    on_run_completed: str | None
    next_run_date: datetime | None
    created_at: datetime
    updated_at: datetime

    def to_api(self) -> dict[str, Any]:
        return {
            "cron_id": self.cron_id,
            "assistant_id": self.assistant_id,
            "thread_id": self.thread_id,
            "user_id": self.user_id,
            "schedule": self.schedule,
            "timezone": self.timezone,
            "payload": self.payload,
            "metadata": self.metadata,
            "end_time": self.end_time.isoformat() if self.end_time else None,
            "enabled": self.enabled,
            "on_run_completed": self.on_run_completed,
            "next_run_date": self.next_run_date.isoformat() if self.next_run_date else None,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


class CronStore:
    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool

    async def setup(self) -> None:
        async with self.pool.connection() as conn:
            await migrate(conn, "crons", CRON_MIGRATIONS)

    async def create(
        self,
        user_id: str,
        *,
        assistant_id: str,
        schedule: str,
        timezone: str | None,
        payload: dict[str, Any],
        metadata: dict[str, Any],
        thread_id: str | None = None,
        end_time: datetime | None = None,
        enabled: bool = True,
        on_run_completed: str | None = None,
    ) -> CronRecord:
        zone = check_zone(timezone)
        fire = next_fire(schedule, zone)
        async with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                "INSERT INTO daert_crons (cron_id, assistant_id, thread_id, user_id, schedule, "
                "timezone, payload, metadata, end_time, enabled, on_run_completed, next_run_date) "
                f"VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING {COLUMNS}",
                (str(uuid.uuid4()), assistant_id, thread_id, user_id, schedule, zone,
                 Jsonb(payload), Jsonb(metadata), end_time, enabled, on_run_completed, fire),
            )  # fmt: skip
            row = await cur.fetchone()
        if row is None:  # pragma: no cover - RETURNING always returns the row
            raise RuntimeError("the database returned no row")
        return CronRecord(**row)

    async def get(self, cron_id: str, user_id: str) -> CronRecord:
        async with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                f"SELECT {COLUMNS} FROM daert_crons WHERE cron_id = %s AND user_id = %s",
                (cron_id, user_id),
            )
            row = await cur.fetchone()
        if row is None:
            raise CronNotFound(cron_id)
        return CronRecord(**row)

    async def update(self, cron_id: str, user_id: str, changes: dict[str, Any]) -> CronRecord:
        current = await self.get(cron_id, user_id)
        schedule = changes.get("schedule") or current.schedule
        zone = check_zone(changes.get("timezone") or current.timezone)
        payload = {**current.payload, **(changes.get("payload") or {})}
        end_time = changes.get("end_time", current.end_time)
        enabled = current.enabled if changes.get("enabled") is None else bool(changes["enabled"])
        async with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                "UPDATE daert_crons SET schedule = %s, timezone = %s, payload = %s, "
                "metadata = metadata || %s, end_time = %s, enabled = %s, "
                "on_run_completed = coalesce(%s, on_run_completed), next_run_date = %s, "
                f"updated_at = now() WHERE cron_id = %s RETURNING {COLUMNS}",
                (schedule, zone, Jsonb(payload), Jsonb(changes.get("metadata") or {}), end_time,
                 enabled, changes.get("on_run_completed"), next_fire(schedule, zone), cron_id),
            )  # fmt: skip
            row = await cur.fetchone()
        if row is None:  # pragma: no cover - RETURNING always returns the row
            raise RuntimeError("the database returned no row")
        return CronRecord(**row)

    async def delete(self, cron_id: str, user_id: str) -> None:
        await self.get(cron_id, user_id)
        async with self.pool.connection() as conn:
            await conn.execute("DELETE FROM daert_crons WHERE cron_id = %s", (cron_id,))

    async def search(
        self,
        user_id: str,
        *,
        assistant_id: str | None = None,
        thread_id: str | None = None,
        enabled: bool | None = None,
        limit: int = 10,
        offset: int = 0,
    ) -> list[CronRecord]:
        async with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                f"SELECT {COLUMNS} FROM daert_crons WHERE user_id = %(u)s "
                "AND (%(a)s::text IS NULL OR assistant_id = %(a)s) "
                "AND (%(t)s::text IS NULL OR thread_id = %(t)s) "
                "AND (%(e)s::boolean IS NULL OR enabled = %(e)s) "
                "ORDER BY created_at DESC LIMIT %(l)s OFFSET %(o)s",
                {"u": user_id, "a": assistant_id, "t": thread_id, "e": enabled,
                 "l": limit, "o": offset},
            )  # fmt: skip
            rows = await cur.fetchall()
        return [CronRecord(**r) for r in rows]
