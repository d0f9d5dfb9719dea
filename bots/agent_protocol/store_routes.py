"""/store: the long-term store (the one that keeps the assistant's memories), per user.

A client's namespace `(a, b, ...)` is stored as `(a, <user>, b, ...)`: every user has their own
copy of every namespace, and `("memories",)` is where the assistant keeps that user's facts.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from bots.agent_protocol.services import Services
from bots.auth.keys import Principal
from bots.errors import NotFound
from core.errors import InputError
from memory.longterm import user_label

Namespace = list[str]


class ItemPut(BaseModel):
    model_config = ConfigDict(extra="ignore")
    namespace: Namespace = Field(min_length=1, max_length=16)
    key: str = Field(min_length=1, max_length=512)
    value: dict[str, Any]
    index: bool | list[str] | None = None
    ttl: float | None = None


class ItemDelete(BaseModel):
    model_config = ConfigDict(extra="ignore")
    namespace: Namespace = Field(min_length=1, max_length=16)
    key: str = Field(min_length=1, max_length=512)


class ItemSearch(BaseModel):
    model_config = ConfigDict(extra="ignore")
    namespace_prefix: Namespace = Field(default_factory=list, max_length=16)
    filter: dict[str, Any] | None = None
    limit: int = Field(10, ge=1, le=1000)
    offset: int = Field(0, ge=0)
    query: str | None = Field(None, max_length=10_000)


class NamespaceList(BaseModel):
    model_config = ConfigDict(extra="ignore")
    prefix: Namespace | None = None
    suffix: Namespace | None = None
    max_depth: int | None = Field(None, ge=1)
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0)


def _labels(namespace: list[str]) -> list[str]:
    for label in namespace:
        if not label or "." in label:
            raise InputError(
                f"invalid namespace label {label[:64]!r}",
                hint="namespace labels are non-empty and contain no dots",
                code="invalid_namespace",
            )
    return namespace


def stored(namespace: list[str], user: str) -> tuple[str, ...]:
    head, *rest = _labels(namespace)
    return (head, user_label(user), *rest)


def shown(namespace: tuple[str, ...]) -> list[str]:
    return [namespace[0], *namespace[2:]]


def item_json(item: Any) -> dict[str, Any]:
    body = {
        "namespace": shown(tuple(item.namespace)),
        "key": item.key,
        "value": item.value,
        "created_at": item.created_at.isoformat(),
        "updated_at": item.updated_at.isoformat(),
    }
    if getattr(item, "score", None) is not None:
        body["score"] = item.score
    return body


def store_router(services: Services) -> APIRouter:
    router = APIRouter(prefix="/store", tags=["store"])
    User = Annotated[Principal, Depends(services.principal)]
    store = services.store

    @router.put("/items", status_code=204, summary="Put an item")
    async def put(body: ItemPut, user: User) -> Response:
        index: Any = body.index if body.index is not None else None
        kwargs: dict[str, Any] = {} if index is None else {"index": index}
        await store.aput(stored(body.namespace, user.user_id), body.key, body.value, **kwargs)
        return Response(status_code=204)

    @router.get("/items", summary="Get an item (namespace dotted: a.b.c)")
    async def get(
        user: User,
        namespace: Annotated[str, Query(max_length=2000)],
        key: Annotated[str, Query(max_length=512)],
    ) -> dict[str, Any]:
        item = await store.aget(stored(namespace.split("."), user.user_id), key)
        if item is None:
            raise NotFound(
                f"no item {key[:64]!r} in {namespace[:128]!r}",
                hint="list items with POST /store/items/search",
                code="item_not_found",
            )
        return item_json(item)

    @router.delete("/items", status_code=204, summary="Delete an item")
    async def delete(body: ItemDelete, user: User) -> Response:
        await store.adelete(stored(body.namespace, user.user_id), body.key)
        return Response(status_code=204)

    @router.post("/items/search", summary="Search items under a namespace prefix")
    async def search(body: ItemSearch, user: User) -> dict[str, Any]:
        if body.namespace_prefix:
            prefixes = [stored(body.namespace_prefix, user.user_id)]
        else:  # every namespace of this user
            names = await store.alist_namespaces(limit=10_000)
            label = user_label(user.user_id)
            prefixes = [n for n in names if len(n) > 1 and n[1] == label]
        found: list[Any] = []
        for prefix in prefixes:
            found += await store.asearch(
                prefix, query=body.query, filter=body.filter,
                limit=body.limit + body.offset, offset=0,
            )  # fmt: skip
        page = found[body.offset : body.offset + body.limit]
        return {"items": [item_json(i) for i in page]}

    @router.post("/namespaces", summary="List your namespaces")
    async def namespaces(body: NamespaceList, user: User) -> dict[str, Any]:
        names = await store.alist_namespaces(limit=100_000)
        label = user_label(user.user_id)
        mine = [shown(n) for n in names if len(n) > 1 and n[1] == label]
        if body.prefix:
            mine = [n for n in mine if n[: len(body.prefix)] == body.prefix]
        if body.suffix:
            mine = [n for n in mine if n[-len(body.suffix) :] == body.suffix]
        if body.max_depth:
            mine = [list(n) for n in sorted({tuple(n[: body.max_depth]) for n in mine})]
        page = mine[body.offset : body.offset + body.limit]
        return {"namespaces": page}

    return router
