"""The local model server loads a GGUF LoRA adapter and serves it as its own deployment."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from agents.gateway import ModelGateway, resolve
from core.deployments import DeploymentSpec
from daert.adapters import local_gguf
from daert.services.plan import build_supervisor
from daert.settings import load_settings
from tests.support.lora import make_lora

pytestmark = pytest.mark.slow

QUESTION = [{"role": "user", "content": "The capital of France is"}]


async def test_adapter_is_served_as_its_own_alias(tmp_path: Path) -> None:
    data = tmp_path / "data"
    base_settings = load_settings(data_dir=data)
    gguf = local_gguf(base_settings)
    assert gguf is not None
    adapter = make_lora(gguf, tmp_path / "random-lora.gguf")
    settings = load_settings(
        data_dir=data,
        postgres_url="postgresql://unused@127.0.0.1:1/x",  # only the model server is needed
        redis_url="redis://127.0.0.1:1/0",
        local_adapters={"rand": adapter},
        models={"chat": [{"model": "local"}], "tuned": [{"model": "local+rand"}]},
    )
    supervisor = build_supervisor(settings)
    records = supervisor.up(detached=False)
    try:
        url = records["model"].url
        ids = [m["id"] for m in httpx.get(f"{url}/models", timeout=10).json()["data"]]
        assert ids == ["local", "local+rand"]
        gateway = ModelGateway(
            resolve(settings.chat_models(), local_url=url, default_timeout=120, env=os.environ)
        )
        plain = await gateway.complete("chat", QUESTION, max_tokens=8, temperature=0)
        tuned = await gateway.complete("tuned", QUESTION, max_tokens=8, temperature=0)
        again = await gateway.complete("chat", QUESTION, max_tokens=8, temperature=0)
        assert tuned.text != plain.text, "the adapter did not change the output"
        assert again.text == plain.text, "the base model changed after serving the adapter"
        assert tuned.deployment == "tuned#0"
    finally:
        supervisor.down()


def test_unknown_adapter_in_an_alias_is_a_config_error(tmp_path: Path) -> None:
    from core.errors import ConfigError

    with pytest.raises(ConfigError, match="local_adapters"):
        load_settings(data_dir=tmp_path, models={"chat": [DeploymentSpec(model="local+nope")]})
