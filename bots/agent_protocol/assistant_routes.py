"""/assistants: a graph's own assistant, and configurations of it a user creates."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from bots.agent_protocol.services import Services, paginate
from bots.auth.keys import Principal
from bots.errors import NotFound


class AssistantCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    graph_id: str = Field(max_length=200)
    assistant_id: str | None = Field(None, max_length=128)
    config: dict[str, Any] = Field(default_factory=dict)
    context: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    if_exists: Literal["raise", "do_nothing"] = "raise"
    name: str | None = Field(None, max_length=200)
    description: str | None = Field(None, max_length=2000)


class AssistantPatch(BaseModel):
    model_config = ConfigDict(extra="ignore")
    graph_id: str | None = Field(None, max_length=200)
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    name: str | None = Field(None, max_length=200)
    description: str | None = Field(None, max_length=2000)


class AssistantSearch(BaseModel):
    model_config = ConfigDict(extra="ignore")
    metadata: dict[str, Any] | None = None
    graph_id: str | None = None
    name: str | None = None
    limit: int = Field(10, ge=1, le=1000)
    offset: int = Field(0, ge=0)


def assistant_router(services: Services) -> APIRouter:
    router = APIRouter(prefix="/assistants", tags=["assistants"])
    User = Annotated[Principal, Depends(services.principal)]
    store = services.assistants

    async def known_graph(graph_id: str) -> None:
        try:
            await services.graph(graph_id)
        except NotFound as err:
            raise NotFound(
                f"no graph {graph_id[:64]!r}", hint=err.hint, code="graph_not_found"
            ) from err

    @router.post("", summary="Create an assistant: a configuration of a served graph")
    async def create(body: AssistantCreate, user: User) -> dict[str, Any]:
        await known_graph(body.graph_id)
        record = await store.create(
            user.user_id, graph_id=body.graph_id, assistant_id=body.assistant_id,
            name=body.name, description=body.description, config=body.config,
            context=body.context, metadata=body.metadata, if_exists=body.if_exists,
        )  # fmt: skip
        return record.to_api()

    @router.post("/search", summary="Search assistants (yours and every graph's own)")
    async def search(body: AssistantSearch, user: User, response: Response) -> list[Any]:
        rows = await store.search(
            user.user_id, graph_id=body.graph_id, name=body.name, metadata=body.metadata,
            limit=body.limit + 1, offset=body.offset,
        )  # fmt: skip
        return [r.to_api() for r in paginate(response, rows, body.limit, body.offset)]

    @router.post("/count", summary="Count assistants")
    async def count(body: AssistantSearch, user: User) -> int:
        rows = await store.search(
            user.user_id, graph_id=body.graph_id, name=body.name, metadata=body.metadata,
            limit=10_000,
        )  # fmt: skip
        return len(rows)

    @router.get("/{assistant_id}", summary="Get an assistant (a graph's name works as its id)")
    async def get(assistant_id: str, user: User) -> dict[str, Any]:
        return (await store.get(assistant_id, user.user_id)).to_api()

    @router.patch("/{assistant_id}", summary="Change an assistant you created")
    async def patch(assistant_id: str, body: AssistantPatch, user: User) -> dict[str, Any]:
        if body.graph_id:
            await known_graph(body.graph_id)
        changes = body.model_dump(exclude_unset=True)
        return (await store.update(assistant_id, user.user_id, changes)).to_api()

    @router.delete("/{assistant_id}", status_code=204, summary="Delete an assistant you created")
    async def delete(assistant_id: str, user: User) -> Response:
        await store.delete(assistant_id, user.user_id)
        return Response(status_code=204)

    @router.post("/{assistant_id}/versions", summary="An assistant's versions (the current one)")
    async def versions(assistant_id: str, user: User) -> list[Any]:
        return [(await store.get(assistant_id, user.user_id)).to_api()]

    @router.post("/{assistant_id}/latest", summary="Make a version the latest (the current one)")
    async def latest(assistant_id: str, user: User) -> dict[str, Any]:
        return (await store.get(assistant_id, user.user_id)).to_api()

    @router.get("/{assistant_id}/graph", summary="The assistant's graph: nodes and edges")
    async def graph(assistant_id: str, user: User, xray: bool = False) -> dict[str, Any]:
        record = await store.get(assistant_id, user.user_id)
        served = await services.graph(record.graph_id)
        drawn: dict[str, Any] = served.graph.get_graph(xray=xray).to_json()
        return drawn

    @router.get("/{assistant_id}/schemas", summary="The graph's input, output and state schemas")
    async def schemas(assistant_id: str, user: User) -> dict[str, Any]:
        record = await store.get(assistant_id, user.user_id)
        compiled = (await services.graph(record.graph_id)).graph
        return {
            "graph_id": record.graph_id,
            "input_schema": _schema(compiled.get_input_jsonschema),
            "output_schema": _schema(compiled.get_output_jsonschema),
            "state_schema": _schema(compiled.get_output_jsonschema),
            "config_schema": _schema(compiled.get_config_jsonschema),
            "context_schema": _schema(getattr(compiled, "get_context_jsonschema", None)),
        }

    @router.get("/{assistant_id}/subgraphs", summary="Subgraphs (none are exposed)")
    async def subgraphs(assistant_id: str, user: User) -> dict[str, Any]:
        await store.get(assistant_id, user.user_id)
        return {}

    return router


def _schema(make: Any) -> dict[str, Any] | None:
    if make is None:
        return None
    try:
        made: dict[str, Any] = make()
    except Exception:  # noqa: BLE001 - a state type pydantic cannot describe: no schema, not a 500
        return None
    return made
