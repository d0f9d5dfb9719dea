"""The LLM planner: a multi-step tool plan in structured output, revised after each round.

Used only when the configured planner model is capable (DAERT_PLANNER_CAPABLE); the tiny
embedded model cannot plan, and the embedding router alone routes for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from agents.gateway.structured import structured
from tools.registry import TOOL_NAMES, TOOL_SPECS, ToolName

if TYPE_CHECKING:
    from agents.gateway import GuidanceRunner, ModelGateway

PLAN_RULES = """\
Plan at most {max_steps} steps; steps in one plan run in parallel, so only plan steps that do
not need each other's results. Plan no steps (done=true) when you can already answer: small
talk, or the results so far suffice."""


def planner_system(max_steps: int) -> str:
    """The planner's system prompt: the task, every registered tool, the rules."""
    tools = "".join(f"{spec.planner_line()}\n" for spec in TOOL_SPECS.values())
    return (
        "You plan how an assistant answers the user's latest message.\nTools:\n"
        + tools
        + PLAN_RULES.format(max_steps=max_steps)
    )


REPLAN = """Results so far:
{results}

Plan further steps only if the results are not enough to answer; otherwise set done=true."""


class PlannedStep(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tool: ToolName
    input: str = Field(min_length=1, max_length=4000)


class Plan(BaseModel):
    model_config = ConfigDict(extra="forbid")
    steps: list[PlannedStep] = Field(max_length=6)
    done: bool


class Planner:
    def __init__(
        self,
        gateway: ModelGateway,
        alias: str,
        *,
        max_steps: int = 3,
        tools: Sequence[str] = TOOL_NAMES,
        guidance_runner: GuidanceRunner | None = None,
    ) -> None:
        self.gateway = gateway
        self.alias = alias
        self.max_steps = max_steps
        self.tools = set(tools)
        self.guidance_runner = guidance_runner

    async def plan(
        self,
        question: str,
        *,
        context: str = "",
        results: Sequence[str] = (),
        thread_id: str | None = None,
        user_id: str | None = None,
    ) -> Plan:
        messages: list[dict[str, str]] = [
            {"role": "system", "content": planner_system(self.max_steps)}
        ]
        if context:
            messages.append({"role": "system", "content": f"Conversation so far:\n{context}"})
        messages.append({"role": "user", "content": question})
        if results:
            messages.append({"role": "user", "content": REPLAN.format(results="\n".join(results))})
        plan = await structured(
            self.gateway, self.alias, messages, Plan,
            guidance_runner=self.guidance_runner, thread_id=thread_id, user_id=user_id,
        )  # fmt: skip
        steps = [s for s in plan.steps if s.tool in self.tools][: self.max_steps]
        return Plan(steps=steps, done=plan.done or not steps)
