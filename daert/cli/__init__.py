"""The `daert` command. Checks the Python version before anything 3.12-only is imported."""

import sys

REQUIRED = (3, 12)


def main() -> None:
    if sys.version_info < REQUIRED:
        found = ".".join(map(str, sys.version_info[:3]))
        sys.stderr.write(
            f"error [python_too_old]: daert needs Python >= 3.12, this is Python {found}\n"
            "  hint: run `make run` (it finds or asks for Python 3.12), or install 3.12 with "
            "`apt-get install python3.12` / `pyenv install 3.12`\n"
        )
        raise SystemExit(2)
    from daert.cli.commands import run  # noqa: PLC0415 - after the version check on purpose

    run()
