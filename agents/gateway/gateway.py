"""The model gateway: every model call of daert goes through `ModelGateway`, by alias.

It owns one LiteLLM Router (retries, timeouts, ordered fallbacks, cooldowns), turns every
provider failure into a typed daert error, and records tokens, cost and latency of each call.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agents.gateway.deployments import Deployment, router_config
from agents.gateway.errors import (
    ContextTooLong,
    ModelError,
    ModelRateLimited,
    ModelRejected,
    ModelTimeout,
    ModelUnavailable,
    UnknownAlias,
)
from agents.gateway.usage import ModelCall, UsageStore
from core.errors import ConfigError, DaertError

Message = Mapping[str, Any]


def _litellm() -> Any:
    # The cost map is read from the installed package, never fetched at import.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm  # noqa: PLC0415 - 3 s import; only where models are called

    litellm.suppress_debug_info = True
    return litellm


@dataclass(frozen=True)
class Completion:
    """A finished answer with what it cost."""

    text: str
    alias: str
    deployment: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    latency_ms: float


def translate(err: Exception, alias: str) -> DaertError:  # noqa: PLR0911 - one return per kind
    """A LiteLLM/provider exception as the daert error a caller can act on."""
    if isinstance(err, DaertError):
        return err
    litellm = _litellm()
    ex = litellm.exceptions
    text = str(err).splitlines()[0][:300] if str(err) else type(err).__name__
    lowered = text.lower()
    if isinstance(err, ex.ContextWindowExceededError) or (
        "context" in lowered and ("exceed" in lowered or "too long" in lowered)
    ):
        return ContextTooLong(
            f"the messages do not fit the context window of alias {alias!r}: {text}",
            hint="shorten the conversation (daert summarizes long threads) or use a model with "
            "a larger window",
        )
    if isinstance(err, ex.RateLimitError):
        return ModelRateLimited(
            f"every deployment of {alias!r} is rate-limited: {text}",
            hint="retry later, or add another deployment to the alias as a fallback",
        )
    if isinstance(err, ex.Timeout):
        return ModelTimeout(
            f"no deployment of {alias!r} answered in time: {text}",
            hint="retry; raise DAERT_MODEL_TIMEOUT or the deployment's timeout if it is slow",
        )
    if isinstance(err, ex.AuthenticationError):
        return ConfigError(
            f"a deployment of {alias!r} refused the API key: {text}",
            hint="check the key in the deployment's api_key_env variable",
            code="model_auth_failed",
        )
    if isinstance(err, ex.NotFoundError):
        return ConfigError(
            f"a deployment of {alias!r} does not know the model: {text}",
            hint="fix the model name in DAERT_MODELS / daert.toml (`daert models` lists them)",
            code="model_not_found",
        )
    if isinstance(err, ex.BadRequestError) and not isinstance(err, ex.APIConnectionError):
        return ModelRejected(f"the model rejected the request: {text}", hint="check the input")
    unreachable = (
        ex.APIConnectionError,
        ex.APIError,
        ex.InternalServerError,
        ex.BadGatewayError,
        ex.ServiceUnavailableError,
    )
    if isinstance(err, unreachable) or ("no deployments available" in lowered):
        return ModelUnavailable(
            f"no deployment of {alias!r} is reachable: {text}",
            hint="check `daert models`; start the local model with `daert up`, or add a fallback",
        )
    return ModelError(f"model call on {alias!r} failed: {text}", hint="see the server log")


class ModelGateway:
    """Calls models by alias. Build with `resolve()`d deployments; close with `aclose()`."""

    def __init__(
        self,
        aliases: Mapping[str, list[Deployment]],
        *,
        usage: UsageStore | None = None,
        retries: int = 1,
        cooldown: float = 30.0,
        allowed_fails: int = 2,
    ) -> None:
        self.deployments = dict(aliases)
        self.usage = usage
        self._pending: set[asyncio.Task[None]] = set()
        model_list, fallbacks = router_config(self.deployments)
        self._router: Any = None
        if model_list:
            self._router = _litellm().Router(
                model_list=model_list,
                fallbacks=fallbacks,
                num_retries=retries,
                retry_after=0,
                allowed_fails=allowed_fails,
                cooldown_time=cooldown,
            )

    def entry(self, alias: str) -> Deployment:
        """The first callable deployment of `alias` (the router falls back from there)."""
        if alias not in self.deployments:
            known = ", ".join(sorted(self.deployments)) or "(none)"
            raise UnknownAlias(
                f"unknown model alias {alias!r}; known aliases: {known}",
                hint="use one of those, or add the alias to DAERT_MODELS / daert.toml",
            )
        usable = [d for d in self.deployments[alias] if d.available]
        if not usable or self._router is None:
            reasons = "; ".join(d.unavailable_reason for d in self.deployments[alias])
            raise ModelUnavailable(
                f"no deployment of {alias!r} can be called: {reasons}",
                hint="run `daert up` for the local model, or configure DAERT_MODEL_URL",
            )
        return usable[0]

    def _record(self, call: ModelCall) -> None:
        if self.usage is None:
            return
        task = asyncio.get_running_loop().create_task(self.usage.record(call))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def flush(self) -> None:
        """Wait until every usage record is written."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    async def aclose(self) -> None:
        await self.flush()

    def _served_by(self, response: Any, fallback: str) -> tuple[str, str]:
        hidden = getattr(response, "_hidden_params", {}) or {}
        group = str(hidden.get("model_id") or fallback)
        model = str(getattr(response, "model", "") or "")
        return group, model

    async def complete(
        self,
        alias: str,
        messages: Sequence[Message],
        *,
        thread_id: str | None = None,
        user_id: str | None = None,
        group: str | None = None,
        **params: Any,
    ) -> Completion:
        """One answer from `alias` (or from one deployment `group` of it)."""
        first = self.entry(alias)
        target = group or first.group
        if group is not None:  # one deployment asked for: its retries, none of the fallbacks
            params["disable_fallbacks"] = True
        began = time.perf_counter()
        try:
            response = await self._router.acompletion(
                model=target, messages=list(messages), **params
            )
        except Exception as err:
            error = translate(err, alias)
            self._record(
                ModelCall(alias, target, first.spec.model, 0, 0, None,
                          (time.perf_counter() - began) * 1000, False, error.code,
                          thread_id=thread_id, user_id=user_id)
            )  # fmt: skip
            raise error from err
        latency = (time.perf_counter() - began) * 1000
        served, model = self._served_by(response, target)
        usage = getattr(response, "usage", None)
        cost = (getattr(response, "_hidden_params", {}) or {}).get("response_cost")
        done = Completion(
            text=response.choices[0].message.content or "",
            alias=alias,
            deployment=served,
            model=model,
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            cost_usd=float(cost) if cost is not None else None,
            latency_ms=latency,
        )
        self._record(
            ModelCall(alias, served, model, done.prompt_tokens, done.completion_tokens,
                      done.cost_usd, latency, True, thread_id=thread_id, user_id=user_id)
        )  # fmt: skip
        return done

    async def stream(
        self,
        alias: str,
        messages: Sequence[Message],
        *,
        thread_id: str | None = None,
        user_id: str | None = None,
        **params: Any,
    ) -> AsyncIterator[str]:
        """Yield the answer's text as it is generated; usage is recorded at the end."""
        first = self.entry(alias)
        began = time.perf_counter()
        prompt_tokens = completion_tokens = 0
        served, model = first.group, first.spec.model
        pieces = 0
        try:
            response = await self._router.acompletion(
                model=first.group,
                messages=list(messages),
                stream=True,
                stream_options={"include_usage": True},
                **params,
            )
            async for chunk in response:
                served, model = self._served_by(chunk, served)
                usage = getattr(chunk, "usage", None)
                if usage is not None:
                    prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
                    completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
                if chunk.choices and chunk.choices[0].delta.content:
                    pieces += 1
                    yield chunk.choices[0].delta.content
        except Exception as err:
            error = translate(err, alias)
            self._record(
                ModelCall(alias, served, model, prompt_tokens, completion_tokens, None,
                          (time.perf_counter() - began) * 1000, False, error.code, True,
                          thread_id, user_id)
            )  # fmt: skip
            raise error from err
        if completion_tokens == 0:
            completion_tokens = pieces
        cost = self._cost(model, prompt_tokens, completion_tokens)
        self._record(
            ModelCall(alias, served, model, prompt_tokens, completion_tokens, cost,
                      (time.perf_counter() - began) * 1000, True, None, True, thread_id, user_id)
        )  # fmt: skip

    def _cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        try:
            prompt_cost, completion_cost = _litellm().cost_per_token(
                model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
            )
        except Exception:  # noqa: BLE001 - a model missing from the cost map has no known cost
            return None
        return float(prompt_cost + completion_cost)
