"""The GraphStore contract, run against every adapter: FalkorDB (embedded) and Neo4j."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from core.errors import InputError
from knowledge.graph.falkordb import FalkorGraphStore
from knowledge.graph.ports import Entity, GraphStore, Provenance, Relation
from tests.conftest import Stack

pytestmark = pytest.mark.slow

ADA = Entity("Ada Lovelace", "Person", {"born": 1815})
ADA_AGAIN = Entity("  ada   LOVELACE ", "Person")
BABBAGE = Entity("Charles Babbage", "Person")
ENGINE = Entity("Analytical Engine", "Machine")
LONDON = Entity("London", "Place")


@pytest.fixture
async def graph(request: pytest.FixtureRequest, stack: Stack) -> AsyncIterator[GraphStore]:
    store: GraphStore
    if request.param == "falkordb":
        store = FalkorGraphStore(stack.url("redis"), graph=f"t-{uuid.uuid4().hex[:8]}")
    else:
        store = request.getfixturevalue("neo4j_graph")
    await store.setup()
    await store.clear()
    try:
        yield store
    finally:
        await store.clear()
        await store.aclose()


ADAPTERS = ["falkordb", "neo4j"]
adapters = pytest.mark.parametrize("graph", ADAPTERS, indirect=True)


async def _fill(graph: GraphStore) -> None:
    await graph.upsert(
        [ADA, ENGINE, BABBAGE],
        [Relation(ADA, "WROTE_ABOUT", ENGINE), Relation(BABBAGE, "DESIGNED", ENGINE)],
        Provenance("doc1#0", "doc1"),
    )
    await graph.upsert(
        [ADA_AGAIN, LONDON], [Relation(ADA_AGAIN, "LIVED_IN", LONDON)], Provenance("doc2#0", "doc2")
    )
    await graph.upsert([ADA], [Relation(ADA, "WROTE_ABOUT", ENGINE)], Provenance("doc2#1", "doc2"))


@adapters
async def test_one_node_per_entity_with_provenance(graph: GraphStore) -> None:
    await _fill(graph)
    assert await graph.counts() == {"entities": 4, "relations": 3}
    rows = await graph.read(
        "MATCH (p:Person {key: 'ada lovelace'})-[r:WROTE_ABOUT]->(m) RETURN p.name AS name, "
        "p.born AS born, r.chunks AS chunks, m.name AS machine"
    )
    assert len(rows) == 1
    assert rows[0]["name"] == "Ada Lovelace" and rows[0]["born"] == 1815
    assert sorted(rows[0]["chunks"]) == ["doc1#0", "doc2#1"]
    mentions = await graph.read(
        "MATCH (:Person {key: 'ada lovelace'})-[:MENTIONED_IN]->(c) RETURN c.id AS id ORDER BY id"
    )
    assert [m["id"] for m in mentions] == ["doc1#0", "doc2#0", "doc2#1"]


@adapters
async def test_neighbourhood_expansion(graph: GraphStore) -> None:
    await _fill(graph)
    one = await graph.neighbourhood(["Ada Lovelace"], hops=1)
    assert {e["type"] for e in one.edges} == {"WROTE_ABOUT", "LIVED_IN"}
    two = await graph.neighbourhood(["ada lovelace"], hops=2)
    assert {n["name"] for n in two.nodes} == {
        "Ada Lovelace", "Analytical Engine", "London", "Charles Babbage",
    }  # fmt: skip


@adapters
async def test_reads_are_limited_and_writes_refused(graph: GraphStore) -> None:
    await _fill(graph)
    assert len(await graph.read("MATCH (n) RETURN n.name AS name", limit=2)) == 2
    for attack in [
        "MATCH (n) DETACH DELETE n",
        "MATCH (n) SET n.name = 'x' RETURN n",
        "CREATE (:Evil)",
        "MATCH (n) RETURN n // harmless\nUNION MERGE (x:Evil) RETURN x",
        "CALL { MATCH (n) DELETE n }",
        "MATCH (n) RETURN n; MATCH (m) DELETE m",
    ]:
        with pytest.raises(InputError) as caught:
            await graph.read(attack)
        assert caught.value.code == "cypher_write_refused", attack
    rows = await graph.read("MATCH (n:Person) WHERE n.name = 'DELETE me' RETURN count(n) AS c")
    assert rows == [{"c": 0}]  # keywords inside strings are data, not clauses
    assert await graph.counts() == {"entities": 4, "relations": 3}
    with pytest.raises(InputError) as caught:
        await graph.read("MATCH (n RETURN n")
    assert caught.value.code == "cypher_invalid"


@adapters
async def test_schema_and_source_deletion(graph: GraphStore) -> None:
    await _fill(graph)
    schema = await graph.schema()
    assert {"Person", "Machine", "Place"} <= set(schema.labels)
    assert {"WROTE_ABOUT", "DESIGNED", "LIVED_IN"} <= set(schema.relationship_types)
    assert "name" in schema.properties["Person"]
    assert "Person" in schema.describe()
    assert await graph.delete_source("doc2") == 2
    assert await graph.counts() == {"entities": 3, "relations": 2}  # London went, Ada stays
    rows = await graph.read("MATCH (:Person)-[r:WROTE_ABOUT]->() RETURN r.chunks AS chunks")
    assert rows[0]["chunks"] == ["doc1#0"]


@adapters
async def test_hostile_labels_are_refused(graph: GraphStore) -> None:
    evil = Entity("x", "Person) DETACH DELETE (n")
    with pytest.raises(InputError) as caught:
        await graph.upsert([evil], [], Provenance("c", "s"))
    assert caught.value.code == "graph_label_invalid"
    with pytest.raises(InputError):
        await graph.upsert(
            [ADA, ENGINE], [Relation(ADA, "x]->() DELETE", ENGINE)], Provenance("c", "s")
        )


@adapters
async def test_a_slow_query_is_cut_off(graph: GraphStore) -> None:
    await _fill(graph)
    with pytest.raises(InputError) as caught:
        await graph.read(
            "UNWIND range(1, 200000000) AS x WITH x WHERE x % 7 = 3 RETURN count(x) AS n",
            timeout=0.2,
        )
    assert caught.value.code == "cypher_timeout"
