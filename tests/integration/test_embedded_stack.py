"""The real embedded services, brought up once per run by the `stack` fixture."""

from __future__ import annotations

import httpx
import psycopg
import pytest
import redis
from falkordb import FalkorDB

from daert.health import probe
from daert.services.plan import endpoints
from daert.targets import probe_targets
from tests.conftest import Stack

pytestmark = pytest.mark.slow


def test_postgres_has_pgvector_and_answers_vector_queries(stack: Stack) -> None:
    with psycopg.connect(stack.url("postgres"), autocommit=True) as conn:
        major = conn.execute("SHOW server_version_num").fetchone()
        assert major is not None and int(major[0]) // 10000 == 18
        conn.execute("CREATE TABLE IF NOT EXISTS t_vec (id int primary key, v vector(3))")
        conn.execute("TRUNCATE t_vec")
        conn.execute("INSERT INTO t_vec VALUES (1, '[1,0,0]'), (2, '[0,1,0]'), (3, '[0.9,0.1,0]')")
        rows = conn.execute("SELECT id FROM t_vec ORDER BY v <-> '[1,0,0]' LIMIT 2").fetchall()
        assert [r[0] for r in rows] == [1, 3]


def test_postgres_refuses_a_wrong_password(stack: Stack) -> None:
    port = stack.records["postgres"].port
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(f"postgresql://postgres:wrong@127.0.0.1:{port}/daert", connect_timeout=5)


def test_redis_8_with_vector_sets(stack: Stack) -> None:
    client = redis.Redis.from_url(stack.url("redis"))
    version = str(client.info("server")["redis_version"])
    assert int(version.split(".", maxsplit=1)[0]) >= 8
    client.delete("vs:test")
    client.execute_command("VADD", "vs:test", "VALUES", 3, 1.0, 0.0, 0.0, "a")
    client.execute_command("VADD", "vs:test", "VALUES", 3, 0.0, 1.0, 0.0, "b")
    nearest = client.execute_command("VSIM", "vs:test", "VALUES", 3, 0.9, 0.1, 0.0, "COUNT", 1)
    assert nearest == [b"a"]
    client.close()


def test_redis_requires_its_password(stack: Stack) -> None:
    port = stack.records["redis"].port
    client = redis.Redis(host="127.0.0.1", port=port)
    with pytest.raises(redis.AuthenticationError):
        client.set("k", "v")
    client.close()


def test_falkordb_runs_cypher(stack: Stack) -> None:
    record = stack.records["redis"]
    password = stack.url("redis").split(":")[2].split("@")[0]
    db = FalkorDB(host="127.0.0.1", port=record.port, password=password)
    graph = db.select_graph("t_graph")
    graph.query("MERGE (:Person {name: 'Ada'})-[:WROTE]->(:Note {title: 'Engine'})")
    result = graph.ro_query("MATCH (p:Person)-[:WROTE]->(n) RETURN p.name, n.title")
    assert result.result_set == [["Ada", "Engine"]]
    graph.delete()


def test_local_model_answers_openai_requests(stack: Stack) -> None:
    base = stack.url("model")
    models = httpx.get(f"{base}/models", timeout=30).json()
    assert [m["id"] for m in models["data"]] == ["local"]
    response = httpx.post(
        f"{base}/chat/completions",
        json={
            "model": "local",
            "messages": [{"role": "user", "content": "Say hello."}],
            "max_tokens": 8,
            "temperature": 0,
        },
        timeout=120,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["choices"][0]["message"]["role"] == "assistant"
    assert body["usage"]["completion_tokens"] >= 1


def test_every_probe_is_healthy(stack: Stack) -> None:
    urls = endpoints(stack.settings, stack.supervisor)
    results = {r.name: r for r in map(probe, probe_targets(stack.settings, urls))}
    assert all(r.healthy for r in results.values()), {n: r.error for n, r in results.items()}
    assert results["postgres"].details["pgvector"]
    assert results["redis"].details["vector_sets"] == "available"
    assert results["falkordb"].version
    assert results["model"].details["generation"].startswith("ok: 1 token")  # it generated
    assert all(r.mode == "embedded" for r in results.values())


def test_second_up_reuses_the_running_services(stack: Stack) -> None:
    again = stack.supervisor.up(detached=False)
    assert {n: r.pid for n, r in again.items()} == {n: r.pid for n, r in stack.records.items()}
