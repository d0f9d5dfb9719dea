"""CLI commands: `up`, `down`, `status`, `doctor`, `serve`, `config`.

Later features add their own sub-command groups (`models`, `ingest`, ...) to `app`.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from daert import __version__
from daert.cli.context import Context, JsonFlag, context_of
from daert.cli.failures import run_guarded
from daert.cli.render import crash_reports, doctor_table, records_table, status_json
from daert.health import apply_supervision, mask_url, probe
from daert.services.plan import build_supervisor, endpoints
from daert.targets import probe_targets

app = typer.Typer(
    name="daert",
    help=(
        "daert — a self-hosted agentic assistant server.\n\n"
        "With no URLs configured it runs everything embedded on this machine: PostgreSQL + "
        "pgvector, Redis 8 + FalkorDB and a local llama.cpp model, with data under "
        "DAERT_DATA_DIR (default ~/.local/share/daert).\n\n"
        "Typical use:  daert up  →  daert doctor  →  daert serve  →  daert down"
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
out = Console()
err = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        out.print(f"daert {__version__}")
        raise typer.Exit


@app.callback()
def _global(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="TOML config file (default: $DAERT_CONFIG, ./daert.toml)."
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir", help="Where embedded services keep data \\[env: DAERT_DATA_DIR]."
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    ctx.obj = Context(config=config, overrides={"data_dir": data_dir})


@app.command()
def up(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Start the embedded services in the background and print where each one is.

    Services that already run are reused; a second `daert up` changes nothing. Services with a
    configured URL (DAERT_POSTGRES_URL, DAERT_REDIS_URL, DAERT_MODEL_URL) are not started.
    """
    settings = context_of(ctx).settings()
    supervisor = build_supervisor(settings)
    records = supervisor.up(detached=True, progress=lambda m: err.print(f"[dim]{m}[/]"))
    if as_json:
        out.print_json(data={n: {**r.__dict__, "url": mask_url(r.url)} for n, r in records.items()})
        return
    out.print(records_table(records, settings.data_dir))
    out.print("Next: [bold]daert doctor[/] to check them, [bold]daert serve[/] to start the API.")


@app.command()
def down(ctx: typer.Context) -> None:
    """Stop every embedded service of this data dir (data is kept)."""
    supervisor = build_supervisor(context_of(ctx).settings())
    stopped = supervisor.down(progress=lambda m: err.print(f"[dim]{m}[/]"))
    out.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@app.command()
def status(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Show which embedded services run, with pid, port and URL (passwords masked).

    While `daert serve` watches them, also how each one last crashed, how often it was
    restarted, and whether daert gave up on it, with the last lines of its log and the fix.
    """
    settings = context_of(ctx).settings()
    supervisor = build_supervisor(settings)
    running = supervisor.status()
    watched = supervisor.supervision()
    if as_json:
        out.print_json(data=status_json(running, watched))
        return
    out.print(records_table(running, settings.data_dir, watched))
    for report in crash_reports(watched):
        out.print(report)


@app.command()
def doctor(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Check every component: embedded or external, version, health, latency, and the fix.

    Exits 1 when a required component is down, so scripts and CI can rely on it.
    """
    settings = context_of(ctx).settings()
    supervisor = build_supervisor(settings)
    results = [probe(t) for t in probe_targets(settings, endpoints(settings, supervisor))]
    results = apply_supervision(results, supervisor.supervision())
    if as_json:
        out.print_json(data={"components": [r.to_dict() for r in results]})
    else:
        out.print(doctor_table(results))
    failed = [r.name for r in results if r.required and not r.healthy]
    if failed:
        if not as_json:
            err.print(f"[red]required components down:[/] {', '.join(failed)}")
        raise typer.Exit(1)


@app.command()
def config(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Print the effective settings (secrets masked) and where they came from."""
    settings = context_of(ctx).settings()
    data = json.loads(settings.model_dump_json())
    for key, value in data.items():
        if isinstance(value, str) and "://" in value:
            data[key] = mask_url(value)
        if key.endswith(("key", "password")) and value is not None:
            data[key] = "***"
    if as_json:
        out.print_json(data=data)
        return
    for key, value in data.items():
        out.print(f"[bold]{key}[/] = {value!r}   [dim](DAERT_{key.upper()})[/]")


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Bind address \\[env: DAERT_HOST].")] = None,
    port: Annotated[int | None, typer.Option(help="Port \\[env: DAERT_PORT].")] = None,
    worker: Annotated[
        bool | None,
        typer.Option(
            "--worker/--no-worker",
            help="Also work runs in this process \\[env: DAERT_SERVE_WORKER, default on].",
        ),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, max=256, help="Runs worked at once \\[env: DAERT_WORKER_CONCURRENCY]."),
    ] = None,
) -> None:
    """Start missing embedded services, then serve the HTTP API (default 127.0.0.1:8080).

    The API: the Agent-Protocol API (`langgraph-sdk` works against it), health at /readyz,
    docs at /docs. Runs are durable jobs in PostgreSQL; this process works them too unless
    --no-worker, and `daert worker` adds more workers on any machine that reaches the same
    PostgreSQL and Redis. Services this command starts are stopped when it exits (even if it
    is killed); services started earlier by `daert up` keep running.

    Examples:  daert serve  ·  daert serve --port 8081 --no-worker  ·  curl 127.0.0.1:8080/readyz
    """
    from daert.cli.serve import run_server  # noqa: PLC0415 - uvicorn loads only for serve

    settings = context_of(ctx).settings(host=host, port=port)
    run_server(
        settings, log=lambda m: err.print(f"[dim]{m}[/]"), worker=worker, concurrency=concurrency
    )


@app.command()
def worker(
    ctx: typer.Context,
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, max=256, help="Runs worked at once \\[env: DAERT_WORKER_CONCURRENCY]."),
    ] = None,
) -> None:
    """Work runs from the queue, next to `daert serve` (on this machine or another).

    Needs the PostgreSQL and Redis the server uses (DAERT_POSTGRES_URL / DAERT_REDIS_URL, or
    the embedded ones of this data dir: `daert up`). Ctrl-C or SIGTERM stops it: a run in
    progress gets a few seconds to finish, else it goes back to the queue for another worker.

    Example:  daert worker --concurrency 16
    """
    from daert.cli.serve import run_worker  # noqa: PLC0415

    settings = context_of(ctx).settings()
    run_worker(
        settings,
        log=lambda m: err.print(f"[dim]{m}[/]"),
        concurrency=concurrency or settings.worker_concurrency,
    )


def _register_groups() -> None:
    from daert.cli.kg import kg_app  # noqa: PLC0415
    from daert.cli.knowledge import ingest, search, stream_ingest  # noqa: PLC0415
    from daert.cli.models import models_app  # noqa: PLC0415

    app.add_typer(models_app, name="models")
    app.add_typer(kg_app, name="kg")
    app.command()(ingest)
    app.command()(search)
    app.command("stream-ingest")(stream_ingest)

    from daert.cli.web import crawl, web  # noqa: PLC0415

    app.command()(crawl)
    app.command()(web)

    from daert.cli.code import exec_code  # noqa: PLC0415

    app.command("exec")(exec_code)

    from daert.cli.assistant import ask, chat  # noqa: PLC0415
    from daert.cli.cache import cache_app  # noqa: PLC0415
    from daert.cli.keys import keys_app  # noqa: PLC0415
    from daert.cli.memory import memory_app  # noqa: PLC0415
    from daert.cli.runs import runs_app  # noqa: PLC0415
    from daert.cli.threads import threads_app  # noqa: PLC0415

    app.command()(ask)
    app.command()(chat)
    app.add_typer(memory_app, name="memory")
    app.add_typer(threads_app, name="threads")
    app.add_typer(cache_app, name="cache")
    app.add_typer(keys_app, name="keys")
    app.add_typer(runs_app, name="runs")


_register_groups()


def run() -> None:
    """Entry point: every failure becomes a clear message and its exit code, never a traceback."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run `finally` blocks on SIGTERM
    run_guarded(app, err)
