from __future__ import annotations

from daert.health import Target, mask_url, probe
from daert.services.supervisor import free_port


def test_mask_url_hides_only_the_password() -> None:
    assert mask_url("redis://:s3cret@127.0.0.1:6379/0") == "redis://:***@127.0.0.1:6379/0"
    assert mask_url("postgresql://postgres:pw@h:5432/db") == "postgresql://postgres:***@h:5432/db"
    assert mask_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"
    assert mask_url(None) is None


def test_not_running_says_how_to_start() -> None:
    result = probe(Target("redis", "Redis", "embedded", True, None, "run `daert up`"))
    assert not result.healthy
    assert result.error == "not running"
    assert result.hint == "run `daert up`"


def test_disabled_component_is_healthy_and_optional() -> None:
    result = probe(Target("model", "Model", "disabled", False, None, ""))
    assert result.healthy and not result.required


def test_refused_connection_is_reported_not_raised() -> None:
    port = free_port()
    for name, url in [
        ("postgres", f"postgresql://u:p@127.0.0.1:{port}/db"),
        ("redis", f"redis://127.0.0.1:{port}/0"),
        ("falkordb", f"redis://127.0.0.1:{port}/0"),
        ("model", f"http://127.0.0.1:{port}/v1"),
    ]:
        result = probe(Target(name, name, "external", True, url, "check the server"))
        assert not result.healthy, name
        assert result.error and result.hint == "check the server"
        assert result.latency_ms is not None
        assert "p@" not in (result.url or "")
