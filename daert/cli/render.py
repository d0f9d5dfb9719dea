"""Tables and messages the CLI prints."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from daert.errors import DaertError
from daert.health import ComponentHealth, mask_url
from daert.services.state import ServiceRecord


def print_error(console: Console, error: DaertError) -> None:
    console.print(
        f"[bold red]error[/] {escape(f'[{error.code}]')}: {escape(error.message)}",
        highlight=False,
        soft_wrap=True,
    )
    if error.hint:
        console.print(f"  [bold]hint:[/] {escape(error.hint)}", highlight=False, soft_wrap=True)


def _uptime(started: float) -> str:
    seconds = int(time.time() - started)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def records_table(records: Mapping[str, ServiceRecord | None], data_dir: Path) -> Table:
    table = Table(title=f"embedded services — data in {data_dir}", title_justify="left")
    for column in ("service", "state", "pid", "url", "up for", "version"):
        table.add_column(column)
    for name, record in records.items():
        if record is None:
            table.add_row(name, "[yellow]stopped[/]", "", "", "", "")
        else:
            table.add_row(
                name,
                "[green]running[/]" + ("" if record.detached else " (owned by serve)"),
                str(record.pid),
                mask_url(record.url) or "",
                _uptime(record.started_at),
                record.version,
            )
    if not records:
        table.add_row("(none)", "every service is external (URLs configured)", "", "", "", "")
    return table


def doctor_table(results: Sequence[ComponentHealth]) -> Table:
    table = Table(title="daert doctor", title_justify="left")
    for column in ("component", "mode", "health", "version", "latency", "details / fix"):
        table.add_column(column, overflow="fold")
    for r in results:
        if r.healthy:
            health = "[green]ok[/]"
        else:
            health = "[red]DOWN[/]" if r.required else "[yellow]down (optional)[/]"
        details = escape(", ".join(f"{k}={v}" for k, v in r.details.items()))
        if r.url:
            details = f"{escape(r.url)} {details}".strip()
        if not r.healthy:
            details = f"{escape(r.error or '')}\n[bold]fix:[/] {escape(r.hint or '')}"
        latency = f"{r.latency_ms:.1f} ms" if r.latency_ms is not None else ""
        table.add_row(r.title, r.mode, health, r.version or "", latency, details)
    return table
