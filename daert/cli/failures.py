"""How the `daert` command ends when something goes wrong: a code, a message and a hint.

A mistake on the command line, a dependency that is down and a bug in daert each end with one
clear error line and a hint (exit 2 for usage, 1 otherwise), never a Python traceback.
"""

from __future__ import annotations

import tempfile
import traceback
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from typer._click import exceptions as usage  # Typer's own click: the errors it raises

from core.errors import DaertError, InputError, ServiceError
from daert.cli.render import print_error

DOCTOR_HINT = "run `daert doctor` to see which service is down and how to bring it back"

_USAGE_CODES: list[tuple[type[usage.ClickException], str]] = [
    (usage.MissingParameter, "missing_parameter"),
    (usage.BadParameter, "bad_parameter"),
    (usage.NoSuchOption, "unknown_option"),
]


def usage_error(error: usage.ClickException) -> DaertError:
    """A usage error (bad value, missing argument, unknown option or command) in daert's format."""
    ctx: typer.Context | None = getattr(error, "ctx", None)
    message = error.format_message()
    code = next((c for kind, c in _USAGE_CODES if isinstance(error, kind)), "usage_error")
    if message.startswith("No such command"):
        code = "unknown_command"
    if ctx is None:
        return InputError(message, hint="see `daert --help`", code=code)
    line = ctx.get_usage().strip().removeprefix("Usage:").strip()
    return InputError(message, hint=f"usage: {line}; see `{ctx.command_path} --help`", code=code)


def dependency_error(error: BaseException) -> ServiceError | None:
    """A connection failure that escaped an adapter, as a service error (else None)."""
    from psycopg import OperationalError  # noqa: PLC0415 - only on this error path
    from psycopg_pool import PoolTimeout  # noqa: PLC0415
    from redis.exceptions import ConnectionError as RedisConnectionError  # noqa: PLC0415
    from redis.exceptions import TimeoutError as RedisTimeoutError  # noqa: PLC0415

    if isinstance(error, OperationalError | PoolTimeout):
        first = str(error).strip().splitlines()[0] if str(error).strip() else "no answer"
        return ServiceError(
            f"the connection to PostgreSQL failed: {first}",
            hint=DOCTOR_HINT,
            code="postgres_unreachable",
        )
    if isinstance(error, RedisConnectionError | RedisTimeoutError):
        return ServiceError(
            f"Redis cannot be reached: {error}", hint=DOCTOR_HINT, code="redis_unreachable"
        )
    return None


def crash_report(error: BaseException) -> DaertError:
    """A bug: one line and a hint here, the traceback in a file to attach to a report."""
    try:
        with tempfile.NamedTemporaryFile(
            "w", prefix="daert-crash-", suffix=".txt", delete=False
        ) as file:
            file.write("".join(traceback.format_exception(error)))
        saved = f"the traceback saved in {Path(file.name)}"
    except OSError:
        saved = "what you ran"
    return DaertError(
        f"unexpected {type(error).__name__}: {str(error)[:300]}",
        hint=f"this is a bug in daert: please report it with {saved}",
        code="internal_error",
    )


def unexpected(error: Exception) -> DaertError:
    """An exception that is not a DaertError: a dependency that went away, or else a bug."""
    return dependency_error(error) or crash_report(error)


def run_guarded(app: Any, console: Console) -> None:
    """Run the Typer `app` and turn every way it can fail into a message and an exit code."""
    try:
        result = app(standalone_mode=False)
    except DaertError as error:
        print_error(console, error)
        raise SystemExit(error.exit_code) from None
    except usage.NoArgsIsHelpError as error:  # the help is the message (rich printed it already)
        if error.format_message():
            typer.echo(error.format_message())
        raise SystemExit(error.exit_code) from None
    except usage.ClickException as error:
        print_error(console, usage_error(error))
        raise SystemExit(error.exit_code) from None
    except typer.Abort:  # the input ended where the command asked for more
        print_error(console, DaertError("aborted: the input ended", code="aborted",
                                        hint="run it again, with its input"))  # fmt: skip
        raise SystemExit(1) from None
    except Exception as error:  # noqa: BLE001 - the last line of defence: no traceback
        failure = unexpected(error)
        print_error(console, failure)
        raise SystemExit(failure.exit_code) from None
    raise SystemExit(result if isinstance(result, int) else 0)
