"""`daert keys`: API keys of the HTTP API, each bound to one daert user: create, list, revoke."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from core.errors import InputError
from daert.cli.context import JsonFlag, with_runtime

if TYPE_CHECKING:
    from datetime import datetime

    from bots.auth.keys import KeyInfo
    from daert.runtime import Runtime

out = Console()
err = Console(stderr=True)

keys_app = typer.Typer(
    help=(
        "API keys of the HTTP API, each bound to one daert user: create, list, revoke.\n\n"
        "Until the first key exists, clients on this machine need none (DAERT_OPEN_LOOPBACK); "
        "after that, every request sends `Authorization: Bearer <key>`.\n\n"
        "Examples:\n"
        "  daert keys create --user alice@example.com --name laptop\n"
        "  daert keys list --user alice@example.com\n"
        "  daert keys revoke 3f9a0c1d"
    ),
    no_args_is_help=True,
)


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment else "-"


def _record(info: KeyInfo) -> dict[str, object]:
    return {
        "key_id": info.key_id,
        "user_id": info.user_id,
        "admin": info.admin,
        "name": info.name,
        "created_at": info.created_at.isoformat(),
        "last_used_at": info.last_used_at.isoformat() if info.last_used_at else None,
        "revoked_at": info.revoked_at.isoformat() if info.revoked_at else None,
    }


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    user: Annotated[str, typer.Option("--user", "-u", help="The daert user the key acts as.")],
    admin: Annotated[
        bool, typer.Option("--admin", help="The key acts as an administrator.")
    ] = False,
    name: Annotated[str, typer.Option("--name", help="What the key is for (a label).")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Create a key for a user and print its secret: the only time it is shown.

    Only a hash of the secret is stored: a lost secret cannot be recovered, only revoked.
    The secret alone goes to stdout, so that a script can capture it.

    Examples:
      daert keys create --user alice@example.com --name laptop
      daert keys create --user ops --admin --json
      KEY=$(daert keys create --user telegram-bot --name telegram)
      curl -H "Authorization: Bearer $KEY" http://127.0.0.1:8080/...
    """
    from bots.auth.keys import check_key_name  # noqa: PLC0415
    from memory.longterm import check_user  # noqa: PLC0415

    # Before anything starts: a bad value is a usage error, not a service one.
    check_user(user)
    check_key_name(name)

    async def run(runtime: Runtime) -> tuple[KeyInfo, str]:
        return await (await runtime.keys()).create(user, admin=admin, name=name)

    info, secret = with_runtime(ctx, run)
    if as_json:
        out.print_json(json.dumps({**_record(info), "secret": secret}))
        return
    role = " (admin)" if info.admin else ""
    err.print(f"created key [bold]{info.key_id}[/] for {escape(info.user_id)}{role}")
    typer.echo(secret)
    err.print("[yellow]store this secret now: it is not shown again[/]")


@keys_app.command("list")
def keys_list(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option("--user", "-u", help="Only this user's.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Every key, revoked ones too, oldest first (never a secret).

    Examples:
      daert keys list
      daert keys list --user alice@example.com --json
    """

    async def run(runtime: Runtime) -> list[KeyInfo]:
        return await (await runtime.keys()).list(user)

    infos = with_runtime(ctx, run)
    if as_json:
        out.print_json(json.dumps([_record(info) for info in infos]))
        return
    table = Table(title_justify="left")
    for column in ("key", "user", "admin", "name", "created", "last used", "status"):
        table.add_column(column)
    for info in infos:
        status = f"revoked {_when(info.revoked_at)}" if info.revoked_at else "active"
        table.add_row(
            info.key_id, escape(info.user_id), "yes" if info.admin else "",
            escape(info.name), _when(info.created_at), _when(info.last_used_at), status,
        )  # fmt: skip
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(help="Key id (8 hex digits) from `daert keys list`.")],
) -> None:
    """Revoke a key: requests with it are refused from now on (401).

    Example:
      daert keys revoke 3f9a0c1d
    """
    from bots.auth.keys import check_key_id  # noqa: PLC0415

    check_key_id(key_id)

    async def run(runtime: Runtime) -> bool:
        return await (await runtime.keys()).revoke(key_id)

    if not with_runtime(ctx, run):
        raise InputError(
            f"no active key {key_id}",
            hint="`daert keys list` shows every key and which are revoked already",
            code="key_not_found",
        )
    out.print(f"revoked {key_id}")
