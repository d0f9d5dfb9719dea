"""`daert exec`: run code in the local sandbox and print what it produced."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from urllib.parse import quote

import typer
from rich.console import Console
from rich.markup import escape

from core.errors import DaertError, InputError, ServiceError
from daert.cli.context import JsonFlag, settings_of
from daert.cli.params import positive_seconds
from daert.settings import Settings

if TYPE_CHECKING:
    import httpx

    from tools.code_exec.ports import ExecutionResult

out = Console()
err = Console(stderr=True)


def exec_code(  # noqa: PLR0917 - a CLI command: one parameter per option
    ctx: typer.Context,
    files: Annotated[
        list[str], typer.Argument(help="Python files to run in order; '-' reads stdin.")
    ],
    timeout: Annotated[
        float,
        typer.Option(
            help="Seconds each file may run (at most DAERT_CODE_MAX_TIMEOUT).",
            callback=positive_seconds(),
        ),
    ] = 30,
    outputs: Annotated[
        Path, typer.Option("--out", help="Where images the code shows are written.")
    ] = Path(),
    as_json: JsonFlag = False,
    session: Annotated[
        str | None,
        typer.Option(
            "--session",
            help="Run in this named session of the running `daert serve`; its variables and "
            "files persist across invocations.",
        ),
    ] = None,
    server: Annotated[
        str | None,
        typer.Option(help="The daert server for --session (default: DAERT_HOST:DAERT_PORT)."),
    ] = None,
) -> None:
    """Run code in a fresh sandbox (bubblewrap, or E2B with E2B_API_KEY); files share a session.

    Prints stdout, stderr, the last expression's value and errors; images are saved as PNG files
    under --out. Exits 1 when the code raised or ran out of time. With --session NAME the code
    runs in the server's session NAME instead, which keeps its state until the server stops.
    """

    from daert.adapters import build_sandbox  # noqa: PLC0415
    from tools.code_exec.ports import SandboxLimits, check_session_name  # noqa: PLC0415

    _check_out(outputs)
    if session is not None:
        check_session_name(session)
    sources = [sys.stdin.read() if f == "-" else _read(f) for f in files]
    settings = settings_of(ctx)
    if session is not None:
        results = remote_execute(settings, server, session, sources, timeout)
        _report(results, outputs, as_json=as_json)
        return
    sandbox = build_sandbox(settings, SandboxLimits(timeout=timeout))

    async def run() -> list[ExecutionResult]:
        results = []
        try:
            for source in sources:
                result = await sandbox.execute(source, session="cli")
                results.append(result)
                if not result.ok:
                    break
        finally:
            await sandbox.aclose()
        return results

    _report(asyncio.run(run()), outputs, as_json=as_json)


def _report(results: list[ExecutionResult], outputs: Path, *, as_json: bool) -> None:
    images: list[str] = []
    for index, result in enumerate(results):
        for number, part in enumerate(p for p in result.parts if p.mime == "image/png"):
            path = outputs / f"output-{index + 1}-{number + 1}.png"
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(base64.b64decode(part.data))
            except OSError as error:
                raise InputError(
                    f"cannot write {path}: {error.strerror or error}",
                    hint="pass --out with a directory you can write to",
                    code="out_unwritable",
                ) from None
            images.append(str(path))
    if as_json:
        data = []
        for result in results:
            item = dataclasses.asdict(result)
            item["parts"] = [p for p in item["parts"] if p["mime"] != "image/png"]
            data.append(item)
        out.print_json(data={"results": data, "images": images})
    else:
        _show(results, images)
    if any(not r.ok for r in results):
        raise typer.Exit(1)


def _show(results: list[ExecutionResult], images: list[str]) -> None:
    for result in results:
        if result.stdout:
            out.print(result.stdout, end="", markup=False, highlight=False)
        if result.stderr:
            err.print(result.stderr, end="", markup=False, highlight=False)
        if result.result is not None:
            out.print(f"[dim]→[/] {escape(result.result)}")
        if result.truncated:
            err.print("[yellow](output truncated)[/]")
        if result.error:
            err.print("\n".join(result.traceback) or result.error, markup=False, highlight=False)
    for image in images:
        err.print(f"[dim]image written to {escape(image)}[/]")


def _read(name: str) -> str:
    path = Path(name)
    try:
        if not path.is_file():
            raise InputError(
                f"{name!r} is not a file", hint="pass a .py file or '-'", code="source_not_found"
            )
        return path.read_text(errors="replace")
    except OSError as error:
        raise InputError(
            f"cannot read {name[:200]!r}: {error.strerror or error}",
            hint="check the file's name and permissions, or pass its code on stdin with '-'",
            code="source_unreadable",
        ) from None


def _check_out(outputs: Path) -> None:
    """--out must be a directory (or not exist yet): checked before any code runs."""
    try:
        is_file = outputs.exists() and not outputs.is_dir()
    except OSError as error:  # a name too long
        raise InputError(
            f"--out {str(outputs)[:200]!r}: {error.strerror or error}",
            hint="pass a directory for the images",
            code="out_unwritable",
        ) from None
    if is_file:
        raise InputError(
            f"--out {outputs} is a file, not a directory",
            hint="pass a directory (it is created when missing) for the images",
            code="out_not_a_directory",
        )


def remote_execute(
    settings: Settings, server: str | None, session: str, sources: list[str], timeout: float
) -> list[ExecutionResult]:
    """Run each source in the server's named session; stop at the first failure."""

    import httpx  # noqa: PLC0415

    from tools.code_exec.ports import ExecutionResult, OutputPart  # noqa: PLC0415

    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host  # noqa: S104
    base = (server or f"http://{host}:{settings.port}").rstrip("/")
    headers = {}
    if settings.api_key is not None:
        headers["Authorization"] = f"Bearer {settings.api_key.get_secret_value()}"
    results: list[ExecutionResult] = []
    with httpx.Client(base_url=base, headers=headers, timeout=timeout + 30) as client:
        for source in sources:
            try:
                response = client.post(
                    f"/v1/code/sessions/{quote(session, safe='')}/execute",
                    json={"code": source, "timeout": timeout},
                )
            except httpx.TransportError as error:
                raise ServiceError(
                    f"no daert server answers at {base}: {error}",
                    hint="sessions live in the server: start it with `daert serve`, pass "
                    "--server URL, or drop --session",
                    code="server_not_running",
                ) from error
            if response.status_code != 200:
                raise _server_error(response)
            data = response.json()
            data["parts"] = [OutputPart(**p) for p in data.get("parts", [])]
            result = ExecutionResult(**data)
            results.append(result)
            if not result.ok:
                break
    return results


def _server_error(response: httpx.Response) -> DaertError:
    try:
        body = response.json()["error"]
        return DaertError(body["message"], hint=body.get("hint", ""), code=body["code"])
    except (ValueError, KeyError, TypeError):
        return ServiceError(
            f"the server answered {response.status_code}: {response.text[:200]}",
            hint="see the server's log; `curl SERVER/readyz` says what it lacks",
            code="server_error",
        )
