"""A real Neo4j 5 (from Maven Central, no Docker) answers Bolt on loopback, behind a password."""

from __future__ import annotations

import pytest

from tests.support.neo4j import Neo4jServer

pytestmark = pytest.mark.slow


@pytest.fixture
def server(neo4j: Neo4jServer) -> Neo4jServer:
    return neo4j


def test_the_right_password_reads_and_writes(server: Neo4jServer) -> None:
    from neo4j import GraphDatabase

    assert server.url.startswith("bolt://127.0.0.1:")
    with GraphDatabase.driver(server.url, auth=(server.user, server.password)) as driver:
        driver.verify_connectivity()
        driver.execute_query("CREATE (:T {v: 1})")
        records, _, _ = driver.execute_query("MATCH (t:T) RETURN t.v AS v")
    assert [record["v"] for record in records] == [1]


def test_a_wrong_password_is_refused(server: Neo4jServer) -> None:
    from neo4j import GraphDatabase
    from neo4j.exceptions import AuthError

    wrong = server.password + "-wrong"
    with (
        GraphDatabase.driver(server.url, auth=(server.user, wrong)) as driver,
        pytest.raises(AuthError),
    ):
        driver.verify_connectivity()


def test_doctor_probe_reports_version_and_bad_password(server: Neo4jServer) -> None:
    from daert.health import probe
    from daert.services.plan import endpoints
    from daert.services.supervisor import Supervisor
    from daert.settings import load_settings
    from daert.targets import probe_targets

    for password, healthy in [(server.password, True), ("wrong-password", False)]:
        settings = load_settings(
            graph_backend="neo4j", neo4j_url=server.url, neo4j_password=password
        )
        urls = endpoints(settings, Supervisor(settings.data_dir, []))
        [target] = [t for t in probe_targets(settings, urls) if t.name == "neo4j"]
        result = probe(target)
        assert result.healthy is healthy, result.error
        assert result.required
        assert password not in (result.url or "")
        if healthy:
            assert (result.version or "").startswith("5.")
