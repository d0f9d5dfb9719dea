from __future__ import annotations

from core.net import free_port
from daert.health import ProbeCache, Target, mask_url, probe
from tests.support.openai_double import OpenAIDouble


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


def _model(url: str, name: str | None = "tiny") -> Target:
    return Target("model", "Model", "external", True, url, "check DAERT_MODEL_URL", model=name)


def test_model_probe_proves_a_token_is_generated() -> None:
    with OpenAIDouble() as double:
        result = probe(_model(double.url, name=None))  # no name: the first one listed
    assert result.healthy, result.error
    assert result.details["generation"].startswith("ok: 1 token")
    [asked] = double.completions
    assert asked["model"] == "tiny" and asked["max_tokens"] == 1


def test_model_probe_fails_when_the_model_cannot_generate() -> None:
    for failure, expected in [
        ("error", "answered HTTP 500"),
        ("dies", "failed while generating"),
        ("unknown-model", "answered HTTP 404"),
    ]:
        with OpenAIDouble(generate=failure) as double:
            result = probe(_model(double.url))
        assert not result.healthy, failure
        assert result.error is not None and expected in result.error, result.error
        assert result.hint and result.hint != "check DAERT_MODEL_URL", failure  # not "is it up?"
        assert double.completions, "the models list alone must not pass"
    assert "DAERT_MODEL_NAME" in (result.hint or "")


def test_readiness_keeps_the_models_answer_briefly() -> None:
    now = [100.0]
    cache = ProbeCache(ttl=15, clock=lambda: now[0])
    with OpenAIDouble() as double:
        assert probe(_model(double.url), cache).healthy
        now[0] += 10
        again = probe(_model(double.url), cache)
        assert again.healthy and len(double.completions) == 1  # polled, not generated again
        assert "checked 10 s ago" in again.details["generation"]
        now[0] += 10
        double.generate = "error"
        assert not probe(_model(double.url), cache).healthy  # stale: asked again, and it fails
        assert len(double.completions) == 2
        double.generate = "ok"
        now[0] += 1
        assert not probe(_model(double.url), cache).healthy  # a failure is kept briefly too
        assert len(double.completions) == 2
    gone = probe(_model(double.url), cache)  # the server is gone: its cached answer with it
    assert not gone.healthy and gone.hint == "check DAERT_MODEL_URL"
