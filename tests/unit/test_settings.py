from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError
from daert.settings import load_settings


def test_defaults_are_local_and_embedded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    s = load_settings()
    assert s.host == "127.0.0.1"
    assert s.port == 8080
    assert s.data_dir == tmp_path / ".local" / "share" / "daert"
    assert s.postgres_url is None and s.redis_url is None and s.model_url is None
    assert s.wants_local_model


def test_env_overrides_file_and_file_overrides_defaults(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "daert.toml").write_text('port = 9100\nlog_level = "debug"\n')
    assert load_settings().port == 9100
    monkeypatch.setenv("DAERT_PORT", "9200")
    s = load_settings()
    assert s.port == 9200
    assert s.log_level == "debug"
    assert load_settings(port=9300).port == 9300


def test_config_file_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "elsewhere.toml"
    cfg.write_text('redis_url = "redis://example:6379/0"\n')
    monkeypatch.setenv("DAERT_CONFIG", str(cfg))
    s = load_settings()
    assert s.effective_falkordb_url == "redis://example:6379/0"


def test_model_url_disables_local_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAERT_MODEL_URL", "http://127.0.0.1:9999/v1")
    assert not load_settings().wants_local_model


def test_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAERT_PORT", "eighty")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "DAERT_PORT" in caught.value.message
    assert caught.value.code == "config_invalid"
    assert "daert config" in caught.value.hint


def test_bad_url_scheme_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAERT_POSTGRES_URL", "mysql://u@h/db")
    with pytest.raises(ConfigError, match="DAERT_POSTGRES_URL"):
        load_settings()


def test_unknown_key_in_file_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "daert.toml"
    cfg.write_text("prot = 8080\n")
    with pytest.raises(ConfigError, match="prot"):
        load_settings(cfg)


def test_malformed_toml(tmp_path: Path) -> None:
    cfg = tmp_path / "daert.toml"
    cfg.write_text("port = = 1\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(cfg)
    assert caught.value.code == "config_unreadable"


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "nope.toml")
    assert caught.value.code == "config_missing"


def test_public_bind_needs_an_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAERT_HOST", "0.0.0.0")
    with pytest.raises(ConfigError, match="DAERT_API_KEY"):
        load_settings()
    monkeypatch.setenv("DAERT_API_KEY", "k" * 32)
    assert load_settings().host == "0.0.0.0"


def test_production_needs_an_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAERT_ENVIRONMENT", "production")
    with pytest.raises(ConfigError, match="production"):
        load_settings()


def test_aliases_inherit_chat_and_hosted_chat_needs_no_local_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "DAERT_MODELS", '{"chat": [{"model": "openai/gpt-4o-mini", "api_key_env": "K"}]}'
    )
    s = load_settings()
    assert [d.model for d in s.chat_models()["judge"]] == ["openai/gpt-4o-mini"]
    assert not s.wants_local_model
    monkeypatch.setenv(
        "DAERT_MODELS",
        '{"chat": [{"model": "openai/gpt-4o-mini", "api_key_env": "K"}], '
        '"summarizer": [{"model": "local"}]}',
    )
    assert load_settings().wants_local_model


def test_embed_is_not_a_chat_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAERT_MODELS", '{"embed": [{"model": "openai/text-embedding-3-small"}]}')
    with pytest.raises(ConfigError, match="DAERT_EMBEDDER"):
        load_settings()


def test_malformed_json_in_an_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAERT_MODELS", "{not json")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.code == "config_unreadable"
    assert "DAERT_MODELS" in caught.value.hint and "environment" in caught.value.message
