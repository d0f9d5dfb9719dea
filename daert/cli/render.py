"""Tables and messages the CLI prints."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from core.errors import DaertError
from daert.health import ComponentHealth, mask_url
from daert.services.state import ServiceRecord, Supervision


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


def _clock(at: float) -> str:
    return datetime.fromtimestamp(at).strftime("%H:%M:%S")


def _supervised(seen: Supervision | None) -> str:
    """The watcher's word on a service, for the table's last column."""
    if seen is None:
        return ""
    last = seen.last_exit
    ended = f"{last.how} at {_clock(last.at)}" if last else "died"
    if seen.state == "running":
        return escape(f"restarted {seen.restarts}x; last: {ended}") if seen.restarts else ""
    if seen.state == "restarting":
        when = f" at {_clock(seen.next_attempt_at)}" if seen.next_attempt_at else ""
        return f"[yellow]{escape(f'{ended}; restarting{when}')}[/]"
    return f"[red]{escape(seen.message)}[/]\n[bold]fix:[/] {escape(seen.hint)}"


def records_table(
    records: Mapping[str, ServiceRecord | None],
    data_dir: Path,
    supervision: Mapping[str, Supervision] | None = None,
) -> Table:
    watched = supervision or {}
    table = Table(title=f"embedded services — data in {data_dir}", title_justify="left")
    for column in ("service", "state", "pid", "url", "up for", "version", "crashes"):
        table.add_column(column, overflow="fold")
    for name, record in records.items():
        seen = watched.get(name)
        if record is None:
            state = {
                "restarting": "[yellow]restarting[/]",
                "failed": "[red]failed[/]",
                "crashed": "[red]crashed[/]",
            }.get(seen.state if seen else "", "[yellow]stopped[/]")
            table.add_row(name, state, "", "", "", "", _supervised(seen))
        else:
            table.add_row(
                name,
                "[green]running[/]" + ("" if record.detached else " (owned by serve)"),
                str(record.pid),
                mask_url(record.url) or "",
                _uptime(record.started_at),
                record.version,
                _supervised(seen),
            )
    if not records:
        table.add_row("(none)", "every service is external (URLs configured)", "", "", "", "", "")
    return table


def crash_reports(supervision: Mapping[str, Supervision]) -> list[str]:
    """The last log lines of each service that is down after a crash, to print under the table."""
    reports = []
    for name, seen in supervision.items():
        last = seen.last_exit
        if seen.state == "running" or last is None:
            continue
        reports.append(
            f"[bold]{escape(name)}[/] {escape(last.how)} (pid {last.pid}); last lines of "
            f"{escape(seen.log_path)}:\n{escape(last.log_tail)}"
        )
    return reports


def status_json(
    records: Mapping[str, ServiceRecord | None], supervision: Mapping[str, Supervision]
) -> dict[str, dict[str, Any] | None]:
    """`daert status --json`: per service, null when it is stopped and nothing is known of it."""
    data: dict[str, dict[str, Any] | None] = {}
    for name, record in records.items():
        seen = supervision.get(name)
        entry: dict[str, Any] | None = None
        if record is not None:
            entry = {**record.__dict__, "url": mask_url(record.url), "state": "running"}
        elif seen is not None:
            entry = {"state": seen.state}
        if entry is not None:
            entry["supervision"] = seen.to_dict() if seen is not None else None
        data[name] = entry
    return data


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
