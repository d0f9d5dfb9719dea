from __future__ import annotations

from collections.abc import Iterator

from fastapi import FastAPI
from fastapi.testclient import TestClient

from core.net import free_port
from daert.app import create_app
from daert.health import Target
from daert.services.state import ExitReport, Supervision
from tests.support.openai_double import OpenAIDouble


def _targets() -> list[Target]:
    port = free_port()
    return [
        Target("redis", "Redis", "external", True, f"redis://127.0.0.1:{port}/0", "start Redis"),
        Target("model", "Model", "disabled", False, None, ""),
    ]


def _app(**kwargs: object) -> FastAPI:
    app = create_app(_targets, **kwargs)  # type: ignore[arg-type]

    @app.post("/echo")
    async def echo(body: dict[str, int]) -> dict[str, int]:
        return body

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    return app


def test_healthz() -> None:
    response = TestClient(_app()).get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_readyz_names_what_is_down() -> None:
    response = TestClient(_app()).get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["down"] == ["redis"]
    assert body["components"]["redis"]["hint"] == "start Redis"
    assert body["components"]["model"]["healthy"] is True


def test_errors_have_a_code_and_a_hint() -> None:
    client = TestClient(_app(), raise_server_exceptions=False)
    missing = client.get("/nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    invalid = client.post(
        "/echo", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert invalid.status_code == 422
    assert invalid.json()["error"]["code"] == "invalid_request"
    crash = client.get("/boom")
    assert crash.status_code == 500
    assert crash.json()["error"]["code"] == "internal_error"
    assert "secret internals" not in crash.text
    assert "Traceback" not in crash.text


def test_huge_body_is_refused_with_413() -> None:
    client = TestClient(_app(max_body_bytes=1024))
    declared = client.post(
        "/echo", content=b"x" * 4096, headers={"content-type": "application/json"}
    )
    assert declared.status_code == 413
    assert declared.json()["error"]["code"] == "payload_too_large"

    def chunks() -> Iterator[bytes]:
        for _ in range(8):
            yield b" " * 512

    streamed = client.post("/echo", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    ok = client.post("/echo", json={"a": 1})
    assert ok.status_code == 200 and ok.json() == {"a": 1}


def test_api_key_guards_everything_but_health() -> None:
    client = TestClient(_app(api_key="k" * 32))
    assert client.get("/healthz").status_code == 200
    denied = client.post("/echo", json={"a": 1})
    assert denied.status_code == 401
    assert denied.json()["error"]["code"] == "unauthorized"
    allowed = client.post("/echo", json={"a": 1}, headers={"Authorization": "Bearer " + "k" * 32})
    assert allowed.status_code == 200


def test_readyz_says_when_daert_gave_up_on_a_service() -> None:
    verdict = Supervision(
        name="model",
        state="failed",
        pid=4321,
        watcher_pid=1234,
        restarts=4,
        crashes=5,
        max_crashes=5,
        window_s=300,
        log_path="/data/logs/model.log",
        message="Local model crashed 5 times within 300 s (last: killed by SIGSEGV); "
        "daert stopped restarting it",
        hint="read /data/logs/model.log, fix the cause, then run `daert up`",
        last_exit=ExitReport(
            pid=4321, at=0.0, how="killed by SIGSEGV", signal="SIGSEGV", log_tail="secret"
        ),
    )

    def targets() -> list[Target]:
        return [Target("model", "Model", "embedded", True, None, "run `daert up`")]

    app = create_app(targets, supervision=lambda: {"model": verdict})
    response = TestClient(app).get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["down"] == ["model"]
    model = body["components"]["model"]
    assert model["error"] == verdict.message and model["hint"] == verdict.hint
    assert model["details"]["last_exit"].startswith("killed by SIGSEGV")
    assert body["services"]["model"]["last_exit"]["signal"] == "SIGSEGV"
    assert "secret" not in response.text  # /readyz is public: no log lines


def test_readyz_asks_the_model_again_after_a_restart() -> None:
    watched: dict[str, Supervision] = {}
    with OpenAIDouble() as double:

        def targets() -> list[Target]:
            return [Target("model", "Model", "embedded", True, double.url, "", model="tiny")]

        client = TestClient(create_app(targets, supervision=lambda: dict(watched)))
        assert client.get("/readyz").status_code == 200
        assert client.get("/readyz").status_code == 200
        assert len(double.completions) == 1  # the second poll used the kept answer
        watched["model"] = Supervision(
            name="model",
            state="running",
            pid=2,
            watcher_pid=1,
            restarts=1,
            crashes=1,
            max_crashes=5,
            window_s=300,
            log_path="/data/logs/model.log",
            message="restarted",
            hint="",
        )
        ready = client.get("/readyz")
    assert ready.status_code == 200
    assert len(double.completions) == 2  # a new process: the old answer proves nothing
    assert ready.json()["components"]["model"]["details"]["restarts"] == "1"


def test_a_dead_dependency_is_a_503_with_its_code_not_a_500() -> None:
    from psycopg_pool import PoolTimeout
    from redis.exceptions import ConnectionError as RedisConnectionError

    app = _app()

    @app.get("/needs-redis")
    async def needs_redis() -> None:
        raise RedisConnectionError("Error 111 connecting to 127.0.0.1:1")

    @app.get("/needs-postgres")
    async def needs_postgres() -> None:
        raise PoolTimeout("couldn't get a connection after 8.00 sec")

    client = TestClient(app, raise_server_exceptions=False)
    for path, code in (("/needs-redis", "redis_down"), ("/needs-postgres", "postgres_down")):
        response = client.get(path)
        assert response.status_code == 503
        assert response.json()["error"]["code"] == code
        assert response.headers["retry-after"] == "5"


def test_a_value_postgresql_refuses_is_a_400_not_a_500() -> None:
    from psycopg import DataError

    app = _app()

    @app.get("/lookup/{key}")
    async def lookup(key: str) -> None:
        raise DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")

    response = TestClient(app, raise_server_exceptions=False).get("/lookup/a%00b")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_value"
