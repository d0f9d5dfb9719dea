"""The README documents what the code does: every setting, every CLI command."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from daert.cli.commands import app
from daert.settings import ENV_PREFIX, Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    missing = [n for n in Settings.model_fields if f"`{ENV_PREFIX}{n.upper()}`" not in README]
    assert missing == []


def command_paths() -> set[str]:
    """Every command and sub-command of the CLI, as `daert ...` would be typed."""
    import typer

    paths: set[str] = set()

    def walk(command: Any, prefix: str) -> None:  # typer's own click: groups have `commands`
        for name, sub in getattr(command, "commands", {}).items():
            if not sub.hidden:
                walk(sub, f"{prefix} {name}".strip())
        if prefix:
            paths.add(prefix)

    walk(typer.main.get_command(app), "")
    return paths


def documented_paths() -> set[str]:
    """Each `daert a b|c` in the README, expanded to `a`, `a b` and `a c`."""
    paths: set[str] = set()
    text = README.replace("\\|", "|")  # pipes escaped in Markdown tables
    for first, second in re.findall(r"`daert ([a-z][a-z-]*)(?: ([a-z][a-z|-]*[a-z]))?", text):
        paths.add(first)
        for word in filter(None, second.split("|")):
            paths.add(f"{first} {word}")
    return paths


def test_every_command_is_documented() -> None:
    existing = command_paths()
    assert {"serve", "models usage", "threads list"} <= existing  # the walk finds the tree
    assert sorted(existing - documented_paths()) == []


def test_every_documented_command_exists() -> None:
    existing = command_paths()
    # `daert ask "question"`: a second word that is an argument, not a sub-command, is fine
    groups = {p.split()[0] for p in existing if " " in p}
    documented = {p for p in documented_paths() if " " not in p or p.split()[0] in groups}
    assert sorted(documented - existing) == []


def test_ci_runs_the_readme_test_command() -> None:
    ci = (Path(__file__).resolve().parents[2] / ".ci" / "run").read_text()
    assert "make test" in README and "make test" in ci


def test_the_models_example_in_the_readme_loads(tmp_path: Path) -> None:
    from daert.settings import load_settings

    block = next(b for b in re.findall(r"```toml\n(.*?)```", README, re.S) if "models.chat" in b)
    config = tmp_path / "daert.toml"
    config.write_text(block)
    models = load_settings(config).chat_models()
    assert [d.model for d in models["chat"]] == [
        "openai/gpt-4o-mini",
        "openai/qwen2.5-7b-instruct",
        "local",
    ]
    assert [d.resolved_kind for d in models["chat"]] == ["hosted", "openai_compatible", "llamacpp"]
    assert models["judge"][0].model.startswith("anthropic/")
    assert models["planner"] == models["chat"]  # an alias left out uses chat's deployments
