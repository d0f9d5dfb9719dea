"""The README documents what the code does: every setting, every CLI command."""

from __future__ import annotations

from pathlib import Path

from daert.cli.commands import app
from daert.settings import ENV_PREFIX, Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    missing = [n for n in Settings.model_fields if f"`{ENV_PREFIX}{n.upper()}`" not in README]
    assert missing == []


def test_every_command_is_documented() -> None:
    names = [c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands]
    assert names
    assert [n for n in names if f"`daert {n}" not in README] == []


def test_ci_runs_the_readme_test_command() -> None:
    ci = (Path(__file__).resolve().parents[2] / ".ci" / "run").read_text()
    assert "make test" in README and "make test" in ci


def test_the_models_example_in_the_readme_loads(tmp_path: Path) -> None:
    import re

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
