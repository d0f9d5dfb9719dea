from __future__ import annotations

from collections.abc import Iterator

from fastapi import FastAPI
from fastapi.testclient import TestClient

from daert.app import create_app
from daert.health import Target
from daert.services.supervisor import free_port


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
