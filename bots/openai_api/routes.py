"""/v1/models and /v1/chat/completions: every answer is a durable run on a daert thread.

A model is an assistant: a graph's own (named by the graph id: `daert`, each graph of
DAERT_GRAPHS) or one the caller created (named by its assistant id). Responses carry the
thread back (`X-Daert-Thread-Id`, and a top-level `daert` object OpenAI clients ignore).
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header
from fastapi.responses import JSONResponse, StreamingResponse

from agents.gateway.usage import UsageStore
from bots.agent_protocol.assistants import AssistantNotFound, AssistantRecord
from bots.agent_protocol.services import Services
from bots.agent_protocol.sse import SSE_HEADERS
from bots.auth.keys import Principal
from bots.errors import NotFound
from bots.openai_api.answers import Reader, reader_for
from bots.openai_api.auth import placeholder_tolerant
from bots.openai_api.replies import Replies
from bots.openai_api.schema import ChatRequest, Conversation, conversation, model_card
from bots.openai_api.threads import THREAD_HEADER, open_thread, wanted_thread
from bots.runs.records import RunRequest
from bots.runs.served import BUILTIN


class ModelNotFound(NotFound):
    code = "model_not_found"

    def __init__(self, model: str) -> None:
        super().__init__(
            f"no model {model[:64]!r}",
            hint="GET /v1/models lists the models (assistants) you can use",
        )


def openai_router(services: Services, *, usage: UsageStore | None = None) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["openai"])
    User = Annotated[Principal, Depends(placeholder_tolerant(services.principal))]
    replies = Replies(services.runs, usage)

    async def served(record: AssistantRecord) -> bool:
        if record.graph_id == BUILTIN:  # always served; built on its first run, not here
            return True
        try:
            await services.graph(record.graph_id)
        except NotFound:
            return False
        return True

    async def assistant_for(model: str, user: Principal) -> AssistantRecord:
        try:
            record = await services.assistants.get(model, user.user_id)
        except AssistantNotFound:
            raise ModelNotFound(model) from None
        if not await served(record):
            raise ModelNotFound(model)
        return record

    @router.get("/models", summary="The models (assistants) you can use, OpenAI-shaped")
    async def list_models(user: User) -> dict[str, Any]:
        records = await services.assistants.search(user.user_id, limit=1000)
        return {"object": "list", "data": [card(r) for r in records if await served(r)]}

    @router.get("/models/{model_id}", summary="One model (assistant)")
    async def get_model(model_id: str, user: User) -> dict[str, Any]:
        return card(await assistant_for(model_id, user))

    @router.post("/chat/completions", summary="Answer a conversation (streamed or not)")
    async def chat_completions(
        body: ChatRequest,
        user: User,
        x_daert_thread_id: Annotated[str | None, Header(max_length=200)] = None,
    ) -> Any:
        asked = conversation(body)
        wanted = wanted_thread(x_daert_thread_id, body.metadata)
        assistant = await assistant_for(body.model, user)
        thread_id = await open_thread(services, user.user_id, assistant, wanted, asked.earlier)
        reader = reader_for(assistant.graph_id)
        run = await services.runs.start(
            user.user_id, run_request(assistant, body, asked, reader), thread_id=thread_id
        )
        headers = {THREAD_HEADER: thread_id}
        if body.stream:
            return StreamingResponse(
                replies.stream(run, reader, body, asked), media_type="text/event-stream",
                headers={**SSE_HEADERS, **headers},
            )  # fmt: skip
        return JSONResponse(await replies.whole(run, reader, body, asked, headers), headers=headers)

    return router


def card(record: AssistantRecord) -> dict[str, Any]:
    """An assistant as an OpenAI model; a graph's own assistant is named by its graph."""
    own = record.user_id is None
    return model_card(
        record.graph_id if own else record.assistant_id,
        int(record.created_at.timestamp()),
        "daert" if own else record.user_id or "daert",
        assistant_id=record.assistant_id, graph_id=record.graph_id, name=record.name,
    )  # fmt: skip


def run_request(
    assistant: AssistantRecord, body: ChatRequest, asked: Conversation, reader: Reader
) -> RunRequest:
    """The run: the assistant's configuration, the last user message as its input. Runs on
    one thread wait for each other (`enqueue`), as a person's next message would."""
    metadata = {k: v for k, v in (body.metadata or {}).items() if k != "thread_id"}
    return RunRequest(
        assistant_id=assistant.assistant_id,
        graph_id=assistant.graph_id,
        input={"messages": [{"role": "user", "content": asked.question}]},
        config=dict(assistant.config),
        context=dict(assistant.context),
        metadata={**metadata, "surface": "openai", "model": body.model},
        stream_modes=reader.modes,
        multitask_strategy="enqueue",
        surface="openai",
    )
