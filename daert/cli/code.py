"""`daert exec`: run code in the local sandbox and print what it produced."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from daert.cli.context import settings_of
from daert.errors import InputError
from daert.runtime import build_sandbox
from tools.code_exec.ports import ExecutionResult, SandboxLimits

out = Console()
err = Console(stderr=True)


def exec_code(
    ctx: typer.Context,
    files: Annotated[
        list[str], typer.Argument(help="Python files to run in order; '-' reads stdin.")
    ],
    timeout: Annotated[float, typer.Option(help="Seconds each file may run.")] = 30,
    outputs: Annotated[
        Path, typer.Option("--out", help="Where images the code shows are written.")
    ] = Path(),
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Run code in a fresh sandbox (bubblewrap, or E2B with E2B_API_KEY); files share a session.

    Prints stdout, stderr, the last expression's value and errors; images are saved as PNG files
    under --out. Exits 1 when the code raised or ran out of time.
    """
    sources = [sys.stdin.read() if f == "-" else _read(f) for f in files]
    sandbox = build_sandbox(settings_of(ctx), SandboxLimits(timeout=timeout))

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

    results = asyncio.run(run())
    images: list[str] = []
    for index, result in enumerate(results):
        for number, part in enumerate(p for p in result.parts if p.mime == "image/png"):
            path = outputs / f"output-{index + 1}-{number + 1}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(base64.b64decode(part.data))
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
    if not path.is_file():
        raise InputError(
            f"{name} is not a file", hint="pass a .py file or '-'", code="source_not_found"
        )
    return path.read_text(errors="replace")
