"""From alias settings to LiteLLM Router deployments: one model group per deployment, chained.

Each deployment is its own Router model group named `<alias>#<n>`; the alias's first group
falls back to the next ones in order. Retries stay inside a group, cooldowns take one failing
deployment out of every pick for `cooldown` seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agents.gateway.errors import MissingModelKey
from core.deployments import ADAPTER_PREFIX, LOCAL_MODEL, DeploymentSpec

NO_KEY = "not-needed"  # OpenAI-compatible servers without auth still need a non-empty key


@dataclass(frozen=True)
class Deployment:
    """One resolved deployment of an alias."""

    alias: str
    index: int
    spec: DeploymentSpec
    params: dict[str, Any] = field(hash=False)
    available: bool = True
    unavailable_reason: str = ""

    @property
    def group(self) -> str:
        return f"{self.alias}#{self.index}"

    @property
    def kind(self) -> str:
        return self.spec.resolved_kind

    @property
    def label(self) -> str:
        base = self.params.get("api_base")
        return f"{self.spec.model} @ {base}" if base else self.spec.model


def _hosted_key_problem(model: str, env: Mapping[str, str]) -> list[str]:
    import litellm  # noqa: PLC0415 - heavy; imported only when the gateway is built

    checked = litellm.validate_environment(model=model)
    return [k for k in checked.get("missing_keys", []) if not env.get(k)]


def resolve(  # noqa: PLR0912 - one branch per kind of deployment, kept together on purpose
    models: Mapping[str, list[DeploymentSpec]],
    *,
    local_url: str | None,
    default_timeout: float,
    env: Mapping[str, str],
) -> dict[str, list[Deployment]]:
    """Resolve every alias; a missing key is a MissingModelKey that names the variable."""
    resolved: dict[str, list[Deployment]] = {}
    for alias, specs in models.items():
        deployments = []
        for index, spec in enumerate(specs):
            params: dict[str, Any] = {"timeout": spec.timeout or default_timeout}
            available, reason = True, ""
            if spec.model == LOCAL_MODEL or spec.model.startswith(ADAPTER_PREFIX):
                params.update(model=f"openai/{spec.model}", api_key=NO_KEY)
                if local_url is None:
                    available, reason = False, "the local model is not running (`daert up`)"
                else:
                    params["api_base"] = local_url
            else:
                params["model"] = spec.model
                if spec.api_base is not None:
                    params["api_base"] = str(spec.api_base)
                where = f"models.{alias}[{index}] ({spec.model})"
                if spec.api_key_env:
                    key = env.get(spec.api_key_env)
                    if not key:
                        raise MissingModelKey(
                            f"{where} needs an API key in ${spec.api_key_env}, which is not set",
                            hint=f"export {spec.api_key_env}=<key>, or remove that deployment "
                            "from DAERT_MODELS / daert.toml",
                        )
                    params["api_key"] = key
                elif spec.resolved_kind == "hosted":
                    missing = _hosted_key_problem(spec.model, env)
                    if missing:
                        raise MissingModelKey(
                            f"{where} needs {', '.join(missing)}, which is not set",
                            hint=f"export {missing[0]}=<key>, or point the alias at another "
                            "deployment",
                        )
                else:
                    params["api_key"] = NO_KEY
            for cost in ("input_cost_per_token", "output_cost_per_token"):
                value = getattr(spec, cost)
                if value is not None:
                    params[cost] = value
            deployments.append(Deployment(alias, index, spec, params, available, reason))
        resolved[alias] = deployments
    return resolved


def router_config(
    aliases: Mapping[str, list[Deployment]],
) -> tuple[list[dict[str, Any]], list[dict[str, list[str]]]]:
    """The Router's model_list and fallbacks for the deployments that can be called."""
    model_list: list[dict[str, Any]] = []
    fallbacks: list[dict[str, list[str]]] = []
    for deployments in aliases.values():
        usable = [d for d in deployments if d.available]
        for deployment in usable:
            model_list.append(
                {
                    "model_name": deployment.group,
                    "litellm_params": dict(deployment.params),
                    "model_info": {"id": deployment.group},
                }
            )
        if len(usable) > 1:
            fallbacks.append({usable[0].group: [d.group for d in usable[1:]]})
    return model_list, fallbacks
