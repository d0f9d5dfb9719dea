"""What a model deployment is: the settings type the gateway and the settings share."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

LOCAL_MODEL = "local"
ADAPTER_PREFIX = "local+"  # "local+<adapter>": the local model with a LoRA adapter applied


class DeploymentSpec(BaseModel):
    """One place an alias can send a call to; an alias tries its deployments in order."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        description="LiteLLM model id ('openai/gpt-4o-mini', 'anthropic/claude-...'), "
        "'openai/<name>' with api_base for an OpenAI-compatible server, or 'local'."
    )
    api_base: HttpUrl | None = None
    api_key_env: str | None = Field(None, description="Environment variable holding the key.")
    kind: Literal["hosted", "openai_compatible", "llamacpp"] | None = Field(
        None, description="Inferred when unset: 'local' is llamacpp, an api_base is compatible."
    )
    timeout: float | None = Field(None, gt=0)
    input_cost_per_token: float | None = Field(None, ge=0)
    output_cost_per_token: float | None = Field(None, ge=0)

    @property
    def resolved_kind(self) -> str:
        if self.kind is not None:
            return self.kind
        if self.model == LOCAL_MODEL or self.model.startswith(ADAPTER_PREFIX):
            return "llamacpp"
        return "openai_compatible" if self.api_base is not None else "hosted"
